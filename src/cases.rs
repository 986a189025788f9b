//! The case state machine: pure transitions, no I/O.
//!
//! A case is `Open` (waiting for an agent), `Claimed { by }` or `Resolved`.
//! [`apply`] takes a case and a command and either returns the case as it
//! must become (with the event to log) or a [`TransitionError`] that says, in
//! terms an agent can be shown, why not. The store then writes the result
//! with a compare-and-set on [`Case::version`], so two agents (or two
//! replicas) acting at once cannot both win.

use chrono::{DateTime, Utc};
use handoff_core::{AgentId, CaseId, ConversationId, MessageRef};
use serde::{Deserialize, Serialize};

/// Where a case is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CaseState {
    /// Waiting for an agent.
    Open,
    /// One agent owns it and answers the customer.
    Claimed {
        /// The owner.
        by: AgentId,
    },
    /// Closed; a new customer message reopens it.
    Resolved,
}

impl CaseState {
    /// The name stored in the database and shown in logs.
    pub fn name(&self) -> &'static str {
        match self {
            CaseState::Open => "open",
            CaseState::Claimed { .. } => "claimed",
            CaseState::Resolved => "resolved",
        }
    }

    /// The owner, if claimed.
    pub fn owner(&self) -> Option<&AgentId> {
        match self {
            CaseState::Claimed { by } => Some(by),
            _ => None,
        }
    }
}

/// How soon a person must look at a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// Can wait for the normal queue.
    Low,
    /// The default.
    Normal,
    /// Ahead of the queue.
    High,
    /// Page someone (the route's mention).
    Urgent,
}

impl Urgency {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
            Urgency::Urgent => "urgent",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Urgency::Low,
            Urgency::Normal,
            Urgency::High,
            Urgency::Urgent,
        ]
        .into_iter()
        .find(|u| u.as_str() == s)
    }
}

/// Who did something to a case, for the event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A configured agent.
    Agent(AgentId),
    /// The customer (a new message reopening a case).
    Customer,
    /// handoff itself (timers, triggers, delivery failures).
    System,
}

impl Actor {
    /// The form stored in the event log: `agent:alice`, `customer`, `system`.
    pub fn label(&self) -> String {
        match self {
            Actor::Agent(a) => format!("agent:{a}"),
            Actor::Customer => "customer".to_owned(),
            Actor::System => "system".to_owned(),
        }
    }
}

/// One case as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Its id (also in card buttons and transcript links).
    pub id: CaseId,
    /// The conversation it escalates.
    pub conversation: ConversationId,
    /// Open, claimed or resolved.
    pub state: CaseState,
    /// Who owned it last, kept across release and resolve for "previous
    /// agent" routing and the card.
    pub previous_owner: Option<AgentId>,
    /// The first (main) escalation reason code.
    pub reason: String,
    /// Every reason that fired, main one first.
    pub reasons: Vec<String>,
    /// How soon someone must look.
    pub urgency: Urgency,
    /// Detected (or agent-corrected) intent.
    pub intent: Option<String>,
    /// Sentiment score in [-1, 1] at escalation.
    pub sentiment: Option<f64>,
    /// Summary shown on the card.
    pub summary: String,
    /// The route (team channel key) it was sent to.
    pub route: String,
    /// When it was opened (or last reopened).
    pub opened_at: DateTime<Utc>,
    /// When it was last claimed.
    pub claimed_at: Option<DateTime<Utc>>,
    /// When an agent's reply first reached the customer.
    pub first_agent_reply_at: Option<DateTime<Utc>>,
    /// When it was last resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// How often a customer message reopened it (a quality metric).
    pub reopen_count: i64,
    /// The posted handoff card, once the platform confirmed it.
    pub card: Option<MessageRef>,
    /// Why the last outbound command for this case was given up, if one was.
    pub last_delivery_error: Option<String>,
    /// Bumped on every transition; the compare-and-set token.
    pub version: i64,
    /// What the card shows besides the state: who the customer is, why
    /// it escalated, key facts. Fixed when the case opens.
    pub details: CaseDetails,
}

/// The card's display data that is not case state. Stored as JSON; every
/// field defaults so older rows still read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CaseDetails {
    /// The customer's display name.
    pub customer: Option<String>,
    /// The customer's email, when known.
    pub email: Option<String>,
    /// Whether the customer-side platform vouches for who they are.
    pub verified: bool,
    /// The customer's handle on their platform (`@nelly` on Discord).
    pub handle: Option<String>,
    /// An https URL of the customer's picture, when their platform has one.
    pub avatar: Option<String>,
    /// Where the customer writes (`webchat`, `discord`).
    pub source: Option<String>,
    /// Every trigger that fired, with what exactly fired.
    pub escalations: Vec<ReasonDetail>,
    /// The detected intent's confidence.
    pub intent_confidence: Option<f32>,
    /// The conversation's language.
    pub language: Option<String>,
    /// The route's mention for this urgency, if any.
    pub mention: Option<String>,
    /// Key facts (entities, redacted).
    pub facts: Vec<String>,
    /// What automation already tried.
    pub tried: Vec<String>,
    /// The customer's satisfaction rating (1-5), the latest given.
    pub csat: Option<u8>,
    /// The intent detected at escalation, when an agent corrected it.
    pub detected_intent: Option<String>,
    /// Set when an SLA timer moved the case to another route.
    pub escalated_from: Option<String>,
    /// The team-side platform the card goes to, so what is queued for the
    /// card before it is posted goes to the same place.
    pub team: Option<handoff_core::Platform>,
}

/// One escalation reason as the card shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonDetail {
    /// The reason code.
    pub reason: String,
    /// Its urgency.
    pub urgency: Urgency,
    /// What fired, for people.
    pub detail: String,
}

/// What someone asks of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum CaseCommand {
    /// `agent` takes ownership.
    Claim {
        /// Who claims.
        agent: AgentId,
    },
    /// The owner gives the case back to the queue.
    Release {
        /// Who releases (must be the owner).
        agent: AgentId,
    },
    /// Close the case.
    Resolve {
        /// Who resolves.
        by: Actor,
    },
    /// Give the case to `to`.
    Reassign {
        /// Who asks.
        by: AgentId,
        /// The new owner.
        to: AgentId,
    },
    /// A resolved case gets a new customer message.
    Reopen,
    /// Nobody claimed the case in time: move it to `route` (possibly the
    /// same one), at least `urgency`, with the route's mention.
    Escalate {
        /// The route it moves to.
        route: String,
        /// The least urgency it has from now on.
        urgency: Urgency,
        /// Who the card calls on now.
        mention: Option<String>,
    },
    /// An agent says the detected intent is wrong.
    CorrectIntent {
        /// Who corrects.
        by: AgentId,
        /// The right intent.
        intent: String,
    },
    /// The customer rates the help they got.
    Rate {
        /// 1 (bad) to 5 (great).
        score: u8,
    },
}

/// Why a command does not apply. Each variant is something an agent can be
/// told ("Alice already owns this case").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum TransitionError {
    /// Someone else holds the case.
    #[error("the case is already claimed by {by}")]
    AlreadyClaimed {
        /// The current owner.
        by: AgentId,
    },
    /// The asker (or the reassign target) already owns it.
    #[error("{agent} already owns the case")]
    AlreadyOwner {
        /// The owner.
        agent: AgentId,
    },
    /// Release of a case nobody owns.
    #[error("the case is not claimed")]
    NotClaimed,
    /// Release by someone who is not the owner.
    #[error("only the owner, {owner}, can release the case")]
    NotOwner {
        /// The current owner.
        owner: AgentId,
    },
    /// Claim, release, reassign or resolve of a closed case.
    #[error("the case is already resolved")]
    AlreadyResolved,
    /// Reopen of a case that is not resolved.
    #[error("the case is not resolved")]
    NotResolved,
    /// Escalation of a case someone already took (or closed).
    #[error("the case is no longer waiting for an agent")]
    NotWaiting,
    /// A correction to the intent it already has.
    #[error("the case's intent is already {intent}")]
    SameIntent {
        /// The intent.
        intent: String,
    },
    /// A rating outside 1-5.
    #[error("a rating must be between 1 and 5")]
    BadRating,
}

/// What the event log records for a transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CaseEventKind {
    /// The case was opened.
    Opened,
    /// An agent claimed it.
    Claimed {
        /// The new owner.
        by: AgentId,
    },
    /// The owner released it.
    Released {
        /// The former owner.
        by: AgentId,
    },
    /// It was given to another agent.
    Reassigned {
        /// The former owner, if any.
        from: Option<AgentId>,
        /// The new owner.
        to: AgentId,
    },
    /// It was closed.
    Resolved,
    /// A customer message reopened it.
    Reopened,
    /// Nobody claimed it in time; it moved on.
    Escalated {
        /// The route it left.
        from: String,
        /// The route it went to.
        to: String,
    },
    /// An agent corrected the intent.
    IntentCorrected {
        /// What was detected (or last set).
        from: Option<String>,
        /// What it is.
        to: String,
    },
    /// The customer rated the help.
    Rated {
        /// 1-5.
        score: u8,
    },
    /// An outbound command for it was given up.
    DeliveryFailed {
        /// The outbox row.
        outbox_id: i64,
        /// Why.
        reason: String,
    },
}

impl CaseEventKind {
    /// The stored name of the event kind.
    pub fn name(&self) -> &'static str {
        match self {
            CaseEventKind::Opened => "opened",
            CaseEventKind::Claimed { .. } => "claimed",
            CaseEventKind::Released { .. } => "released",
            CaseEventKind::Reassigned { .. } => "reassigned",
            CaseEventKind::Resolved => "resolved",
            CaseEventKind::Reopened => "reopened",
            CaseEventKind::Escalated { .. } => "escalated",
            CaseEventKind::IntentCorrected { .. } => "intent_corrected",
            CaseEventKind::Rated { .. } => "rated",
            CaseEventKind::DeliveryFailed { .. } => "delivery_failed",
        }
    }
}

/// A successful transition: the case as it must be stored, and the event
/// that explains the change.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The case as read; its `version` is what the store compares against.
    pub before: Case,
    /// The case as it must become (version already bumped).
    pub after: Case,
    /// Who made the change.
    pub actor: Actor,
    /// What happened.
    pub event: CaseEventKind,
    /// When.
    pub at: DateTime<Utc>,
}

/// Applies `command` to `case` at `now`. Pure: the caller stores the result.
pub fn apply(
    case: &Case,
    command: &CaseCommand,
    now: DateTime<Utc>,
) -> Result<Transition, TransitionError> {
    let mut after = case.clone();
    let (actor, event) = match (command, &case.state) {
        (
            CaseCommand::Claim { .. }
            | CaseCommand::Release { .. }
            | CaseCommand::Resolve { .. }
            | CaseCommand::Reassign { .. },
            CaseState::Resolved,
        ) => return Err(TransitionError::AlreadyResolved),
        (CaseCommand::Reopen, CaseState::Resolved) => {
            after.state = CaseState::Open;
            after.opened_at = now;
            after.claimed_at = None;
            after.resolved_at = None;
            after.reopen_count += 1;
            (Actor::Customer, CaseEventKind::Reopened)
        }
        (CaseCommand::Reopen, _) => return Err(TransitionError::NotResolved),
        (
            CaseCommand::Escalate {
                route,
                urgency,
                mention,
            },
            CaseState::Open,
        ) => {
            let from = case.route.clone();
            if after.details.escalated_from.is_none() {
                after.details.escalated_from = Some(from.clone());
            }
            after.route = route.clone();
            after.urgency = after.urgency.max(*urgency);
            after.details.mention = mention.clone();
            (
                Actor::System,
                CaseEventKind::Escalated {
                    from,
                    to: route.clone(),
                },
            )
        }
        (CaseCommand::Escalate { .. }, _) => return Err(TransitionError::NotWaiting),
        (CaseCommand::CorrectIntent { by, intent }, _) => {
            if case.intent.as_deref() == Some(intent.as_str()) {
                return Err(TransitionError::SameIntent {
                    intent: intent.clone(),
                });
            }
            // The first detection is kept: it is what the quality metric
            // compares against, however often agents change their mind.
            if after.details.detected_intent.is_none() {
                after.details.detected_intent = case.intent.clone();
            }
            after.intent = Some(intent.clone());
            (
                Actor::Agent(by.clone()),
                CaseEventKind::IntentCorrected {
                    from: case.intent.clone(),
                    to: intent.clone(),
                },
            )
        }
        (CaseCommand::Rate { score }, _) => {
            if !(1..=5).contains(score) {
                return Err(TransitionError::BadRating);
            }
            after.details.csat = Some(*score);
            (Actor::Customer, CaseEventKind::Rated { score: *score })
        }
        (CaseCommand::Claim { agent }, CaseState::Open) => {
            after.state = CaseState::Claimed { by: agent.clone() };
            after.claimed_at = Some(now);
            (
                Actor::Agent(agent.clone()),
                CaseEventKind::Claimed { by: agent.clone() },
            )
        }
        (CaseCommand::Claim { agent }, CaseState::Claimed { by }) => {
            return Err(if by == agent {
                TransitionError::AlreadyOwner {
                    agent: agent.clone(),
                }
            } else {
                TransitionError::AlreadyClaimed { by: by.clone() }
            });
        }
        (CaseCommand::Release { .. }, CaseState::Open) => return Err(TransitionError::NotClaimed),
        (CaseCommand::Release { agent }, CaseState::Claimed { by }) => {
            if by != agent {
                return Err(TransitionError::NotOwner { owner: by.clone() });
            }
            after.state = CaseState::Open;
            after.previous_owner = Some(by.clone());
            after.claimed_at = None;
            (
                Actor::Agent(agent.clone()),
                CaseEventKind::Released { by: agent.clone() },
            )
        }
        (CaseCommand::Reassign { by, to }, state) => {
            let from = state.owner().cloned();
            if from.as_ref() == Some(to) {
                return Err(TransitionError::AlreadyOwner { agent: to.clone() });
            }
            if from.is_some() {
                after.previous_owner = from.clone();
            }
            after.state = CaseState::Claimed { by: to.clone() };
            after.claimed_at = Some(now);
            (
                Actor::Agent(by.clone()),
                CaseEventKind::Reassigned {
                    from,
                    to: to.clone(),
                },
            )
        }
        (CaseCommand::Resolve { by }, state) => {
            if let Some(owner) = state.owner() {
                after.previous_owner = Some(owner.clone());
            }
            after.state = CaseState::Resolved;
            after.resolved_at = Some(now);
            (by.clone(), CaseEventKind::Resolved)
        }
    };
    after.version = case.version + 1;
    Ok(Transition {
        before: case.clone(),
        after,
        actor,
        event,
        at: now,
    })
}

/// A plain case for unit tests: human request, route `support`, opened at
/// `opened_at`, version 0.
#[cfg(test)]
pub(crate) fn sample(state: CaseState, opened_at: DateTime<Utc>) -> Case {
    Case {
        id: CaseId::new(),
        conversation: ConversationId::new(),
        state,
        previous_owner: None,
        reason: "human_request".into(),
        reasons: vec!["human_request".into()],
        urgency: Urgency::Normal,
        intent: None,
        sentiment: None,
        summary: String::new(),
        route: "support".into(),
        opened_at,
        claimed_at: None,
        first_agent_reply_at: None,
        resolved_at: None,
        reopen_count: 0,
        card: None,
        last_delivery_error: None,
        version: 0,
        details: CaseDetails::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn agent(name: &str) -> AgentId {
        AgentId::new(name)
    }

    fn case_in(state: CaseState) -> Case {
        let mut case = sample(state, t(0));
        case.reason = "human_requested".into();
        case.reasons = vec!["human_requested".into()];
        case.route = "default".into();
        case.version = 3;
        case
    }

    fn claimed(by: &str) -> Case {
        case_in(CaseState::Claimed { by: agent(by) })
    }

    fn claim(by: &str) -> CaseCommand {
        CaseCommand::Claim { agent: agent(by) }
    }

    #[test]
    fn claim_of_an_open_case_sets_the_owner_and_bumps_the_version() {
        let tr = apply(&case_in(CaseState::Open), &claim("alice"), t(5)).unwrap();
        assert_eq!(tr.after.state, CaseState::Claimed { by: agent("alice") });
        assert_eq!(tr.after.claimed_at, Some(t(5)));
        assert_eq!(tr.after.version, 4);
        assert_eq!(tr.before.version, 3);
        assert_eq!(tr.event, CaseEventKind::Claimed { by: agent("alice") });
        assert_eq!(tr.actor, Actor::Agent(agent("alice")));
    }

    #[test]
    fn claim_of_a_claimed_case_names_the_owner() {
        assert_eq!(
            apply(&claimed("alice"), &claim("bob"), t(1)),
            Err(TransitionError::AlreadyClaimed { by: agent("alice") })
        );
        assert_eq!(
            apply(&claimed("alice"), &claim("alice"), t(1)),
            Err(TransitionError::AlreadyOwner {
                agent: agent("alice")
            })
        );
    }

    #[test]
    fn release_by_the_owner_reopens_the_queue_and_remembers_the_owner() {
        let tr = apply(
            &claimed("alice"),
            &CaseCommand::Release {
                agent: agent("alice"),
            },
            t(9),
        )
        .unwrap();
        assert_eq!(tr.after.state, CaseState::Open);
        assert_eq!(tr.after.previous_owner, Some(agent("alice")));
        assert_eq!(tr.after.claimed_at, None);
        assert_eq!(tr.event, CaseEventKind::Released { by: agent("alice") });
    }

    #[test]
    fn release_by_anyone_else_or_of_an_open_case_is_refused() {
        assert_eq!(
            apply(
                &claimed("alice"),
                &CaseCommand::Release {
                    agent: agent("bob")
                },
                t(1)
            ),
            Err(TransitionError::NotOwner {
                owner: agent("alice")
            })
        );
        assert_eq!(
            apply(
                &case_in(CaseState::Open),
                &CaseCommand::Release {
                    agent: agent("bob")
                },
                t(1)
            ),
            Err(TransitionError::NotClaimed)
        );
    }

    #[test]
    fn resolve_closes_open_and_claimed_cases() {
        for case in [case_in(CaseState::Open), claimed("alice")] {
            let tr = apply(
                &case,
                &CaseCommand::Resolve {
                    by: Actor::Agent(agent("bob")),
                },
                t(30),
            )
            .unwrap();
            assert_eq!(tr.after.state, CaseState::Resolved);
            assert_eq!(tr.after.resolved_at, Some(t(30)));
            assert_eq!(tr.event, CaseEventKind::Resolved);
            assert_eq!(
                tr.after.previous_owner,
                case.state.owner().cloned(),
                "the owner is kept for previous-agent routing"
            );
        }
    }

    #[test]
    fn reassign_moves_ownership_from_open_or_claimed() {
        let cmd = CaseCommand::Reassign {
            by: agent("lead"),
            to: agent("bob"),
        };
        let tr = apply(&claimed("alice"), &cmd, t(2)).unwrap();
        assert_eq!(tr.after.state, CaseState::Claimed { by: agent("bob") });
        assert_eq!(tr.after.previous_owner, Some(agent("alice")));
        assert_eq!(
            tr.event,
            CaseEventKind::Reassigned {
                from: Some(agent("alice")),
                to: agent("bob")
            }
        );
        let tr = apply(&case_in(CaseState::Open), &cmd, t(2)).unwrap();
        assert_eq!(
            tr.event,
            CaseEventKind::Reassigned {
                from: None,
                to: agent("bob")
            }
        );
        assert_eq!(tr.after.previous_owner, None);
    }

    #[test]
    fn reassign_to_the_current_owner_is_refused() {
        let cmd = CaseCommand::Reassign {
            by: agent("lead"),
            to: agent("alice"),
        };
        assert_eq!(
            apply(&claimed("alice"), &cmd, t(2)),
            Err(TransitionError::AlreadyOwner {
                agent: agent("alice")
            })
        );
    }

    #[test]
    fn a_resolved_case_refuses_everything_but_reopen() {
        let resolved = case_in(CaseState::Resolved);
        for cmd in [
            claim("alice"),
            CaseCommand::Release {
                agent: agent("alice"),
            },
            CaseCommand::Resolve { by: Actor::System },
            CaseCommand::Reassign {
                by: agent("a"),
                to: agent("b"),
            },
        ] {
            assert_eq!(
                apply(&resolved, &cmd, t(1)),
                Err(TransitionError::AlreadyResolved),
                "{cmd:?}"
            );
        }
    }

    #[test]
    fn reopen_starts_a_new_round_and_counts_it() {
        let mut resolved = case_in(CaseState::Resolved);
        resolved.resolved_at = Some(t(10));
        resolved.claimed_at = Some(t(5));
        let tr = apply(&resolved, &CaseCommand::Reopen, t(100)).unwrap();
        assert_eq!(tr.after.state, CaseState::Open);
        assert_eq!(tr.after.opened_at, t(100));
        assert_eq!(tr.after.resolved_at, None);
        assert_eq!(tr.after.claimed_at, None);
        assert_eq!(tr.after.reopen_count, 1);
        assert_eq!(tr.actor, Actor::Customer);
        assert_eq!(tr.event, CaseEventKind::Reopened);
    }

    #[test]
    fn reopen_of_a_live_case_is_refused() {
        for case in [case_in(CaseState::Open), claimed("alice")] {
            assert_eq!(
                apply(&case, &CaseCommand::Reopen, t(1)),
                Err(TransitionError::NotResolved)
            );
        }
    }

    #[test]
    fn escalation_moves_a_waiting_case_once_and_never_lowers_urgency() {
        let mut open = case_in(CaseState::Open);
        open.urgency = Urgency::Urgent;
        let cmd = CaseCommand::Escalate {
            route: "tier2".into(),
            urgency: Urgency::High,
            mention: Some("<!subteam^S2>".into()),
        };
        let tr = apply(&open, &cmd, t(1)).unwrap();
        assert_eq!(tr.after.route, "tier2");
        assert_eq!(tr.after.urgency, Urgency::Urgent);
        assert_eq!(tr.after.details.mention.as_deref(), Some("<!subteam^S2>"));
        assert_eq!(
            tr.after.details.escalated_from.as_deref(),
            Some(open.route.as_str())
        );
        assert_eq!(tr.actor, Actor::System);
        for case in [claimed("alice"), case_in(CaseState::Resolved)] {
            assert_eq!(apply(&case, &cmd, t(1)), Err(TransitionError::NotWaiting));
        }
    }

    #[test]
    fn an_intent_correction_keeps_the_first_detection() {
        let mut case = claimed("alice");
        case.intent = Some("billing".into());
        let fix = |to: &str| CaseCommand::CorrectIntent {
            by: agent("alice"),
            intent: to.into(),
        };
        let first = apply(&case, &fix("refund"), t(1)).unwrap().after;
        assert_eq!(first.intent.as_deref(), Some("refund"));
        assert_eq!(first.details.detected_intent.as_deref(), Some("billing"));
        let second = apply(&first, &fix("fraud_security"), t(2)).unwrap().after;
        assert_eq!(second.details.detected_intent.as_deref(), Some("billing"));
        assert_eq!(
            apply(&second, &fix("fraud_security"), t(3)),
            Err(TransitionError::SameIntent {
                intent: "fraud_security".into()
            })
        );
        // A resolved case can still be corrected: review happens afterwards.
        assert!(apply(&case_in(CaseState::Resolved), &fix("refund"), t(4)).is_ok());
    }

    #[test]
    fn a_rating_is_one_to_five_and_the_latest_counts() {
        let resolved = case_in(CaseState::Resolved);
        let rated = apply(&resolved, &CaseCommand::Rate { score: 2 }, t(1))
            .unwrap()
            .after;
        let again = apply(&rated, &CaseCommand::Rate { score: 5 }, t(2))
            .unwrap()
            .after;
        assert_eq!(again.details.csat, Some(5));
        assert_eq!(again.state, CaseState::Resolved);
        for bad in [0, 6] {
            assert_eq!(
                apply(&resolved, &CaseCommand::Rate { score: bad }, t(1)),
                Err(TransitionError::BadRating)
            );
        }
    }

    #[test]
    fn refusals_read_as_sentences_for_agents() {
        assert_eq!(
            TransitionError::AlreadyClaimed { by: agent("alice") }.to_string(),
            "the case is already claimed by alice"
        );
    }

    #[test]
    fn names_round_trip() {
        for u in [
            Urgency::Low,
            Urgency::Normal,
            Urgency::High,
            Urgency::Urgent,
        ] {
            assert_eq!(Urgency::parse(u.as_str()), Some(u));
        }
        assert_eq!(Urgency::parse("meh"), None);
        assert_eq!(Actor::Agent(agent("a")).label(), "agent:a");
    }
}
