//! SLA timers: what a case waiting too long sets off. Pure: which timers a
//! change arms, and what a due timer does given the case as it is now.
//!
//! Timers are rows written in the same transaction as the change that arms
//! them, so they survive restarts; a change of state or owner marks the
//! case's pending timers done in that transaction too. A due timer is
//! therefore judged on the case as it is when it fires, never on what it
//! was when it was armed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use handoff_core::{AgentId, CaseId, MessageId};

use crate::cases::{Case, CaseEventKind, CaseState, Transition};
use crate::config::SlaConfig;

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerKind {
    /// Nobody claimed the case: say so again in its thread, and tell the
    /// customer they are still in the queue.
    Reannounce,
    /// Nobody claimed the case: move it to the escalation route.
    Escalate,
    /// The owner has not answered the customer.
    RemindOwner,
}

impl TimerKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Reannounce => "reannounce",
            TimerKind::Escalate => "escalate",
            TimerKind::RemindOwner => "remind_owner",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            TimerKind::Reannounce,
            TimerKind::Escalate,
            TimerKind::RemindOwner,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A timer to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimer {
    /// The case it watches.
    pub case: CaseId,
    /// What it does.
    pub kind: TimerKind,
    /// The customer message it watches (owner reminders armed by a message).
    pub message: Option<MessageId>,
    /// When it fires.
    pub due_at: DateTime<Utc>,
    /// Unique per arming, so re-running the arming change stores it once.
    pub key: String,
}

/// A stored timer that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// Row id.
    pub id: i64,
    /// The case.
    pub case: CaseId,
    /// What it does.
    pub kind: TimerKind,
    /// The customer message it watches, if any.
    pub message: Option<MessageId>,
    /// When it was due.
    pub due_at: DateTime<Utc>,
    /// When it was armed.
    pub created_at: DateTime<Utc>,
}

/// The timers in force, from `[sla]` and the routes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlaPolicy {
    reannounce: Option<chrono::Duration>,
    escalate: Option<chrono::Duration>,
    remind_owner: Option<chrono::Duration>,
    escalate_to: BTreeMap<String, String>,
}

impl SlaPolicy {
    /// From the config.
    pub fn new(config: &SlaConfig) -> Self {
        Self {
            reannounce: config.reannounce(),
            escalate: config.escalate(),
            remind_owner: config.remind_owner(),
            escalate_to: config.escalate_to.clone(),
        }
    }

    /// The route an unclaimed case of `route` moves to (itself when none
    /// is configured: it then only becomes more urgent).
    pub fn escalation_route<'a>(&'a self, route: &'a str) -> &'a str {
        self.escalate_to.get(route).map_or(route, String::as_str)
    }

    /// The re-announce delay, for the notice wording.
    pub fn reannounce_after(&self) -> Option<chrono::Duration> {
        self.reannounce
    }

    /// The reminder delay, for the reminder wording.
    pub fn remind_after(&self) -> Option<chrono::Duration> {
        self.remind_owner
    }

    /// Timers a case starts waiting with (opened, reopened, released).
    pub fn arm_waiting(&self, case: &Case, now: DateTime<Utc>) -> Vec<NewTimer> {
        [
            (TimerKind::Reannounce, self.reannounce),
            (TimerKind::Escalate, self.escalate),
        ]
        .into_iter()
        .filter_map(|(kind, after)| {
            Some(NewTimer {
                case: case.id,
                kind,
                message: None,
                due_at: now + after?,
                key: format!("{}:{}:v{}", case.id, kind.as_str(), case.version),
            })
        })
        .collect()
    }

    /// The owner reminder armed when a case is taken (the customer is
    /// waiting for that agent's first word) or when the customer writes on
    /// a claimed case (`message`).
    pub fn arm_reply_due(
        &self,
        case: &Case,
        message: Option<MessageId>,
        now: DateTime<Utc>,
    ) -> Vec<NewTimer> {
        let (Some(after), CaseState::Claimed { .. }) = (self.remind_owner, &case.state) else {
            return Vec::new();
        };
        let kind = TimerKind::RemindOwner;
        let key = match message {
            Some(m) => format!("{}:{}:{m}", case.id, kind.as_str()),
            None => format!("{}:{}:v{}", case.id, kind.as_str(), case.version),
        };
        vec![NewTimer {
            case: case.id,
            kind,
            message,
            due_at: now + after,
            key,
        }]
    }

    /// The timers a transition arms, given the case after it.
    pub fn arm_for(&self, t: &Transition) -> Vec<NewTimer> {
        match &t.event {
            CaseEventKind::Reopened | CaseEventKind::Released { .. } => {
                self.arm_waiting(&t.after, t.at)
            }
            CaseEventKind::Claimed { .. } | CaseEventKind::Reassigned { .. } => {
                self.arm_reply_due(&t.after, None, t.at)
            }
            _ => Vec::new(),
        }
    }
}

/// Whether a transition ends the timers armed before it: a change of state
/// or owner makes them about a situation that is over.
pub fn supersedes(t: &Transition) -> bool {
    t.before.state != t.after.state
}

/// The oldest customer message no agent has answered yet (a reply that
/// reached the customer, not a note), with when it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unanswered {
    /// The message.
    pub message: MessageId,
    /// When it arrived.
    pub at: DateTime<Utc>,
}

/// What a due timer does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Announce the waiting case again, tell the customer.
    Reannounce,
    /// Move the case to `route`.
    Escalate {
        /// Where to.
        route: String,
    },
    /// Remind `owner` that the customer has waited since `since`.
    RemindOwner {
        /// The owner.
        owner: AgentId,
        /// When the oldest unanswered message came.
        since: DateTime<Utc>,
    },
    /// Nothing to do any more, and why (for the timer's row).
    Nothing(&'static str),
}

/// What `timer` does on `case` as it is now.
pub fn decide(
    policy: &SlaPolicy,
    timer: &Timer,
    case: &Case,
    unanswered: Option<Unanswered>,
) -> Due {
    match (timer.kind, &case.state) {
        (TimerKind::Reannounce, CaseState::Open) => Due::Reannounce,
        (TimerKind::Escalate, CaseState::Open) => Due::Escalate {
            route: policy.escalation_route(&case.route).to_owned(),
        },
        (TimerKind::Reannounce | TimerKind::Escalate, _) => Due::Nothing("the case was taken"),
        (TimerKind::RemindOwner, CaseState::Claimed { by }) => {
            let Some(u) = unanswered else {
                return Due::Nothing("the customer was answered");
            };
            // One reminder per wait: the timer of the oldest unanswered
            // message, or the claim's timer when that message was already
            // there at the claim. Later messages' timers stand down.
            let mine = match timer.message {
                Some(m) => m == u.message,
                None => u.at <= timer.created_at,
            };
            if mine {
                Due::RemindOwner {
                    owner: by.clone(),
                    since: u.at,
                }
            } else {
                Due::Nothing("another reminder covers this wait")
            }
        }
        (TimerKind::RemindOwner, _) => Due::Nothing("the case has no owner"),
    }
}

/// The oldest customer message after the last agent reply that reached the
/// customer. `messages` are in order: (author is customer, is an agent's
/// public reply, id, time).
pub fn oldest_unanswered<I>(messages: I) -> Option<Unanswered>
where
    I: IntoIterator<Item = (bool, bool, MessageId, DateTime<Utc>)>,
{
    let mut oldest = None;
    for (customer, agent_reply, id, at) in messages {
        if agent_reply {
            oldest = None;
        } else if customer && oldest.is_none() {
            oldest = Some(Unanswered { message: id, at });
        }
    }
    oldest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::{CaseCommand, apply};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn policy() -> SlaPolicy {
        let mut config = SlaConfig {
            reannounce_after_minutes: 10,
            escalate_after_minutes: 30,
            remind_owner_after_minutes: 15,
            ..SlaConfig::default()
        };
        config.escalate_to.insert("support".into(), "tier2".into());
        SlaPolicy::new(&config)
    }

    fn case(state: CaseState) -> Case {
        crate::cases::sample(state, t(0))
    }

    fn timer(kind: TimerKind, message: Option<MessageId>, created: i64) -> Timer {
        Timer {
            id: 1,
            case: CaseId::new(),
            kind,
            message,
            due_at: t(created + 900),
            created_at: t(created),
        }
    }

    #[test]
    fn a_waiting_case_is_reannounced_then_escalated_to_its_route_target() {
        let p = policy();
        let open = case(CaseState::Open);
        let armed = p.arm_waiting(&open, t(0));
        assert_eq!(
            armed.iter().map(|x| (x.kind, x.due_at)).collect::<Vec<_>>(),
            [
                (TimerKind::Reannounce, t(600)),
                (TimerKind::Escalate, t(1800))
            ]
        );
        assert_ne!(armed[0].key, armed[1].key);
        assert_eq!(
            decide(&p, &timer(TimerKind::Reannounce, None, 0), &open, None),
            Due::Reannounce
        );
        assert_eq!(
            decide(&p, &timer(TimerKind::Escalate, None, 0), &open, None),
            Due::Escalate {
                route: "tier2".into()
            }
        );
        let mut other = open.clone();
        other.route = "billing".into();
        assert_eq!(
            decide(&p, &timer(TimerKind::Escalate, None, 0), &other, None),
            Due::Escalate {
                route: "billing".into()
            }
        );
        let taken = case(CaseState::Claimed {
            by: AgentId::new("alice"),
        });
        assert!(matches!(
            decide(&p, &timer(TimerKind::Escalate, None, 0), &taken, None),
            Due::Nothing(_)
        ));
    }

    #[test]
    fn zero_minutes_turns_a_timer_off() {
        let p = SlaPolicy::new(&SlaConfig {
            reannounce_after_minutes: 0,
            escalate_after_minutes: 0,
            remind_owner_after_minutes: 0,
            ..SlaConfig::default()
        });
        let claimed = case(CaseState::Claimed {
            by: AgentId::new("a"),
        });
        assert!(p.arm_waiting(&case(CaseState::Open), t(0)).is_empty());
        assert!(p.arm_reply_due(&claimed, None, t(0)).is_empty());
    }

    #[test]
    fn claims_arm_a_reminder_and_state_changes_supersede_timers() {
        let p = policy();
        let open = case(CaseState::Open);
        let claim = apply(
            &open,
            &CaseCommand::Claim {
                agent: AgentId::new("alice"),
            },
            t(5),
        )
        .unwrap();
        let armed = p.arm_for(&claim);
        assert_eq!(armed.len(), 1);
        assert_eq!(armed[0].kind, TimerKind::RemindOwner);
        assert_eq!(armed[0].due_at, t(5 + 900));
        assert!(supersedes(&claim));
        let release = apply(
            &claim.after,
            &CaseCommand::Release {
                agent: AgentId::new("alice"),
            },
            t(9),
        )
        .unwrap();
        assert_eq!(p.arm_for(&release).len(), 2);
        let correct = apply(
            &claim.after,
            &CaseCommand::CorrectIntent {
                by: AgentId::new("alice"),
                intent: "refund".into(),
            },
            t(9),
        )
        .unwrap();
        assert!(!supersedes(&correct), "a correction keeps the reminder");
        assert!(p.arm_for(&correct).is_empty());
    }

    #[test]
    fn one_reminder_per_wait_and_none_once_answered() {
        let p = policy();
        let owner = AgentId::new("alice");
        let claimed = case(CaseState::Claimed { by: owner.clone() });
        let (m1, m2, reply) = (MessageId::new(), MessageId::new(), MessageId::new());
        let history = vec![
            (true, false, m1, t(10)),
            (true, false, m2, t(20)),
            (false, false, MessageId::new(), t(25)), // an internal note
        ];
        let waiting = oldest_unanswered(history.clone());
        assert_eq!(waiting.map(|u| u.message), Some(m1));
        let remind = Due::RemindOwner {
            owner: owner.clone(),
            since: t(10),
        };
        // A reminder timer armed at `armed` for `message` (None: by the claim).
        let fire = |message, armed, waiting| {
            decide(
                &p,
                &timer(TimerKind::RemindOwner, message, armed),
                &claimed,
                waiting,
            )
        };
        assert_eq!(fire(Some(m1), 10, waiting), remind);
        assert!(matches!(fire(Some(m2), 20, waiting), Due::Nothing(_)));
        // The claim's timer covers a message that was there at the claim.
        assert_eq!(fire(None, 15, waiting), remind);
        assert!(matches!(fire(None, 5, waiting), Due::Nothing(_)));
        let mut answered = history;
        answered.push((false, true, reply, t(30)));
        assert_eq!(oldest_unanswered(answered.clone()), None);
        assert!(matches!(fire(Some(m1), 10, None), Due::Nothing(_)));
        let m3 = MessageId::new();
        answered.push((true, false, m3, t(40)));
        assert_eq!(oldest_unanswered(answered).map(|u| u.message), Some(m3));
    }
}
