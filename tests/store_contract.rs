//! The store contract: every `Store` method, run against SQLite and a real
//! PostgreSQL. A backend is correct when it passes all of this.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{at, t0};
use handoff::cases::{Actor, Case, CaseCommand, CaseState, TransitionError, Urgency};
use handoff::store::{
    self, AuthorKind, CaseOutcome, Completion, InboundProgress, InboundRecord, NewCase, NewMessage,
    NewOutbox, OutboxDepth, OutboxState, Store,
};
use handoff_core::{
    AgentId, CaseId, Content, ConversationId, CustomerIdentity, CustomerMessage, InboundEvent,
    InboundKind, MessageId, MessageRef, OutboundCommand, Platform,
};

on_both_backends!(
    migrations_apply_twice_and_leave_the_store_ready,
    an_inbound_event_is_stored_once_per_platform_event_id,
    customers_are_upserted_and_conversations_found_again,
    messages_are_stored_once_with_their_outbox_rows,
    a_case_opens_with_its_history_and_commands,
    a_transition_commits_only_at_the_version_it_read,
    of_fifty_concurrent_claims_exactly_one_wins,
    the_outbox_delivers_in_order_per_key_under_leases,
    retries_wait_their_turn_and_dead_commands_show_on_the_case,
    deliveries_store_the_platform_reference_back,
    the_same_idempotency_key_is_queued_once,
    concurrent_workers_never_take_the_same_row,
    one_holder_per_lease_and_conversations_found_by_key,
    learned_settings_are_replaced_and_generated_ones_kept,
);

fn customer_event(event_id: &str, platform: Platform) -> InboundEvent {
    InboundEvent {
        platform,
        event_id: event_id.into(),
        received_at: t0(),
        kind: InboundKind::CustomerMessage(CustomerMessage {
            customer: CustomerIdentity {
                external_id: "user-1".into(),
                ..Default::default()
            },
            conversation: "conv-1".into(),
            text: "where is my order?".into(),
            platform_message_id: Some(event_id.into()),
            attachments: vec![],
            open_thread: None,
        }),
    }
}

async fn conversation<S: Store>(store: &S, key: &str) -> ConversationId {
    common::web_conversation(store, &format!("visitor-{key}"), key).await
}

fn new_case(conversation: ConversationId) -> NewCase {
    NewCase {
        reasons: vec!["human_requested".into(), "negative_sentiment".into()],
        urgency: Urgency::High,
        intent: Some("refund".into()),
        sentiment: Some(-0.6),
        summary: "Wants a refund for order 123.".into(),
        route: "billing".into(),
        previous_owner: Some(AgentId::new("carol")),
        ..common::sample_case(conversation)
    }
}

async fn open_case<S: Store>(store: &S) -> Case {
    let conv = conversation(store, &uuid::Uuid::new_v4().to_string()).await;
    store.open_case(&new_case(conv), &[], &[]).await.unwrap()
}

fn command(key: &str, n: usize) -> NewOutbox {
    NewOutbox {
        platform: Platform::Slack,
        ordering_key: key.into(),
        case: None,
        idempotency_key: format!("{key}-{n}"),
        command: OutboundCommand::Ephemeral {
            channel: "C1".into(),
            user: "U1".into(),
            content: Content::text(format!("{key} #{n}")),
        },
    }
}

fn for_case(mut cmd: NewOutbox, case: CaseId) -> NewOutbox {
    cmd.case = Some(case);
    cmd
}

async fn claim_ids<S: Store>(store: &S, worker: &str, now_secs: i64) -> Vec<String> {
    store
        .claim_outbox(worker, at(now_secs), at(now_secs + 60), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.idempotency_key)
        .collect()
}

async fn migrations_apply_twice_and_leave_the_store_ready<S: Store>(store: S) {
    store.migrate().await.unwrap();
    store.ready().await.unwrap();
}

async fn an_inbound_event_is_stored_once_per_platform_event_id<S: Store>(store: S) {
    let ev = customer_event("Ev1", Platform::Discord);
    let InboundRecord::Accepted { seq } = store.record_inbound(&ev).await.unwrap() else {
        panic!("first delivery must be accepted");
    };
    assert_eq!(
        store.record_inbound(&ev).await.unwrap(),
        InboundRecord::Duplicate
    );
    // The same id from another platform is another event.
    let other = customer_event("Ev1", Platform::Webchat);
    assert!(matches!(
        store.record_inbound(&other).await.unwrap(),
        InboundRecord::Accepted { .. }
    ));

    let progress = |id: &'static str, p: Platform| {
        let store = store.clone();
        async move { store.inbound_progress(p, id).await.unwrap() }
    };
    assert_eq!(
        progress("Ev1", Platform::Discord).await,
        Some(InboundProgress::Pending)
    );
    assert_eq!(progress("Ev2", Platform::Discord).await, None);

    let pending = store.pending_inbound(10).await.unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].seq, seq);
    assert_eq!(
        pending[0].event, ev,
        "the stored copy is the event as received"
    );

    store.finish_inbound(seq, at(1), None).await.unwrap();
    store
        .finish_inbound(pending[1].seq, at(1), Some("unknown agent"))
        .await
        .unwrap();
    assert!(store.pending_inbound(10).await.unwrap().is_empty());
    assert_eq!(
        progress("Ev1", Platform::Discord).await,
        Some(InboundProgress::Processed { problem: None })
    );
    assert_eq!(
        progress("Ev1", Platform::Webchat).await,
        Some(InboundProgress::Processed {
            problem: Some("unknown agent".into())
        })
    );
    // Still a duplicate after processing: retries days later are dropped too.
    assert_eq!(
        store.record_inbound(&ev).await.unwrap(),
        InboundRecord::Duplicate
    );
}

async fn customers_are_upserted_and_conversations_found_again<S: Store>(store: S) {
    let mut identity = CustomerIdentity {
        external_id: "42".into(),
        display_name: Some("Ada".into()),
        email: Some("ada@example.com".into()),
        ..Default::default()
    };
    identity.metadata.insert("plan".into(), "pro".into());
    let first = store
        .upsert_customer(Platform::Discord, &identity, t0())
        .await
        .unwrap();
    assert_eq!(first.display_name.as_deref(), Some("Ada"));
    assert_eq!(first.metadata["plan"], "pro");

    // Fewer fields later: what was known is kept.
    let later = CustomerIdentity {
        external_id: "42".into(),
        display_name: Some("Ada L.".into()),
        ..Default::default()
    };
    let second = store
        .upsert_customer(Platform::Discord, &later, at(5))
        .await
        .unwrap();
    assert_eq!(second.id, first.id);
    assert_eq!(second.display_name.as_deref(), Some("Ada L."));
    assert_eq!(second.email.as_deref(), Some("ada@example.com"));
    assert_eq!(second.metadata["plan"], "pro");

    // Same external id on another platform is another customer.
    let web = store
        .upsert_customer(Platform::Webchat, &later, at(5))
        .await
        .unwrap();
    assert_ne!(web.id, first.id);

    let c1 = store
        .conversation(first.id, Platform::Discord, "dm-42", t0())
        .await
        .unwrap();
    let c2 = store
        .conversation(first.id, Platform::Discord, "dm-42", at(9))
        .await
        .unwrap();
    assert_eq!(c1, c2);
    assert_eq!(c1.customer, first.id);
    assert_eq!(c1.external_ref, "dm-42");
}

async fn messages_are_stored_once_with_their_outbox_rows<S: Store>(store: S) {
    let case = open_case(&store).await;
    let msg = |id: &str, secs: i64| NewMessage {
        id: MessageId::new(),
        conversation: case.conversation,
        case: Some(case.id),
        author: AuthorKind::Customer,
        author_id: Some("visitor".into()),
        body: format!("message {id}"),
        internal_note: false,
        platform: Platform::Webchat,
        platform_message_id: Some(id.into()),
        created_at: at(secs),
    };
    let relay = for_case(command("relay", 1), case.id);
    let first = store
        .add_message(&msg("m1", 1), std::slice::from_ref(&relay), &[])
        .await
        .unwrap()
        .expect("new message is stored");
    assert_eq!(first.author, AuthorKind::Customer);
    assert_eq!(first.body, "message m1");

    // A redelivered platform message id stores nothing and queues nothing.
    let mut again = msg("m1", 2);
    again.body = "changed".into();
    assert!(
        store
            .add_message(&again, &[for_case(command("relay", 2), case.id)], &[])
            .await
            .unwrap()
            .is_none()
    );

    let mut note = msg("m2", 3);
    note.author = AuthorKind::Agent;
    note.author_id = Some("alice".into());
    note.internal_note = true;
    note.platform = Platform::Slack;
    store.add_message(&note, &[], &[]).await.unwrap().unwrap();

    let all = store.messages(case.conversation).await.unwrap();
    assert_eq!(
        all.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["message m1", "message m2"]
    );
    assert!(all[1].internal_note);
    assert_eq!(all[1].author, AuthorKind::Agent);

    let queued = store.case_outbox(case.id).await.unwrap();
    assert_eq!(queued.len(), 1, "only the first delivery queued a relay");
    assert_eq!(queued[0].item.idempotency_key, "relay-1");
}

async fn a_case_opens_with_its_history_and_commands<S: Store>(store: S) {
    let conv = conversation(&store, "c-open").await;
    let new = new_case(conv);
    let card = NewOutbox {
        platform: Platform::Slack,
        ordering_key: format!("card:{}", new.id),
        case: Some(new.id),
        idempotency_key: format!("case:{}:post", new.id),
        command: OutboundCommand::PostCard {
            case: new.id,
            channel: "C-billing".into(),
            content: Content::text("card"),
        },
    };
    let case = store
        .open_case(&new, std::slice::from_ref(&card), &[])
        .await
        .unwrap();
    assert_eq!(case.id, new.id);
    assert_eq!(case.state, CaseState::Open);
    assert_eq!(case.reasons, new.reasons);
    assert_eq!(case.urgency, Urgency::High);
    assert_eq!(case.intent.as_deref(), Some("refund"));
    assert_eq!(case.sentiment, Some(-0.6));
    assert_eq!(case.route, "billing");
    assert_eq!(case.previous_owner, Some(AgentId::new("carol")));
    assert_eq!(case.opened_at, t0());
    assert_eq!(case.card, None);
    assert_eq!(case.version, 0);

    assert_eq!(store.case(case.id).await.unwrap(), Some(case.clone()));
    assert_eq!(store.case(CaseId::new()).await.unwrap(), None);
    assert_eq!(store.latest_case(conv).await.unwrap(), Some(case.clone()));

    let events = store.case_events(case.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "opened");
    assert_eq!(events[0].actor, "system");
    assert_eq!(events[0].detail["route"], "billing");

    let outbox = store.case_outbox(case.id).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].state, OutboxState::Pending);
    assert_eq!(outbox[0].item.command, card.command);

    // A later case of the same conversation is the latest.
    let mut second = new_case(conv);
    second.opened_at = at(100);
    let second = store.open_case(&second, &[], &[]).await.unwrap();
    assert_eq!(
        store.latest_case(conv).await.unwrap().unwrap().id,
        second.id
    );
}

async fn a_transition_commits_only_at_the_version_it_read<S: Store>(store: S) {
    let case = open_case(&store).await;
    let claim = CaseCommand::Claim {
        agent: AgentId::new("alice"),
    };
    let t = handoff::cases::apply(&case, &claim, at(10)).unwrap();
    let update = for_case(command(&format!("card:{}", case.id), 1), case.id);
    assert!(
        store
            .commit_transition(&t, std::slice::from_ref(&update), &[])
            .await
            .unwrap()
    );
    // The same transition again is stale: nothing written, nothing queued.
    let stale_cmd = for_case(command(&format!("card:{}", case.id), 2), case.id);
    assert!(
        !store
            .commit_transition(&t, &[stale_cmd], &[])
            .await
            .unwrap()
    );

    let stored = store.case(case.id).await.unwrap().unwrap();
    assert_eq!(stored, t.after);
    assert_eq!(stored.claimed_at, Some(at(10)));
    assert_eq!(store.case_outbox(case.id).await.unwrap().len(), 1);

    // Every later transition is stored and logged too.
    let resolve = CaseCommand::Resolve {
        by: Actor::Agent(AgentId::new("alice")),
    };
    let CaseOutcome::Applied(t2) =
        store::apply_case_command(&store, case.id, &resolve, at(20), |_| (vec![], vec![]))
            .await
            .unwrap()
    else {
        panic!("resolve applies");
    };
    assert_eq!(t2.after.state, CaseState::Resolved);
    let CaseOutcome::Applied(t3) =
        store::apply_case_command(&store, case.id, &CaseCommand::Reopen, at(30), |_| {
            (vec![], vec![])
        })
        .await
        .unwrap()
    else {
        panic!("reopen applies");
    };
    assert_eq!(t3.after.reopen_count, 1);
    let stored = store.case(case.id).await.unwrap().unwrap();
    assert_eq!(stored.state, CaseState::Open);
    assert_eq!(stored.previous_owner, Some(AgentId::new("alice")));
    assert_eq!(stored.version, 3);

    let kinds: Vec<_> = store
        .case_events(case.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.actor))
        .collect();
    assert_eq!(
        kinds,
        [
            ("opened".to_owned(), "system".to_owned()),
            ("claimed".into(), "agent:alice".into()),
            ("resolved".into(), "agent:alice".into()),
            ("reopened".into(), "customer".into()),
        ]
    );

    assert_eq!(
        store::apply_case_command(&store, CaseId::new(), &claim, at(40), |_| (vec![], vec![]))
            .await
            .unwrap(),
        CaseOutcome::UnknownCase
    );
}

async fn of_fifty_concurrent_claims_exactly_one_wins<S: Store>(store: S) {
    let case = open_case(&store).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                let agent = AgentId::new(format!("agent-{i}"));
                barrier.wait().await;
                let cmd = CaseCommand::Claim {
                    agent: agent.clone(),
                };
                let outcome = store::apply_case_command(&store, case.id, &cmd, at(1), |t| {
                    (
                        vec![for_case(
                            command(&format!("card:{}", t.after.id), t.after.version as usize),
                            t.after.id,
                        )],
                        vec![],
                    )
                })
                .await
                .unwrap();
                (agent, outcome)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut told = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (agent, CaseOutcome::Applied(_)) => winners.push(agent),
            (_, CaseOutcome::Refused(TransitionError::AlreadyClaimed { by }, _)) => told.push(by),
            (agent, other) => panic!("{agent}: unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one claim wins");
    assert_eq!(told.len(), 49);
    assert!(
        told.iter().all(|by| *by == winners[0]),
        "every loser learns the owner"
    );
    let stored = store.case(case.id).await.unwrap().unwrap();
    assert_eq!(
        stored.state,
        CaseState::Claimed {
            by: winners[0].clone()
        }
    );
    assert_eq!(stored.version, 1);
    assert_eq!(
        store.case_outbox(case.id).await.unwrap().len(),
        1,
        "one card update"
    );
    let claims = store
        .case_events(case.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "claimed")
        .count();
    assert_eq!(claims, 1);
}

async fn the_outbox_delivers_in_order_per_key_under_leases<S: Store>(store: S) {
    let rows = [
        command("conv-a", 1),
        command("conv-a", 2),
        command("conv-b", 1),
        command("conv-a", 3),
    ];
    store.enqueue(&rows, t0()).await.unwrap();

    // Only the head of each key; the rest wait behind it.
    assert_eq!(claim_ids(&store, "w1", 0).await, ["conv-a-1", "conv-b-1"]);
    // Leased rows are not handed out again, and their followers still wait.
    assert!(claim_ids(&store, "w2", 1).await.is_empty());

    let taken = store
        .claim_outbox("w1", at(70), at(130), 100)
        .await
        .unwrap();
    assert_eq!(taken.len(), 2, "expired leases are taken again");
    let a1 = taken
        .iter()
        .find(|i| i.idempotency_key == "conv-a-1")
        .unwrap();
    assert_eq!(a1.attempts, 0);
    assert_eq!(a1.platform, Platform::Slack);
    store
        .outbox_delivered(a1.id, None, &Completion::Nothing, &[], at(71))
        .await
        .unwrap();
    assert_eq!(claim_ids(&store, "w1", 200).await, ["conv-a-2", "conv-b-1"]);
}

async fn retries_wait_their_turn_and_dead_commands_show_on_the_case<S: Store>(store: S) {
    let case = open_case(&store).await;
    let key = format!("card:{}", case.id);
    store
        .enqueue(
            &[
                for_case(command(&key, 1), case.id),
                for_case(command(&key, 2), case.id),
            ],
            t0(),
        )
        .await
        .unwrap();
    let head = store
        .claim_outbox("w", t0(), at(60), 10)
        .await
        .unwrap()
        .remove(0);
    store
        .outbox_retry(head.id, 1, at(30), "503 from platform")
        .await
        .unwrap();
    // Not due yet, and its follower must not overtake it.
    assert!(claim_ids(&store, "w", 29).await.is_empty());
    let again = store.claim_outbox("w", at(30), at(90), 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    let records = store.case_outbox(case.id).await.unwrap();
    assert_eq!(records[0].last_error.as_deref(), Some("503 from platform"));

    store
        .outbox_dead(
            again[0].id,
            2,
            "permanent failure: channel_not_found",
            &[],
            at(31),
        )
        .await
        .unwrap();
    let case_now = store.case(case.id).await.unwrap().unwrap();
    assert_eq!(
        case_now.last_delivery_error.as_deref(),
        Some("permanent failure: channel_not_found")
    );
    let failed = store
        .case_events(case.id)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "delivery_failed")
        .expect("the failure is in the case history");
    assert_eq!(
        failed.detail["reason"],
        "permanent failure: channel_not_found"
    );
    assert_eq!(failed.detail["outbox_id"], again[0].id);

    // The dead row no longer blocks its key.
    assert_eq!(claim_ids(&store, "w", 32).await, [format!("{key}-2")]);
    let records = store.case_outbox(case.id).await.unwrap();
    assert_eq!(records[0].state, OutboxState::Dead);
    assert_eq!(records[0].item.attempts, 2);
    assert_eq!(
        store.outbox_depth().await.unwrap(),
        [OutboxDepth {
            platform: Platform::Slack,
            pending: 1,
            dead: 1
        }]
    );
}

async fn deliveries_store_the_platform_reference_back<S: Store>(store: S) {
    let case = open_case(&store).await;
    let message = store
        .add_message(
            &NewMessage {
                id: MessageId::new(),
                conversation: case.conversation,
                case: Some(case.id),
                author: AuthorKind::Customer,
                author_id: None,
                body: "hello".into(),
                internal_note: false,
                platform: Platform::Webchat,
                platform_message_id: None,
                created_at: at(1),
            },
            &[],
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    store
        .enqueue(
            &[
                for_case(command("k1", 1), case.id),
                for_case(command("k2", 1), case.id),
            ],
            t0(),
        )
        .await
        .unwrap();
    let items = store.claim_outbox("w", at(2), at(60), 10).await.unwrap();
    let card = MessageRef::new(Platform::Slack, "C-billing", "1700000000.000100");
    let relayed = MessageRef::new(Platform::Slack, "C-billing", "1700000000.000200");
    store
        .outbox_delivered(
            items[0].id,
            Some(&card),
            &Completion::CardPosted { case: case.id },
            &[],
            at(3),
        )
        .await
        .unwrap();
    store
        .outbox_delivered(
            items[1].id,
            Some(&relayed),
            &Completion::MessageRelayed {
                message: message.id,
            },
            &[],
            at(3),
        )
        .await
        .unwrap();
    assert_eq!(
        store.case(case.id).await.unwrap().unwrap().card,
        Some(card.clone())
    );
    assert_eq!(
        store.case_by_card(&card).await.unwrap().map(|c| c.id),
        Some(case.id)
    );
    assert_eq!(store.case_by_card(&relayed).await.unwrap(), None);
    let stored = store.messages(case.conversation).await.unwrap();
    assert_eq!(stored[0].relayed, Some(relayed.clone()));
    let records = store.case_outbox(case.id).await.unwrap();
    assert!(records.iter().all(|r| r.state == OutboxState::Delivered));
    assert_eq!(records[0].reference, Some(card));
    assert_eq!(records[0].item.attempts, 1);
    assert!(store.outbox_depth().await.unwrap().is_empty());
}

async fn the_same_idempotency_key_is_queued_once<S: Store>(store: S) {
    let row = command("k", 1);
    store
        .enqueue(std::slice::from_ref(&row), t0())
        .await
        .unwrap();
    store
        .enqueue(std::slice::from_ref(&row), at(1))
        .await
        .unwrap();
    assert_eq!(claim_ids(&store, "w", 2).await, ["k-1"]);
    assert!(claim_ids(&store, "w", 3).await.is_empty());
}

async fn concurrent_workers_never_take_the_same_row<S: Store>(store: S) {
    let rows: Vec<_> = (0..200).map(|i| command(&format!("key-{i}"), i)).collect();
    store.enqueue(&rows, t0()).await.unwrap();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store
                        .claim_outbox(&format!("w{w}"), at(1), at(61), 7)
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|i| i.id));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for w in workers {
        for id in w.await.unwrap() {
            assert!(seen.insert(id), "row {id} was handed to two workers");
        }
    }
    assert_eq!(seen.len(), 200);
}

async fn one_holder_per_lease_and_conversations_found_by_key<S: Store>(store: S) {
    let mut first = store
        .lease("gateway")
        .await
        .unwrap()
        .expect("free at first");
    assert!(first.alive().await);
    match store.backend() {
        // Replicas share PostgreSQL: the lease is one holder's at a time,
        // and free again once dropped.
        "postgres" => {
            assert!(store.lease("gateway").await.unwrap().is_none());
            assert!(store.lease("other work").await.unwrap().is_some());
            first.release().await;
            assert!(store.lease("gateway").await.unwrap().is_some());
        }
        // SQLite serves one process: it always holds its own lease.
        _ => assert!(store.lease("gateway").await.unwrap().is_some()),
    }
    let id = conversation(&store, "dm-42").await;
    let found = store
        .conversation_by_ref(Platform::Webchat, "dm-42")
        .await
        .unwrap()
        .expect("found by its key");
    assert_eq!(found.id, id);
    assert!(
        store
            .conversation_by_ref(Platform::Discord, "dm-42")
            .await
            .unwrap()
            .is_none()
    );
}

async fn learned_settings_are_replaced_and_generated_ones_kept<S: Store>(store: S) {
    assert_eq!(store.get_setting("teams.service_url").await.unwrap(), None);
    store
        .put_setting("teams.service_url", "https://smba.example/amer/")
        .await
        .unwrap();
    store
        .put_setting("teams.service_url", "https://smba.example/emea/")
        .await
        .unwrap();
    assert_eq!(
        store.get_setting("teams.service_url").await.unwrap(),
        Some("https://smba.example/emea/".to_owned())
    );
    // A generated setting is stored once and read back by everyone after.
    assert_eq!(store.setting("key", "first").await.unwrap(), "first");
    assert_eq!(store.setting("key", "second").await.unwrap(), "first");
    assert_eq!(
        store.get_setting("key").await.unwrap(),
        Some("first".to_owned())
    );
}
