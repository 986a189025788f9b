//! An adapter double that behaves like a platform which honours
//! idempotency keys: a key it has seen before produces no second effect.
//! Each key can be scripted to fail, rate-limit, fail for good, or apply
//! its effect and then hang (a crash after the platform accepted it).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use handoff_core::{
    Adapter, Delivered, Delivery, DeliveryError, MessageRef, OutboundCommand, Platform,
};
use tokio::sync::Notify;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Step {
    /// A 503.
    Fail,
    /// A 429 with this Retry-After.
    RateLimit(Duration),
    /// A 404 channel_not_found.
    Permanent,
    /// Accept, then never answer (the process dies before recording it).
    ApplyThenHang,
}

/// The double.
#[derive(Debug)]
pub struct PlatformDouble {
    platform: Platform,
    script: Mutex<HashMap<String, VecDeque<Step>>>,
    seen: Mutex<HashSet<String>>,
    /// Keys in the order their effect happened (each at most once).
    pub effects: Mutex<Vec<String>>,
    /// Every call: (key, attempt number, command as received).
    pub calls: Mutex<Vec<(String, u32, OutboundCommand)>>,
    /// Rung when a hanging step has applied its effect.
    pub hung: Notify,
}

impl PlatformDouble {
    pub fn new(platform: Platform) -> Self {
        Self {
            platform,
            script: Mutex::default(),
            seen: Mutex::default(),
            effects: Mutex::default(),
            calls: Mutex::default(),
            hung: Notify::new(),
        }
    }

    /// Scripts the next answers for `key`; after them, it succeeds.
    pub fn script(&self, key: &str, steps: &[Step]) {
        self.script
            .lock()
            .unwrap()
            .insert(key.to_owned(), steps.iter().cloned().collect());
    }

    pub fn effects(&self) -> Vec<String> {
        self.effects.lock().unwrap().clone()
    }

    pub fn calls_for(&self, key: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.0 == key)
            .count()
    }

    fn apply(&self, key: &str) {
        if self.seen.lock().unwrap().insert(key.to_owned()) {
            self.effects.lock().unwrap().push(key.to_owned());
        }
    }
}

#[async_trait]
impl Adapter for PlatformDouble {
    fn platform(&self) -> Platform {
        self.platform
    }

    async fn deliver(&self, d: &Delivery) -> Result<Delivered, DeliveryError> {
        self.calls
            .lock()
            .unwrap()
            .push((d.idempotency_key.clone(), d.attempt, d.command.clone()));
        let step = self
            .script
            .lock()
            .unwrap()
            .get_mut(&d.idempotency_key)
            .and_then(VecDeque::pop_front);
        match step {
            Some(Step::Fail) => Err(DeliveryError::Transient {
                reason: "HTTP 503 from the platform".into(),
                retry_after: None,
            }),
            Some(Step::RateLimit(retry_after)) => Err(DeliveryError::RateLimited { retry_after }),
            Some(Step::Permanent) => Err(DeliveryError::Permanent {
                reason: "channel_not_found".into(),
            }),
            Some(Step::ApplyThenHang) => {
                self.apply(&d.idempotency_key);
                self.hung.notify_one();
                std::future::pending().await
            }
            None => {
                self.apply(&d.idempotency_key);
                Ok(Delivered {
                    reference: Some(MessageRef::new(
                        self.platform,
                        "C-double",
                        format!("ts-{}", d.idempotency_key),
                    )),
                })
            }
        }
    }
}
