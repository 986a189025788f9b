//! Transcript links and pages: pure signing, checking and HTML.
//!
//! A card carries a link to the case's whole conversation. The link works
//! without signing in (Slack and Teams users are not inbox users), so it is
//! a capability: `/t/{case}?exp={unix}&sig={hex}` where `sig` is an
//! HMAC-SHA256 over the case and expiry with a key only the server holds.
//! A link cannot be widened to another case or a later expiry without the
//! key. The page shows text already redacted by the caller and escapes
//! everything it prints.

use chrono::{DateTime, Utc};
use handoff_core::CaseId;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Signs and checks transcript links.
#[derive(Clone)]
pub struct TranscriptLinks {
    key: Vec<u8>,
    base: String,
    ttl: chrono::Duration,
}

impl std::fmt::Debug for TranscriptLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never reaches a log line.
        f.debug_struct("TranscriptLinks")
            .field("base", &self.base)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The signature does not match the case and expiry.
    #[error("the link's signature is not valid")]
    BadSignature,
    /// The link was valid and has expired.
    #[error("the link has expired")]
    Expired,
}

impl TranscriptLinks {
    /// Links under `public_url`, valid for `ttl` from when they are made.
    pub fn new(key: impl Into<Vec<u8>>, public_url: &str, ttl: chrono::Duration) -> Self {
        Self {
            key: key.into(),
            base: public_url.trim_end_matches('/').to_owned(),
            ttl,
        }
    }

    fn mac(&self, case: CaseId, expires: i64) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC accepts keys of any length");
        mac.update(format!("transcript\n{case}\n{expires}").as_bytes());
        mac
    }

    /// The link for `case`, made at `now`.
    pub fn link(&self, case: CaseId, now: DateTime<Utc>) -> String {
        let expires = (now + self.ttl).timestamp();
        let sig = hex::encode(self.mac(case, expires).finalize().into_bytes());
        format!("{}/t/{case}?exp={expires}&sig={sig}", self.base)
    }

    /// Checks a link's parts at `now`. The signature is checked first (in
    /// constant time), so a tampered expiry reads as tampered, not expired.
    pub fn check(
        &self,
        case: CaseId,
        expires: i64,
        sig: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LinkError> {
        let sig = hex::decode(sig).map_err(|_| LinkError::BadSignature)?;
        self.mac(case, expires)
            .verify_slice(&sig)
            .map_err(|_| LinkError::BadSignature)?;
        if expires < now.timestamp() {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

/// One line of a transcript, already redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `customer`, `agent`, `bot` or `system`.
    pub author: &'static str,
    /// Who, when known (customer or agent display name).
    pub name: Option<String>,
    /// The text, redacted.
    pub text: String,
    /// An internal note (never shown to the customer).
    pub internal: bool,
    /// Relayed to the other side.
    pub delivered: bool,
    /// When it was written.
    pub at: DateTime<Utc>,
}

pub use handoff_core::markup::escape_html;

/// The transcript page. Internal notes are left out: a link can be
/// forwarded, and notes are for the team's eyes in the team's own tools.
pub fn page(title: &str, entries: &[Entry]) -> String {
    let mut rows = String::new();
    for e in entries.iter().filter(|e| !e.internal) {
        let who = match (&e.name, e.author) {
            (Some(n), _) => n.clone(),
            (None, "customer") => "Customer".to_owned(),
            (None, "agent") => "Agent".to_owned(),
            (None, _) => "handoff".to_owned(),
        };
        rows.push_str(&format!(
            "<li class=\"{}\"><div class=\"meta\"><b>{}</b> <time datetime=\"{}\">{}</time></div><p>{}</p></li>\n",
            e.author,
            escape_html(&who),
            e.at.to_rfc3339(),
            e.at.format("%Y-%m-%d %H:%M UTC"),
            escape_html(&e.text)
        ));
    }
    if rows.is_empty() {
        rows.push_str("<li class=\"empty\">No messages.</li>\n");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\"><meta name=\"robots\" content=\"noindex\">\
<title>{title}</title><style>{STYLE}</style></head>\n<body><main><h1>{title}</h1>\n<ol>\n{rows}</ol></main></body></html>\n",
        title = escape_html(title),
    )
}

/// A plain page saying why a link did not open.
pub fn refusal_page(message: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Transcript unavailable</title>\
<style>{STYLE}</style></head><body><main><h1>Transcript unavailable</h1><p>{}</p></main></body></html>\n",
        escape_html(message)
    )
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\
main{max-width:760px;margin:0 auto;padding:24px}h1{font-size:20px}ol{list-style:none;padding:0}\
li{background:#fff;border-radius:8px;padding:10px 14px;margin:8px 0;box-shadow:0 1px 2px #0001}\
li.agent{border-left:4px solid #2563eb}li.customer{border-left:4px solid #64748b}\
li.bot,li.system{border-left:4px solid #a3a3a3;color:#555}.meta{font-size:13px;color:#555}\
p{margin:4px 0 0;white-space:pre-wrap;overflow-wrap:anywhere}";

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn parts(link: &str) -> (CaseId, i64, String) {
        let rest = link.split("/t/").nth(1).unwrap();
        let (case, query) = rest.split_once('?').unwrap();
        let mut exp = 0;
        let mut sig = String::new();
        for kv in query.split('&') {
            match kv.split_once('=').unwrap() {
                ("exp", v) => exp = v.parse().unwrap(),
                ("sig", v) => sig = v.to_owned(),
                _ => {}
            }
        }
        (CaseId(case.parse().unwrap()), exp, sig)
    }

    #[test]
    fn a_link_opens_until_it_expires_and_only_for_its_case() {
        let links = TranscriptLinks::new(
            b"k".to_vec(),
            "https://h.example/",
            chrono::Duration::hours(1),
        );
        let case = CaseId::new();
        let now = at("2026-01-01T00:00:00Z");
        let link = links.link(case, now);
        assert!(link.starts_with(&format!("https://h.example/t/{case}?exp=")));
        let (c, exp, sig) = parts(&link);
        assert_eq!(links.check(c, exp, &sig, now), Ok(()));
        let later = now + chrono::Duration::hours(2);
        assert_eq!(links.check(c, exp, &sig, later), Err(LinkError::Expired));
        assert_eq!(
            links.check(CaseId::new(), exp, &sig, now),
            Err(LinkError::BadSignature)
        );
        // Stretching the expiry by hand breaks the signature.
        assert_eq!(
            links.check(c, exp + 86_400, &sig, later),
            Err(LinkError::BadSignature)
        );
        assert_eq!(links.check(c, exp, "zz", now), Err(LinkError::BadSignature));
        let other = TranscriptLinks::new(
            b"other".to_vec(),
            "https://h.example",
            chrono::Duration::hours(1),
        );
        assert_eq!(other.check(c, exp, &sig, now), Err(LinkError::BadSignature));
    }

    #[test]
    fn the_page_escapes_everything_and_leaves_notes_out() {
        let entries = [
            Entry {
                author: "customer",
                name: Some("<img src=x onerror=alert(1)>".into()),
                text: "<script>alert('x')</script> & \"quotes\"".into(),
                internal: false,
                delivered: true,
                at: at("2026-01-01T10:00:00Z"),
            },
            Entry {
                author: "agent",
                name: Some("Alice".into()),
                text: "secret note about the customer".into(),
                internal: true,
                delivered: false,
                at: at("2026-01-01T10:01:00Z"),
            },
        ];
        let html = page("Case <u>", &entries);
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("<img"));
        assert!(!html.contains("<u>") && html.contains("Case &lt;u&gt;"));
        assert!(
            html.contains(
                "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;"
            )
        );
        assert!(!html.contains("secret note"));
        assert!(refusal_page("<x>").contains("&lt;x&gt;"));
    }
}
