//! Case metrics: pure figures over cases as stored, shared by `/metrics`
//! and `handoff report`, and the typical wait customers are told.

use std::collections::BTreeMap;

use chrono::Duration;

use crate::cases::Case;

/// The median of `values` (sorted in place); `None` when empty.
fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2
    } else {
        values[mid]
    })
}

/// Seconds from opening to claim, for cases someone claimed.
fn claim_seconds(cases: &[Case]) -> Vec<i64> {
    cases
        .iter()
        .filter_map(|c| Some((c.claimed_at? - c.opened_at).num_seconds().max(0)))
        .collect()
}

/// The median time to claim of `cases`, rounded up to a minute; `None`
/// with fewer than three claimed cases (too few to promise anything).
pub fn typical_claim_wait(cases: &[Case]) -> Option<Duration> {
    let mut waits = claim_seconds(cases);
    if waits.len() < 3 {
        return None;
    }
    let secs = median(&mut waits)?;
    Some(Duration::minutes((secs + 59) / 60).max(Duration::minutes(1)))
}

/// Distribution of one duration over cases: count, median and 90th
/// percentile in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spread {
    /// Cases measured.
    pub count: usize,
    /// Median seconds.
    pub median: Option<i64>,
    /// 90th percentile seconds.
    pub p90: Option<i64>,
    /// Sum of seconds (for Prometheus summaries).
    pub sum: i64,
}

impl Spread {
    fn of(mut values: Vec<i64>) -> Self {
        let count = values.len();
        let sum = values.iter().sum();
        let median = median(&mut values);
        // `median` sorted them.
        let p90 = (!values.is_empty()).then(|| values[(values.len() * 9).div_ceil(10) - 1]);
        Self {
            count,
            median,
            p90,
            sum,
        }
    }
}

/// Everything `handoff report` and `/metrics` show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseReport {
    /// Cases in the window.
    pub cases: usize,
    /// Opened, by escalation reason (a case counts once per reason).
    pub by_reason: BTreeMap<String, usize>,
    /// Opened, by route.
    pub by_route: BTreeMap<String, usize>,
    /// Opening to claim.
    pub time_to_claim: Spread,
    /// Opening to the first agent reply that reached the customer (bot
    /// replies and internal notes excluded).
    pub time_to_first_reply: Spread,
    /// Opening to resolution, for resolved cases.
    pub resolution_time: Spread,
    /// Reopens over the window's cases.
    pub reopens: i64,
    /// Ratings 1-5 and how many of each.
    pub csat: BTreeMap<u8, usize>,
    /// Cases whose intent an agent corrected, by (detected, corrected).
    pub corrections: BTreeMap<(String, String), usize>,
    /// Cases moved on by the escalation timer.
    pub sla_escalations: usize,
}

impl CaseReport {
    /// The figures over `cases`.
    pub fn of(cases: &[Case]) -> Self {
        let mut r = CaseReport {
            cases: cases.len(),
            ..CaseReport::default()
        };
        let mut first_reply = Vec::new();
        let mut resolution = Vec::new();
        for c in cases {
            for reason in &c.reasons {
                *r.by_reason.entry(reason.clone()).or_default() += 1;
            }
            *r.by_route.entry(c.route.clone()).or_default() += 1;
            if let Some(at) = c.first_agent_reply_at {
                first_reply.push((at - c.opened_at).num_seconds().max(0));
            }
            if let Some(at) = c.resolved_at {
                resolution.push((at - c.opened_at).num_seconds().max(0));
            }
            r.reopens += c.reopen_count;
            if let Some(score) = c.details.csat {
                *r.csat.entry(score).or_default() += 1;
            }
            if let (Some(detected), Some(now)) = (&c.details.detected_intent, &c.intent) {
                *r.corrections
                    .entry((detected.clone(), now.clone()))
                    .or_default() += 1;
            }
            if c.details.escalated_from.is_some() {
                r.sla_escalations += 1;
            }
        }
        r.time_to_claim = Spread::of(claim_seconds(cases));
        r.time_to_first_reply = Spread::of(first_reply);
        r.resolution_time = Spread::of(resolution);
        r
    }

    /// The mean rating, if any.
    pub fn csat_mean(&self) -> Option<f64> {
        let n: usize = self.csat.values().sum();
        (n > 0).then(|| {
            self.csat
                .iter()
                .map(|(s, k)| f64::from(*s) * *k as f64)
                .sum::<f64>()
                / n as f64
        })
    }

    /// The report as a plain-text table (`handoff report`).
    pub fn table(&self, window: &str) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let secs = |s: Option<i64>| s.map_or("-".to_owned(), |s| human(Duration::seconds(s)));
        let _ = writeln!(out, "Cases opened in the last {window}: {}", self.cases);
        let _ = writeln!(out, "\n{:<28} {:>8}", "Reason", "Cases");
        for (k, v) in &self.by_reason {
            let _ = writeln!(out, "{k:<28} {v:>8}");
        }
        let _ = writeln!(out, "\n{:<28} {:>8}", "Route", "Cases");
        for (k, v) in &self.by_route {
            let _ = writeln!(out, "{k:<28} {v:>8}");
        }
        let _ = writeln!(
            out,
            "\n{:<28} {:>8} {:>10} {:>10}",
            "Time", "Cases", "Median", "90th pct"
        );
        for (name, s) in [
            ("to claim", &self.time_to_claim),
            ("to first human reply", &self.time_to_first_reply),
            ("to resolution", &self.resolution_time),
        ] {
            let _ = writeln!(
                out,
                "{name:<28} {:>8} {:>10} {:>10}",
                s.count,
                secs(s.median),
                secs(s.p90)
            );
        }
        let _ = writeln!(out, "\nReopens: {}", self.reopens);
        let _ = writeln!(out, "Escalated by the SLA timer: {}", self.sla_escalations);
        let rated: usize = self.csat.values().sum();
        match self.csat_mean() {
            Some(mean) => {
                let spread: Vec<String> = (1..=5)
                    .map(|s| format!("{s}: {}", self.csat.get(&s).copied().unwrap_or(0)))
                    .collect();
                let _ = writeln!(
                    out,
                    "CSAT: {mean:.2} from {rated} ratings ({})",
                    spread.join(", ")
                );
            }
            None => {
                let _ = writeln!(out, "CSAT: no ratings");
            }
        }
        let corrected: usize = self.corrections.values().sum();
        let _ = writeln!(out, "Intent corrections: {corrected}");
        for ((from, to), n) in &self.corrections {
            let _ = writeln!(out, "  {from} -> {to}: {n}");
        }
        out
    }
}

impl CaseReport {
    /// The figures as Prometheus gauges over a sliding window (`window`
    /// label): read from the store at scrape time, so they are true across
    /// restarts and replicas.
    pub fn prometheus(&self, window: &str, out: &mut String) {
        use std::fmt::Write as _;
        let gauge = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        };
        gauge(
            out,
            "handoff_cases_opened",
            "Cases opened in the window, by escalation reason and by route.",
        );
        for (reason, n) in &self.by_reason {
            let _ = writeln!(
                out,
                "handoff_cases_opened{{window=\"{window}\",reason=\"{}\"}} {n}",
                label(reason)
            );
        }
        for (route, n) in &self.by_route {
            let _ = writeln!(
                out,
                "handoff_cases_opened{{window=\"{window}\",route=\"{}\"}} {n}",
                label(route)
            );
        }
        for (name, help, s) in [
            (
                "handoff_time_to_claim_seconds",
                "Opening to claim.",
                &self.time_to_claim,
            ),
            (
                "handoff_time_to_first_reply_seconds",
                "Opening to the first agent reply the customer received (bot replies and notes excluded).",
                &self.time_to_first_reply,
            ),
            (
                "handoff_resolution_seconds",
                "Opening to resolution.",
                &self.resolution_time,
            ),
        ] {
            gauge(out, name, help);
            for (q, v) in [("0.5", s.median), ("0.9", s.p90)] {
                if let Some(v) = v {
                    let _ = writeln!(out, "{name}{{window=\"{window}\",quantile=\"{q}\"}} {v}");
                }
            }
            let _ = writeln!(out, "{name}_count{{window=\"{window}\"}} {}", s.count);
            let _ = writeln!(out, "{name}_sum{{window=\"{window}\"}} {}", s.sum);
        }
        gauge(
            out,
            "handoff_case_reopens",
            "Reopens of the window's cases.",
        );
        let _ = writeln!(
            out,
            "handoff_case_reopens{{window=\"{window}\"}} {}",
            self.reopens
        );
        gauge(out, "handoff_csat_ratings", "Customer ratings by score.");
        for score in 1..=5u8 {
            let n = self.csat.get(&score).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "handoff_csat_ratings{{window=\"{window}\",score=\"{score}\"}} {n}"
            );
        }
        gauge(
            out,
            "handoff_intent_corrections",
            "Cases whose intent an agent corrected.",
        );
        let corrected: usize = self.corrections.values().sum();
        let _ = writeln!(
            out,
            "handoff_intent_corrections{{window=\"{window}\"}} {corrected}"
        );
        gauge(
            out,
            "handoff_sla_escalations",
            "Cases the escalation timer moved on.",
        );
        let _ = writeln!(
            out,
            "handoff_sla_escalations{{window=\"{window}\"}} {}",
            self.sla_escalations
        );
    }
}

/// A label value with `\`, `"` and newlines escaped (route and reason
/// names come from config).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// "3 min", "2 h 5 min", "40 s".
pub fn human(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// Parses a window like `7d`, `24h`, `30m`.
pub fn parse_window(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    match unit {
        "d" => Some(Duration::days(n)),
        "h" => Some(Duration::hours(n)),
        "m" => Some(Duration::minutes(n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::CaseState;
    use chrono::{DateTime, Utc};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn case(route: &str, claim: Option<i64>, reply: Option<i64>, resolve: Option<i64>) -> Case {
        let mut c = crate::cases::sample(CaseState::Open, t(0));
        c.reasons = vec!["human_request".into(), "negative_sentiment".into()];
        c.intent = Some("refund".into());
        c.route = route.into();
        c.claimed_at = claim.map(t);
        c.first_agent_reply_at = reply.map(t);
        c.resolved_at = resolve.map(t);
        c
    }

    #[test]
    fn the_report_counts_and_spreads() {
        let mut rated = case("billing", Some(60), Some(120), Some(600));
        rated.details.csat = Some(4);
        rated.details.detected_intent = Some("billing".into());
        rated.reopen_count = 2;
        let mut low = case("support", Some(300), None, None);
        low.details.csat = Some(1);
        let cases = [rated, low, case("support", None, None, None)];
        let r = CaseReport::of(&cases);
        assert_eq!(r.cases, 3);
        assert_eq!(r.by_reason["human_request"], 3);
        assert_eq!(r.by_route["support"], 2);
        assert_eq!(r.time_to_claim.count, 2);
        assert_eq!(r.time_to_claim.median, Some(180));
        assert_eq!(r.time_to_claim.p90, Some(300));
        assert_eq!(r.time_to_first_reply.median, Some(120));
        assert_eq!(r.resolution_time.count, 1);
        assert_eq!(r.reopens, 2);
        assert_eq!(r.csat_mean(), Some(2.5));
        assert_eq!(
            r.corrections[&("billing".to_owned(), "refund".to_owned())],
            1
        );
        let table = r.table("7d");
        assert!(table.contains("to claim"), "{table}");
        assert!(table.contains("CSAT: 2.50 from 2 ratings"), "{table}");
        assert!(table.contains("billing -> refund: 1"), "{table}");
        let mut prom = String::new();
        r.prometheus("7d", &mut prom);
        assert!(
            prom.contains("handoff_cases_opened{window=\"7d\",route=\"support\"} 2"),
            "{prom}"
        );
        assert!(prom.contains("handoff_time_to_claim_seconds{window=\"7d\",quantile=\"0.5\"} 180"));
        assert!(prom.contains("handoff_csat_ratings{window=\"7d\",score=\"4\"} 1"));
        assert!(prom.contains("handoff_intent_corrections{window=\"7d\"} 1"));
    }

    #[test]
    fn the_typical_wait_needs_a_few_claims_and_rounds_up() {
        let claimed = |s| case("support", Some(s), None, None);
        assert_eq!(typical_claim_wait(&[claimed(30), claimed(90)]), None);
        assert_eq!(
            typical_claim_wait(&[
                claimed(30),
                claimed(90),
                claimed(400),
                case("s", None, None, None)
            ]),
            Some(Duration::minutes(2))
        );
    }

    #[test]
    fn windows_parse() {
        assert_eq!(parse_window("7d"), Some(Duration::days(7)));
        assert_eq!(parse_window("24h"), Some(Duration::hours(24)));
        assert_eq!(parse_window("0d"), None);
        assert_eq!(parse_window("7"), None);
        assert_eq!(parse_window(""), None);
    }
}
