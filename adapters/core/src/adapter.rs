//! The trait every platform crate implements, and its errors.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::command::OutboundCommand;
use crate::refs::{MessageRef, Platform};

/// One outbox row handed to an adapter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The outbox row id, for logs.
    pub id: i64,
    /// Stable for every attempt at this command. Adapters pass it to the
    /// platform where it supports idempotent requests (and test doubles use it
    /// to prove nothing was delivered twice).
    pub idempotency_key: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// What to do.
    pub command: OutboundCommand,
}

/// What a successful delivery reports back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Delivered {
    /// The platform's reference to what was created (card, relayed message),
    /// stored back on the case or message.
    pub reference: Option<MessageRef>,
}

/// Why a delivery did not happen. The outbox decides from the variant whether
/// and when to try again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The platform asked us to slow down (HTTP 429 and the like).
    #[error("rate limited by the platform, retry after {retry_after:?}")]
    RateLimited {
        /// How long the platform asked us to wait.
        retry_after: Duration,
    },
    /// A failure that may pass (timeout, 5xx, connection refused).
    #[error("temporary failure: {reason}")]
    Transient {
        /// What went wrong, for the case log.
        reason: String,
        /// A wait the platform suggested, if any.
        retry_after: Option<Duration>,
    },
    /// A failure that retrying cannot fix (channel gone, DMs closed, bad
    /// request). The command is marked dead at once.
    #[error("permanent failure: {reason}")]
    Permanent {
        /// What went wrong, for the case log and the agent.
        reason: String,
    },
}

impl DeliveryError {
    /// What an HTTP error answer from a platform means for the outbox:
    /// 401 (a token expired or being rotated), 408 and 5xx may pass and are
    /// tried again; any other refusal is final. 429 is the caller's: only
    /// it knows where the platform puts the wait.
    pub fn from_status(status: u16, reason: String, retry_after: Option<Duration>) -> Self {
        if status >= 500 || matches!(status, 401 | 408) {
            DeliveryError::Transient {
                reason,
                retry_after,
            }
        } else {
            DeliveryError::Permanent { reason }
        }
    }
}

/// Why an inbound request was refused. Platform crates return these from
/// their verify/parse step; the HTTP layer maps them to status codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// Signature, token or timestamp did not check out.
    #[error("request authentication failed: {0}")]
    Unauthorized(String),
    /// The body could not be parsed as the platform's payload.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// The body or a message in it is larger than allowed.
    #[error("payload too large: {0}")]
    TooLarge(String),
    /// The request was fine but could not be stored (the database is
    /// down); the platform should send it again.
    #[error("not stored, please retry: {0}")]
    Unavailable(String),
}

/// The engine behind a platform crate failed (the store is down). Each
/// platform crate reaches the engine through a backend trait of its own;
/// they all fail with this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

impl From<BackendError> for InboundError {
    fn from(e: BackendError) -> Self {
        InboundError::Unavailable(e.0)
    }
}

impl InboundError {
    /// The HTTP status a webhook answers this with. Platforms retry a 5xx
    /// and give up on a 4xx.
    pub fn status(&self) -> u16 {
        match self {
            InboundError::Unauthorized(_) => 401,
            InboundError::TooLarge(_) => 413,
            InboundError::Malformed(_) => 400,
            InboundError::Unavailable(_) => 503,
        }
    }
}

/// A platform that can carry out outbound commands.
#[async_trait]
pub trait Adapter: Send + Sync + 'static {
    /// The platform this adapter delivers to.
    fn platform(&self) -> Platform;

    /// Carries out one command. Must not retry by itself: the outbox owns
    /// retries, backoff and ordering.
    async fn deliver(&self, delivery: &Delivery) -> Result<Delivered, DeliveryError>;
}
