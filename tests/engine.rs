//! The engine's inbound path on both backends: stored before acknowledged,
//! redeliveries dropped, processing from the stored copy, agent actions
//! turned into case transitions with their card update queued, and
//! escalation: triggers opening routed cases, the unanswered timer, and
//! the previous agent named on a returning customer's card.

mod common;

use common::t0;
use handoff::cases::CaseState;
use handoff::clock::Clock;
use handoff::config::Config;
use handoff::engine::{Engine, Ingested};
use handoff::store::{AuthorKind, CaseOutcome, Store};
use handoff_core::{
    AgentAction, CaseAction, CaseId, CustomerIdentity, InboundEvent, InboundKind, OutboundCommand,
    Platform, PlatformUser,
};

on_both_backends!(
    a_redelivered_event_is_acknowledged_and_dropped,
    an_agent_click_claims_and_queues_the_card_update,
    a_customer_message_reopens_a_resolved_case,
    a_human_request_opens_a_routed_case_with_its_card,
    a_quiet_conversation_escalates_once_its_customer_has_waited,
    a_returning_customer_card_names_the_previous_agent,
);

fn engine<S: Store>(store: S) -> Engine<S> {
    common::engine_with(store, Clock::manual(t0()), &Config::default())
}

fn customer_says(id: &str, text: &str) -> InboundEvent {
    common::customer_in("session-1", id, text)
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
    let names: Vec<_> = outbox.iter().map(|r| r.item.command.name()).collect();
    // The stranger is told privately they are not an agent; one transition
    // (the card update and the customer's "Alice joined"); Alice's second
    // click is refused and she alone is told why.
    assert_eq!(
        names,
        ["ephemeral", "update_card", "send_to_customer", "ephemeral"]
    );
    let told = |i: usize| match &outbox[i].item.command {
        OutboundCommand::Ephemeral { user, content, .. } => (user.clone(), content.text.clone()),
        other => panic!("{other:?}"),
    };
    let (user, text) = told(0);
    assert_eq!(user, "U_STRANGER");
    assert!(text.contains("not set up as a handoff agent"), "{text}");
    assert!(matches!(
        outbox[1].item.command,
        OutboundCommand::UpdateCard { case: c, .. } if c == case
    ));
    let OutboundCommand::SendToCustomer { content, .. } = &outbox[2].item.command else {
        unreachable!()
    };
    assert_eq!(
        content.text,
        "Alice from our team has joined the conversation."
    );
    let (user, text) = told(3);
    assert_eq!(user, "U_ALICE");
    assert!(text.contains("alice already owns"), "{text}");
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
    // Resolved (card + customer told + asked to rate), reopened (card),
    // then the message goes to the card's thread.
    assert_eq!(
        commands,
        [
            "update_card",
            "send_to_customer",
            "send_to_customer",
            "update_card",
            "post_in_thread"
        ]
    );
    let messages = store.messages(stored.conversation).await.unwrap();
    assert_eq!(
        messages[0].case,
        Some(case),
        "the message joins the reopened case"
    );
}

/// The conversation of the test visitor in `session`.
async fn conversation_of<S: Store>(store: &S, session: &str) -> handoff_core::ConversationId {
    common::web_conversation(store, "visitor-1", session).await
}

async fn a_human_request_opens_a_routed_case_with_its_card<S: Store>(store: S) {
    let config: Config = Config::load(None, &Default::default()).unwrap();
    let mut config = config;
    config.routing = toml::from_str(
        "[[routes]]\nname = \"orders\"\nslack_channel = \"C_ORDERS\"\nwhen = { intents = [\"shipping\"] }\n",
    )
    .unwrap();
    let engine = common::engine_with(store.clone(), Clock::manual(t0()), &config);
    engine
        .ingest(&customer_says(
            "m-1",
            "where is my package? order 88123 was due last week",
        ))
        .await
        .unwrap();
    engine.process_pending().await.unwrap();
    let conv = conversation_of(&store, "session-1").await;
    assert!(
        store.latest_case(conv).await.unwrap().is_none(),
        "a question alone does not escalate"
    );

    engine
        .ingest(&customer_says("m-2", "can I talk to a real person please"))
        .await
        .unwrap();
    engine.process_pending().await.unwrap();
    let case = store.latest_case(conv).await.unwrap().expect("escalated");
    assert_eq!(case.state, CaseState::Open);
    assert_eq!(case.reason, "human_request");
    assert_eq!(case.urgency, handoff::cases::Urgency::High);
    assert_eq!(case.intent.as_deref(), Some("shipping"));
    assert_eq!(case.route, "orders");
    assert!(case.summary.contains("order 88123"), "{}", case.summary);
    let outbox = store.case_outbox(case.id).await.unwrap();
    assert_eq!(outbox.len(), 2, "the card and the customer's notice");
    assert_eq!(outbox[0].item.platform, Platform::Slack);
    let OutboundCommand::SendToCustomer { content, .. } = &outbox[1].item.command else {
        panic!("expected the notice, got {:?}", outbox[1].item.command);
    };
    assert!(content.text.starts_with("As you asked"), "{}", content.text);
    assert!(content.text.contains("won't need to repeat yourself"));
    let OutboundCommand::PostCard {
        channel, content, ..
    } = &outbox[0].item.command
    else {
        panic!("expected the card, got {:?}", outbox[0].item.command);
    };
    assert_eq!(channel, "C_ORDERS");
    let rich = content.rich.as_ref().unwrap();
    assert_eq!(rich["customer"], "Ada");
    assert_eq!(rich["reasons"][0]["reason"], "human_request");
    assert_eq!(rich["facts"][0], "order 88123");

    // Later messages join the case; no second case is opened.
    engine
        .ingest(&customer_says("m-3", "agent please!!"))
        .await
        .unwrap();
    engine.process_pending().await.unwrap();
    assert_eq!(store.latest_case(conv).await.unwrap().unwrap().id, case.id);
    let commands: Vec<_> = store
        .case_outbox(case.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.item.command.name())
        .collect();
    assert_eq!(
        commands,
        ["post_card", "send_to_customer", "post_in_thread"]
    );
}

async fn a_quiet_conversation_escalates_once_its_customer_has_waited<S: Store>(store: S) {
    let clock = Clock::manual(t0());
    let engine = common::engine_with(store.clone(), clock.clone(), &Config::default());
    engine
        .ingest(&customer_says("m-1", "is the shop open on sundays?"))
        .await
        .unwrap();
    engine.process_pending().await.unwrap();
    let conv = conversation_of(&store, "session-1").await;

    clock.advance(std::time::Duration::from_secs(9 * 60));
    assert_eq!(engine.sweep_unanswered().await.unwrap(), 0, "not yet");
    clock.advance(std::time::Duration::from_secs(2 * 60));
    assert_eq!(engine.sweep_unanswered().await.unwrap(), 1);
    let case = store.latest_case(conv).await.unwrap().unwrap();
    assert_eq!(case.reason, "unanswered");
    assert_eq!(
        engine.sweep_unanswered().await.unwrap(),
        0,
        "escalated once"
    );
}

async fn a_returning_customer_card_names_the_previous_agent<S: Store>(store: S) {
    let engine = engine(store.clone());
    engine
        .ingest(&common::customer_in("s-old", "m-1", "agent please"))
        .await
        .unwrap();
    engine.process_pending().await.unwrap();
    let first = store
        .latest_case(conversation_of(&store, "s-old").await)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.previous_owner, None);
    engine
        .ingest(&click(first.id, "U_ALICE", "a-1"))
        .await
        .unwrap();
    engine.process_pending().await.unwrap();
    engine
        .act(
            first.id,
            &handoff::cases::CaseCommand::Resolve {
                by: handoff::cases::Actor::System,
            },
        )
        .await
        .unwrap();

    engine
        .ingest(&common::customer_in("s-new", "m-2", "human!!"))
        .await
        .unwrap();
    engine.process_pending().await.unwrap();
    let second = store
        .latest_case(conversation_of(&store, "s-new").await)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(
        second.previous_owner,
        Some(handoff_core::AgentId::new("alice"))
    );
}
