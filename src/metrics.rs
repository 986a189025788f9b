//! Prometheus counters and gauges, rendered in the text exposition format.
//!
//! A handful of labelled counters does not justify a metrics framework: a
//! map behind a mutex is enough, and it keeps `/metrics` output exactly
//! under our control.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use handoff_core::Platform;

use crate::store::OutboxDepth;

/// What happened to an inbound event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InboundOutcome {
    /// Stored for processing.
    Accepted,
    /// A redelivery of an event already stored.
    Duplicate,
    /// Refused (bad signature, malformed, too large).
    Rejected,
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryOutcome {
    /// The platform accepted it.
    Delivered,
    /// It failed and will be tried again.
    Retried,
    /// The platform asked us to wait.
    RateLimited,
    /// It was given up.
    Dead,
}

impl InboundOutcome {
    fn as_str(self) -> &'static str {
        match self {
            InboundOutcome::Accepted => "accepted",
            InboundOutcome::Duplicate => "duplicate",
            InboundOutcome::Rejected => "rejected",
        }
    }
}

impl DeliveryOutcome {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retried => "retried",
            DeliveryOutcome::RateLimited => "rate_limited",
            DeliveryOutcome::Dead => "dead",
        }
    }
}

/// The process's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    inbound: Mutex<BTreeMap<(Platform, InboundOutcome), u64>>,
    deliveries: Mutex<BTreeMap<(Platform, DeliveryOutcome), u64>>,
}

impl Metrics {
    /// Counts one inbound event.
    pub fn inbound(&self, platform: Platform, outcome: InboundOutcome) {
        *lock(&self.inbound).entry((platform, outcome)).or_default() += 1;
    }

    /// Counts one delivery attempt.
    pub fn delivery(&self, platform: Platform, outcome: DeliveryOutcome) {
        *lock(&self.deliveries)
            .entry((platform, outcome))
            .or_default() += 1;
    }

    /// The count so far (for tests and the closing figures).
    pub fn delivery_count(&self, platform: Platform, outcome: DeliveryOutcome) -> u64 {
        lock(&self.deliveries)
            .get(&(platform, outcome))
            .copied()
            .unwrap_or(0)
    }

    /// Renders every metric; `depth` is read from the store at scrape time
    /// so it is true across replicas and restarts.
    pub fn render(&self, depth: &[OutboxDepth]) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "handoff_inbound_events_total",
            "counter",
            "Inbound platform events by outcome.",
        );
        for ((p, o), n) in lock(&self.inbound).iter() {
            let _ = writeln!(
                out,
                "handoff_inbound_events_total{{platform=\"{p}\",outcome=\"{}\"}} {n}",
                o.as_str()
            );
        }
        header(
            &mut out,
            "handoff_outbox_deliveries_total",
            "counter",
            "Outbox delivery attempts by platform and outcome.",
        );
        for ((p, o), n) in lock(&self.deliveries).iter() {
            let _ = writeln!(
                out,
                "handoff_outbox_deliveries_total{{platform=\"{p}\",outcome=\"{}\"}} {n}",
                o.as_str()
            );
        }
        header(
            &mut out,
            "handoff_outbox_pending",
            "gauge",
            "Outbound commands waiting for delivery.",
        );
        header(
            &mut out,
            "handoff_outbox_dead",
            "gauge",
            "Outbound commands given up after their last attempt.",
        );
        let total: i64 = depth.iter().map(|d| d.pending).sum();
        let _ = writeln!(out, "handoff_outbox_pending {total}");
        for d in depth {
            let _ = writeln!(
                out,
                "handoff_outbox_pending{{platform=\"{}\"}} {}",
                d.platform, d.pending
            );
            let _ = writeln!(
                out,
                "handoff_outbox_dead{{platform=\"{}\"}} {}",
                d.platform, d.dead
            );
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A poisoned counter map is still a valid counter map.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.inbound(Platform::Slack, InboundOutcome::Accepted);
        m.inbound(Platform::Slack, InboundOutcome::Accepted);
        m.delivery(Platform::Discord, DeliveryOutcome::Dead);
        let text = m.render(&[OutboxDepth {
            platform: Platform::Slack,
            pending: 4,
            dead: 1,
        }]);
        assert!(
            text.contains(
                "handoff_inbound_events_total{platform=\"slack\",outcome=\"accepted\"} 2"
            )
        );
        assert!(
            text.contains(
                "handoff_outbox_deliveries_total{platform=\"discord\",outcome=\"dead\"} 1"
            )
        );
        assert!(text.contains("handoff_outbox_pending 4\n"));
        assert!(text.contains("handoff_outbox_dead{platform=\"slack\"} 1"));
        assert!(text.contains("# TYPE handoff_outbox_pending gauge"));
    }
}
