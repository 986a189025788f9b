//! SLA timers on both backends, with a hand-driven clock: an unclaimed case
//! is re-announced (the customer told they are still queued) and then
//! escalated to its route's target; a claim ends those timers and arms the
//! owner reminder, which fires once per wait and not after an answer.
//! Timers are rows: an engine started after they were armed fires them.

mod common;

use std::time::Duration;

use common::t0;
use handoff::cases::{CaseState, Urgency};
use handoff::clock::Clock;
use handoff::config::Config;
use handoff::engine::Engine;
use handoff::routing::Route;
use handoff::sla::{SlaPolicy, TimerKind};
use handoff::store::{AuthorKind, NewMessage, Store};
use handoff_core::{
    AgentAction, CaseAction, CaseId, InboundEvent, InboundKind, MessageId, OutboundCommand,
    Platform, PlatformUser,
};

on_both_backends!(
    an_unclaimed_case_is_reannounced_then_escalated_even_across_a_restart,
    a_claim_ends_the_queue_timers_and_the_owner_is_reminded_once_per_wait,
);

fn config() -> Config {
    let mut config = Config::default();
    let mut tier2 = Route::inbox_only("tier2");
    // A route that matches nothing on its own: it only receives escalations.
    tier2.when.sources = vec!["discord".into()];
    config.routing.routes = vec![tier2];
    config
        .sla
        .escalate_to
        .insert("support".into(), "tier2".into());
    config
}

fn engine<S: Store>(store: S, clock: Clock) -> Engine<S> {
    let config = config();
    common::engine_with(store, clock, &config).with_sla(SlaPolicy::new(&config.sla))
}

fn customer_says(id: &str, text: &str) -> InboundEvent {
    common::customer_in("session-1", id, text)
}

/// Escalates a new conversation; returns its case.
async fn escalated<S: Store>(engine: &Engine<S>, store: &S) -> CaseId {
    engine
        .ingest(&customer_says("m-1", "can I talk to a real person please"))
        .await
        .unwrap();
    engine.process_pending().await.unwrap();
    let conv = common::web_conversation(store, "visitor-1", "session-1").await;
    store
        .latest_case(conv)
        .await
        .unwrap()
        .expect("escalated")
        .id
}

/// The texts of a case's queued commands of one kind.
async fn texts<S: Store>(store: &S, case: CaseId, kind: &str) -> Vec<String> {
    store
        .case_outbox(case)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.item.command.name() == kind)
        .filter_map(|r| match r.item.command {
            OutboundCommand::PostInThread { content, .. }
            | OutboundCommand::SendToCustomer { content, .. } => Some(content.text),
            _ => None,
        })
        .collect()
}

async fn an_unclaimed_case_is_reannounced_then_escalated_even_across_a_restart<S: Store>(store: S) {
    let clock = Clock::manual(t0());
    let first = engine(store.clone(), clock.clone());
    let case = escalated(&first, &store).await;
    let armed = store.case_timers(case).await.unwrap();
    assert_eq!(
        armed.iter().map(|t| t.timer.kind).collect::<Vec<_>>(),
        [TimerKind::Reannounce, TimerKind::Escalate]
    );
    assert_eq!(first.fire_due_timers().await.unwrap(), 0, "nothing due yet");
    drop(first);

    // A new process (same database) picks the timers up.
    clock.advance(Duration::from_secs(11 * 60));
    let second = engine(store.clone(), clock.clone());
    assert_eq!(second.fire_due_timers().await.unwrap(), 1);
    let team = texts(&store, case, "post_in_thread").await;
    assert_eq!(team.len(), 1, "{team:?}");
    assert!(
        team[0].starts_with("Still waiting for an agent after 11 min"),
        "{team:?}"
    );
    let customer = texts(&store, case, "send_to_customer").await;
    assert!(
        customer
            .iter()
            .any(|t| t.starts_with("You're still in the queue")),
        "{customer:?}"
    );
    assert_eq!(second.fire_due_timers().await.unwrap(), 0, "fired once");

    clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(second.fire_due_timers().await.unwrap(), 1);
    let moved = store.case(case).await.unwrap().unwrap();
    assert_eq!(moved.route, "tier2");
    assert_eq!(moved.state, CaseState::Open);
    assert!(moved.urgency >= Urgency::High);
    assert_eq!(moved.details.escalated_from.as_deref(), Some("support"));
    let team = texts(&store, case, "post_in_thread").await;
    assert!(
        team.iter().any(
            |t| t == "Nobody claimed this case in time: it moved from support to tier2 (high)."
        ),
        "{team:?}"
    );
    let outcomes: Vec<_> = store
        .case_timers(case)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.outcome.unwrap_or_default())
        .collect();
    assert_eq!(outcomes, ["reannounced", "escalated to tier2"]);
    let events: Vec<_> = store
        .case_events(case)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(events, ["opened", "escalated"]);
}

async fn a_claim_ends_the_queue_timers_and_the_owner_is_reminded_once_per_wait<S: Store>(store: S) {
    let clock = Clock::manual(t0());
    let engine = engine(store.clone(), clock.clone());
    let case = escalated(&engine, &store).await;
    clock.advance(Duration::from_secs(60));
    engine
        .ingest(&InboundEvent {
            platform: Platform::Slack,
            event_id: "claim-1".into(),
            received_at: clock.now(),
            kind: InboundKind::AgentAction(AgentAction {
                case,
                actor: PlatformUser {
                    user_id: "U_ALICE".into(),
                    display_name: None,
                },
                action: CaseAction::Claim,
            }),
        })
        .await
        .unwrap();
    engine.process_pending().await.unwrap();
    let timers = store.case_timers(case).await.unwrap();
    let state: Vec<_> = timers
        .iter()
        .map(|t| (t.timer.kind, t.outcome.clone()))
        .collect();
    assert_eq!(
        state,
        [
            (TimerKind::Reannounce, Some("superseded".to_owned())),
            (TimerKind::Escalate, Some("superseded".to_owned())),
            (TimerKind::RemindOwner, None),
        ]
    );

    // The customer writes twice more while waiting for Alice.
    clock.advance(Duration::from_secs(60));
    for (id, text) in [("m-2", "hello?"), ("m-3", "anyone there?")] {
        engine.ingest(&customer_says(id, text)).await.unwrap();
    }
    engine.process_pending().await.unwrap();
    clock.advance(Duration::from_secs(40 * 60));
    assert_eq!(engine.fire_due_timers().await.unwrap(), 3);
    let reminders = texts(&store, case, "post_in_thread")
        .await
        .into_iter()
        .filter(|t| t.starts_with("Alice,"))
        .collect::<Vec<_>>();
    assert_eq!(
        reminders,
        ["Alice, the customer has been waiting 42 min for an answer."],
        "one reminder for one wait"
    );

    // Alice answers; the customer's next message starts a new wait, and an
    // answer before its timer means no reminder.
    let conv = store.case(case).await.unwrap().unwrap().conversation;
    store
        .add_message(
            &NewMessage {
                id: MessageId::new(),
                conversation: conv,
                case: Some(case),
                author: AuthorKind::Agent,
                author_id: Some("alice".into()),
                body: "Here now, sorry!".into(),
                internal_note: false,
                platform: Platform::Slack,
                platform_message_id: Some("reply-1".into()),
                created_at: clock.now(),
            },
            &[],
            &[],
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(60));
    engine
        .ingest(&customer_says("m-4", "thanks, one more thing"))
        .await
        .unwrap();
    engine.process_pending().await.unwrap();
    clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(engine.fire_due_timers().await.unwrap(), 1);
    let reminders = texts(&store, case, "post_in_thread")
        .await
        .into_iter()
        .filter(|t| t.starts_with("Alice,"))
        .count();
    assert_eq!(reminders, 2, "the new wait reminded once");
    let last = store.case_timers(case).await.unwrap();
    assert_eq!(
        last.last().unwrap().outcome.as_deref(),
        Some("reminded alice")
    );
}
