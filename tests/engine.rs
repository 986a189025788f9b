//! The engine's inbound path on both backends: stored before acknowledged,
//! redeliveries dropped, processing from the stored copy, agent actions
//! turned into case transitions with their card update queued.

mod common;

use std::sync::Arc;

use common::t0;
use handoff::cases::CaseState;
use handoff::clock::Clock;
use handoff::config::AgentConfig;
use handoff::engine::{AgentDirectory, Engine, Ingested};
use handoff::metrics::Metrics;
use handoff::store::{AuthorKind, CaseOutcome, Store};
use handoff_core::{
    AgentAction, CaseAction, CaseId, CustomerIdentity, CustomerMessage, InboundEvent, InboundKind,
    OutboundCommand, Platform, PlatformUser,
};
use tokio::sync::Notify;

on_both_backends!(
    a_redelivered_event_is_acknowledged_and_dropped,
    an_agent_click_claims_and_queues_the_card_update,
    a_customer_message_reopens_a_resolved_case,
);

fn engine<S: Store>(store: S) -> Engine<S> {
    let agents = AgentDirectory::new(&[AgentConfig {
        id: "alice".into(),
        name: "Alice".into(),
        slack_user: Some("U_ALICE".into()),
        teams_user: None,
        inbox_login: None,
    }]);
    Engine::new(
        store,
        Clock::manual(t0()),
        Arc::new(Metrics::default()),
        agents,
        Arc::new(Notify::new()),
    )
}

fn customer_says(id: &str, text: &str) -> InboundEvent {
    InboundEvent {
        platform: Platform::Webchat,
        event_id: id.into(),
        received_at: t0(),
        kind: InboundKind::CustomerMessage(CustomerMessage {
            customer: CustomerIdentity {
                external_id: "visitor-1".into(),
                display_name: Some("Ada".into()),
                ..Default::default()
            },
            conversation: "session-1".into(),
            text: text.into(),
            platform_message_id: Some(id.into()),
            attachments: vec![],
        }),
    }
}

fn click(case: CaseId, user: &str, event_id: &str) -> InboundEvent {
    InboundEvent {
        platform: Platform::Slack,
        event_id: event_id.into(),
        received_at: t0(),
        kind: InboundKind::AgentAction(AgentAction {
            case,
            actor: PlatformUser {
                user_id: user.into(),
                display_name: None,
            },
            action: CaseAction::Claim,
        }),
    }
}

async fn a_redelivered_event_is_acknowledged_and_dropped<S: Store>(store: S) {
    let engine = engine(store.clone());
    let ev = customer_says("m-1", "hello?");
    assert_eq!(engine.ingest(&ev).await.unwrap(), Ingested::Accepted);
    assert_eq!(engine.ingest(&ev).await.unwrap(), Ingested::Duplicate);
    assert_eq!(engine.process_pending().await.unwrap(), 1);
    assert_eq!(engine.ingest(&ev).await.unwrap(), Ingested::Duplicate);
    assert_eq!(engine.process_pending().await.unwrap(), 0);

    let customer = store
        .upsert_customer(
            Platform::Webchat,
            &CustomerIdentity {
                external_id: "visitor-1".into(),
                ..Default::default()
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(customer.display_name.as_deref(), Some("Ada"));
    let conv = store
        .conversation(customer.id, Platform::Webchat, "session-1", t0())
        .await
        .unwrap();
    let messages = store.messages(conv.id).await.unwrap();
    assert_eq!(messages.len(), 1, "stored once");
    assert_eq!(messages[0].author, AuthorKind::Customer);
    assert_eq!(messages[0].body, "hello?");
}

async fn an_agent_click_claims_and_queues_the_card_update<S: Store>(store: S) {
    let engine = engine(store.clone());
    let case = common::open_web_case(&store, "session-1").await;
    engine
        .ingest(&click(case, "U_STRANGER", "a-0"))
        .await
        .unwrap();
    engine.ingest(&click(case, "U_ALICE", "a-1")).await.unwrap();
    engine.ingest(&click(case, "U_ALICE", "a-2")).await.unwrap();
    assert_eq!(engine.process_pending().await.unwrap(), 3);

    let stored = store.case(case).await.unwrap().unwrap();
    assert_eq!(
        stored.state,
        CaseState::Claimed {
            by: handoff_core::AgentId::new("alice")
        }
    );
    let outbox = store.case_outbox(case).await.unwrap();
    assert_eq!(outbox.len(), 1, "one transition, one card update");
    assert!(matches!(
        outbox[0].item.command,
        OutboundCommand::UpdateCard { case: c, .. } if c == case
    ));
    // The stranger and the second click were handled, not retried forever.
    assert!(store.pending_inbound(10).await.unwrap().is_empty());
    assert_eq!(
        engine
            .act(
                case,
                &handoff::cases::CaseCommand::Claim {
                    agent: handoff_core::AgentId::new("bob")
                }
            )
            .await
            .unwrap(),
        CaseOutcome::Refused(
            handoff::cases::TransitionError::AlreadyClaimed {
                by: handoff_core::AgentId::new("alice")
            },
            Box::new(stored)
        )
    );
}

async fn a_customer_message_reopens_a_resolved_case<S: Store>(store: S) {
    let engine = engine(store.clone());
    let case = common::open_web_case(&store, "session-1").await;
    engine
        .act(
            case,
            &handoff::cases::CaseCommand::Resolve {
                by: handoff::cases::Actor::System,
            },
        )
        .await
        .unwrap();
    engine
        .ingest(&customer_says("m-2", "it broke again"))
        .await
        .unwrap();
    engine.process_pending().await.unwrap();

    let stored = store.case(case).await.unwrap().unwrap();
    assert_eq!(stored.state, CaseState::Open);
    assert_eq!(stored.reopen_count, 1);
    let commands: Vec<_> = store
        .case_outbox(case)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.item.command.name())
        .collect();
    assert_eq!(commands, ["update_card", "update_card", "post_in_thread"]);
    let messages = store.messages(stored.conversation).await.unwrap();
    assert_eq!(
        messages[0].case,
        Some(case),
        "the message joins the reopened case"
    );
}
