//! Who may say what to whom: an agent's reply under a card either reaches
//! the customer or stays an internal note. Pure, so every rule is tested on
//! plain values; the engine stores and queues what this decides.

use handoff_core::AgentId;

use crate::cases::CaseState;
use crate::config::{NonOwnerReplies, RelayConfig};

/// What happens to one agent reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyRoute {
    /// The owner wrote: send it to the customer.
    Send,
    /// Nobody owns the case: the writer claims it, then it is sent.
    ClaimAndSend,
    /// It stays inside the team.
    Note(NoteReason),
}

/// Why a reply stayed internal (shown on the note in the transcript).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteReason {
    /// It starts with the note prefix.
    Prefix,
    /// Someone who does not own the case wrote it (and config keeps those
    /// internal).
    NotOwner {
        /// The owner.
        owner: AgentId,
    },
    /// The case is resolved; nothing more is sent until the customer writes.
    Resolved,
}

/// Decides the fate of `text` written by `agent` under a case in `state`;
/// returns the route and the text to store (a note loses its prefix).
pub fn route_reply<'t>(
    state: &CaseState,
    agent: &AgentId,
    text: &'t str,
    config: &RelayConfig,
) -> (ReplyRoute, &'t str) {
    let prefix = config.note_prefix.as_str();
    if !prefix.is_empty()
        && let Some(rest) = text.trim_start().strip_prefix(prefix)
    {
        return (ReplyRoute::Note(NoteReason::Prefix), rest.trim_start());
    }
    let route = match state {
        CaseState::Resolved => ReplyRoute::Note(NoteReason::Resolved),
        CaseState::Open => ReplyRoute::ClaimAndSend,
        CaseState::Claimed { by } if by == agent => ReplyRoute::Send,
        CaseState::Claimed { by } => match config.non_owner_replies {
            NonOwnerReplies::Note => ReplyRoute::Note(NoteReason::NotOwner { owner: by.clone() }),
            NonOwnerReplies::Relay => ReplyRoute::Send,
        },
    };
    (route, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> AgentId {
        AgentId::new("alice")
    }

    fn claimed(by: &str) -> CaseState {
        CaseState::Claimed {
            by: AgentId::new(by),
        }
    }

    #[test]
    fn the_owner_reaches_the_customer() {
        let c = RelayConfig::default();
        assert_eq!(
            route_reply(&claimed("alice"), &alice(), "hi", &c),
            (ReplyRoute::Send, "hi")
        );
    }

    #[test]
    fn a_reply_to_an_unclaimed_case_claims_it() {
        let c = RelayConfig::default();
        assert_eq!(
            route_reply(&CaseState::Open, &alice(), "on it", &c).0,
            ReplyRoute::ClaimAndSend
        );
    }

    #[test]
    fn non_owners_write_notes_unless_configured_otherwise() {
        let mut c = RelayConfig::default();
        assert_eq!(
            route_reply(&claimed("bob"), &alice(), "psst", &c).0,
            ReplyRoute::Note(NoteReason::NotOwner {
                owner: AgentId::new("bob")
            })
        );
        c.non_owner_replies = NonOwnerReplies::Relay;
        assert_eq!(
            route_reply(&claimed("bob"), &alice(), "hi", &c).0,
            ReplyRoute::Send
        );
    }

    #[test]
    fn the_note_prefix_wins_even_for_the_owner_and_is_stripped() {
        let c = RelayConfig::default();
        assert_eq!(
            route_reply(
                &claimed("alice"),
                &alice(),
                "  // refund approved by finance",
                &c
            ),
            (
                ReplyRoute::Note(NoteReason::Prefix),
                "refund approved by finance"
            )
        );
        // Inside the text it is just text.
        assert_eq!(
            route_reply(&claimed("alice"), &alice(), "see http://x", &c).0,
            ReplyRoute::Send
        );
    }

    #[test]
    fn nothing_reaches_the_customer_of_a_resolved_case() {
        let c = RelayConfig::default();
        assert_eq!(
            route_reply(&CaseState::Resolved, &alice(), "bye", &c).0,
            ReplyRoute::Note(NoteReason::Resolved)
        );
    }
}
