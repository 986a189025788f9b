//! The batch commands over JSON lines: `handoff analyze` (one message per
//! line) and `handoff replay` (one saved conversation per line).
//!
//! Both stream: lines are read in bounded chunks, so memory stays constant
//! however long the input, and a bad line becomes an error object on its
//! own output line while the stream goes on. `analyze` spreads each chunk
//! over the machine's cores and writes results in input order.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};

use chrono::{DateTime, Utc};
use handoff_core::Platform;
use serde::{Deserialize, Serialize};

use crate::analysis::summary::Author;
use crate::analysis::{Analysis, Analyzer, Scratch, write_output_json};
use crate::escalation::{CustomerFacts, Intelligence};

/// The longest input line read; longer lines are skipped with an error.
/// Above [`crate::analysis::MAX_TEXT_BYTES`] so that an overlong text is
/// reported as such rather than as a broken line.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;
/// Lines read ahead while the previous ones are analysed.
const CHUNK: usize = 8192;
/// Lines a worker takes at a time: small enough that the workers finish a
/// chunk together, large enough that taking one costs nothing.
const BLOCK: usize = 64;

/// A line as read: its bytes, or why it was skipped.
enum Line<'a> {
    Text(&'a [u8]),
    TooLong(usize),
}

/// Where [`read_line`] put a line.
#[derive(Clone)]
enum Span {
    Text(std::ops::Range<usize>),
    TooLong(usize),
}

/// Reads the next line (without its newline) onto the end of `data`,
/// never holding more than [`MAX_LINE_BYTES`] of it.
fn read_line(input: &mut impl BufRead, data: &mut Vec<u8>) -> io::Result<Option<Span>> {
    let start = data.len();
    let mut total = 0usize;
    let mut seen_any = false;
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            break;
        }
        seen_any = true;
        let (chunk, done) = match find_newline(available) {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        total += chunk.len();
        if total <= MAX_LINE_BYTES {
            data.extend_from_slice(chunk);
        }
        let used = done.unwrap_or(chunk.len());
        input.consume(used);
        if done.is_some() {
            break;
        }
    }
    if !seen_any {
        return Ok(None);
    }
    if total > MAX_LINE_BYTES {
        data.truncate(start);
        return Ok(Some(Span::TooLong(total)));
    }
    if data.len() > start && data.last() == Some(&b'\r') {
        data.pop();
    }
    Ok(Some(Span::Text(start..data.len())))
}

/// Where the first `\n` is: eight bytes at a time while none is, then
/// byte by byte. Every byte of the input is looked at here.
fn find_newline(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    for chunk in bytes.chunks_exact(8) {
        let w =
            u64::from_le_bytes(chunk.try_into().expect("eight bytes")) ^ (ONES * u64::from(b'\n'));
        // A zero byte of `w` (a newline) sets its high bit here; the bit
        // trick is exact as a yes or no.
        if w.wrapping_sub(ONES) & !w & HIGH != 0 {
            break;
        }
        at += 8;
    }
    bytes[at..].iter().position(|&b| b == b'\n').map(|i| at + i)
}

/// Up to [`CHUNK`] lines, in one buffer.
#[derive(Default)]
struct Chunk {
    data: Vec<u8>,
    spans: Vec<Span>,
}

impl Chunk {
    /// Replaces the contents with the next lines of `input`.
    fn read(&mut self, input: &mut impl BufRead) -> io::Result<()> {
        self.data.clear();
        self.spans.clear();
        while self.spans.len() < CHUNK {
            match read_line(input, &mut self.data)? {
                Some(span) => self.spans.push(span),
                None => break,
            }
        }
        Ok(())
    }

    fn line(&self, i: usize) -> Line<'_> {
        match &self.spans[i] {
            Span::Text(range) => Line::Text(&self.data[range.clone()]),
            Span::TooLong(n) => Line::TooLong(*n),
        }
    }
}

#[derive(Deserialize)]
struct AnalyzeInput<'a> {
    #[serde(borrow)]
    text: std::borrow::Cow<'a, str>,
}

/// An error object on an output line.
#[derive(Serialize)]
struct ErrorLine<'a> {
    error: &'a str,
    line: u64,
}

/// One worker's results for a chunk: output bytes, and which blocks they
/// hold where.
#[derive(Default)]
struct WorkerOut {
    scratch: Scratch,
    analysis: Analysis,
    bytes: Vec<u8>,
    /// (block, start, end) into `bytes`.
    blocks: Vec<(usize, usize, usize)>,
    errors: u64,
}

/// `handoff analyze`: one JSON object per input line with at least
/// `"text"`, one JSON line out per input line, in order. Returns the
/// number of lines and how many were errors.
///
/// The calling thread reads the next chunk while `threads - 1` helpers
/// start on the current one, then joins them; blocks of lines are handed
/// out as the threads get free, so a slow block does not hold the others
/// up, and results are written in input order once the chunk is done.
pub fn analyze(
    analyzer: &Analyzer,
    input: &mut impl BufRead,
    output: &mut impl Write,
    threads: usize,
) -> io::Result<(u64, u64)> {
    let threads = threads.max(1);
    let mut workers: Vec<WorkerOut> = (0..threads).map(|_| WorkerOut::default()).collect();
    let (mut current, mut next) = (Chunk::default(), Chunk::default());
    let mut order: Vec<(usize, usize, usize, usize)> = Vec::new();
    let (mut lines, mut errors) = (0u64, 0u64);
    current.read(input)?;
    while !current.spans.is_empty() {
        let first = lines + 1;
        let blocks = current.spans.len().div_ceil(BLOCK);
        let claimed = std::sync::atomic::AtomicUsize::new(0);
        let chunk = &current;
        let work = |w: &mut WorkerOut| {
            w.bytes.clear();
            w.blocks.clear();
            w.errors = 0;
            loop {
                let b = claimed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if b >= blocks {
                    break;
                }
                let start = w.bytes.len();
                for i in b * BLOCK..((b + 1) * BLOCK).min(chunk.spans.len()) {
                    let number = first + i as u64;
                    if !analyze_line(
                        analyzer,
                        chunk.line(i),
                        number,
                        &mut w.scratch,
                        &mut w.analysis,
                        &mut w.bytes,
                    ) {
                        w.errors += 1;
                    }
                }
                w.blocks.push((b, start, w.bytes.len()));
            }
        };
        let read = std::thread::scope(|scope| {
            let (mine, helpers) = workers.split_first_mut().expect("at least one worker");
            let handles: Vec<_> = helpers
                .iter_mut()
                .map(|w| scope.spawn(|| work(w)))
                .collect();
            let read = next.read(input);
            work(mine);
            for handle in handles {
                if let Err(panic) = handle.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            read
        });
        // Each worker's blocks are in its own buffer: write them back in
        // input order.
        order.clear();
        for (w, worker) in workers.iter().enumerate() {
            order.extend(
                worker
                    .blocks
                    .iter()
                    .map(|&(b, start, end)| (b, w, start, end)),
            );
            errors += worker.errors;
        }
        order.sort_unstable_by_key(|&(b, ..)| b);
        for &(_, w, start, end) in &order {
            output.write_all(&workers[w].bytes[start..end])?;
        }
        lines += current.spans.len() as u64;
        std::mem::swap(&mut current, &mut next);
        read?;
    }
    Ok((lines, errors))
}

/// Analyses one line into `out`; false when it was an error.
fn analyze_line(
    analyzer: &Analyzer,
    line: Line<'_>,
    number: u64,
    scratch: &mut Scratch,
    analysis: &mut Analysis,
    out: &mut Vec<u8>,
) -> bool {
    let result = match line {
        Line::TooLong(n) => Err(format!("line is {n} bytes; the limit is {MAX_LINE_BYTES}")),
        Line::Text(bytes) => match std::str::from_utf8(bytes) {
            Err(e) => Err(format!("line is not valid UTF-8 ({e})")),
            Ok(s) => match serde_json::from_str::<AnalyzeInput<'_>>(s) {
                Err(e) => Err(format!(
                    "line is not a JSON object with a \"text\" string ({e})"
                )),
                Ok(input) => analyzer
                    .analyze_into(&input.text, scratch, analysis)
                    .map_err(|e| e.to_string())
                    .map(|()| {
                        write_output_json(&input.text, analysis, out);
                    }),
            },
        },
    };
    let ok = result.is_ok();
    if let Err(message) = result {
        serde_json::to_writer(
            &mut *out,
            &ErrorLine {
                error: &message,
                line: number,
            },
        )
        .expect("writing JSON to memory cannot fail");
    }
    out.push(b'\n');
    ok
}

/// One saved conversation for `replay`: a list of messages, or an object
/// with them and the customer's details.
#[derive(Deserialize)]
#[serde(untagged)]
enum SavedConversation {
    Messages(Vec<SavedMessage>),
    Full(FullConversation),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullConversation {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    customer: SavedCustomer,
    messages: Vec<SavedMessage>,
}

#[derive(Deserialize, Default)]
struct SavedCustomer {
    #[serde(default)]
    metadata: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct SavedMessage {
    author: Author,
    text: String,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
    #[serde(default)]
    confidence: Option<f32>,
}

/// One replayed conversation's outcome.
#[derive(Debug, Serialize)]
pub struct ReplayOutcome {
    /// The conversation's id, or its line number.
    pub conversation: serde_json::Value,
    /// Would it escalate?
    pub escalated: bool,
    /// At which message (0-based), when it would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_message: Option<usize>,
    /// Reason codes.
    pub reasons: Vec<String>,
    /// What exactly fired, per reason.
    pub details: Vec<String>,
    /// The case's urgency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgency: Option<String>,
    /// The route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The intent on the card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// The card's summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Why the line could not be replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Counts over a whole replay.
#[derive(Debug, Default, Serialize)]
pub struct ReplayTotals {
    /// Conversations read.
    pub conversations: u64,
    /// How many would escalate.
    pub escalated: u64,
    /// Lines that could not be replayed.
    pub errors: u64,
    /// Escalations per reason code (a conversation counts once per reason).
    pub by_reason: BTreeMap<String, u64>,
    /// Escalations per route.
    pub by_route: BTreeMap<String, u64>,
}

/// Replays one conversation line.
fn replay_line(intel: &Intelligence, line: &Line, number: u64) -> ReplayOutcome {
    let mut outcome = ReplayOutcome {
        conversation: serde_json::Value::from(number),
        escalated: false,
        at_message: None,
        reasons: Vec::new(),
        details: Vec::new(),
        urgency: None,
        route: None,
        intent: None,
        summary: None,
        error: None,
    };
    let parsed = match line {
        Line::TooLong(n) => Err(format!("line is {n} bytes; the limit is {MAX_LINE_BYTES}")),
        Line::Text(bytes) => serde_json::from_slice::<SavedConversation>(bytes).map_err(|e| {
            format!("line is not a conversation (a list of {{\"author\", \"text\"}} messages, or an object with \"messages\"): {e}")
        }),
    };
    let conversation = match parsed {
        Ok(SavedConversation::Messages(messages)) => FullConversation {
            id: None,
            source: None,
            customer: SavedCustomer::default(),
            messages,
        },
        Ok(SavedConversation::Full(full)) => full,
        Err(e) => {
            outcome.error = Some(e);
            return outcome;
        }
    };
    if let Some(id) = conversation.id {
        outcome.conversation = id;
    }
    let source = match conversation.source.as_deref().map(str::parse::<Platform>) {
        None => Platform::Webchat,
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            outcome.error = Some(format!("unknown source: {e}"));
            return outcome;
        }
    };
    let customer = CustomerFacts {
        metadata: &conversation.customer.metadata,
        source,
    };
    // Without timestamps, messages are a minute apart: the unanswered
    // timer then only fires when the saved times say so.
    let start = DateTime::<Utc>::UNIX_EPOCH;
    let mut scratch = Scratch::default();
    let mut turns = Vec::with_capacity(conversation.messages.len());
    for (i, m) in conversation.messages.iter().enumerate() {
        let at = m.at.unwrap_or(start + chrono::Duration::minutes(i as i64));
        // A timer could have fired between the previous message and this one.
        let decision = intel
            .decide(&turns, customer, at)
            .filter(|_| !turns.is_empty())
            .or_else(|| {
                turns.push(intel.facts(m.author, &m.text, at, m.confidence, &mut scratch));
                intel.decide(&turns, customer, at)
            });
        if let Some(d) = decision {
            outcome.escalated = true;
            outcome.at_message = Some(turns.len() - 1);
            outcome.reasons = d.reasons();
            outcome.details = d.escalations.iter().map(|e| e.detail.clone()).collect();
            outcome.urgency = Some(d.urgency.as_str().to_owned());
            outcome.route = Some(d.route);
            outcome.intent = d.intent.map(|(n, _)| n);
            outcome.summary = Some(d.summary.text());
            return outcome;
        }
    }
    outcome
}

/// `handoff replay`: every conversation's outcome as one line (text or
/// JSON), then the totals.
pub fn replay(
    intel: &Intelligence,
    input: &mut impl BufRead,
    output: &mut impl Write,
    json: bool,
) -> io::Result<ReplayTotals> {
    let mut totals = ReplayTotals::default();
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        let line = match read_line(input, &mut buf)? {
            None => break,
            Some(Span::Text(range)) => Line::Text(&buf[range]),
            Some(Span::TooLong(n)) => Line::TooLong(n),
        };
        number += 1;
        if matches!(line, Line::Text(b) if b.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        let outcome = replay_line(intel, &line, number);
        totals.conversations += 1;
        if outcome.error.is_some() {
            totals.errors += 1;
        }
        if outcome.escalated {
            totals.escalated += 1;
            for r in &outcome.reasons {
                *totals.by_reason.entry(r.clone()).or_default() += 1;
            }
            if let Some(route) = &outcome.route {
                *totals.by_route.entry(route.clone()).or_default() += 1;
            }
        }
        if json {
            serde_json::to_writer(&mut *output, &outcome)?;
            writeln!(output)?;
        } else {
            writeln!(output, "{}", describe(&outcome))?;
        }
    }
    if json {
        serde_json::to_writer(&mut *output, &serde_json::json!({ "totals": totals }))?;
        writeln!(output)?;
    } else {
        write!(output, "{}", describe_totals(&totals))?;
    }
    Ok(totals)
}

fn describe(o: &ReplayOutcome) -> String {
    let id = match &o.conversation {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(e) = &o.error {
        return format!("{id}: error: {e}");
    }
    if !o.escalated {
        return format!("{id}: no escalation");
    }
    format!(
        "{id}: escalates at message {} ({}) -> route {} [{}], intent {}; {}",
        o.at_message.unwrap_or(0) + 1,
        o.urgency.as_deref().unwrap_or("normal"),
        o.route.as_deref().unwrap_or("?"),
        o.reasons.join(", "),
        o.intent.as_deref().unwrap_or("none"),
        o.details.join("; "),
    )
}

fn describe_totals(t: &ReplayTotals) -> String {
    let mut out = format!(
        "\n{} conversations, {} would escalate ({:.1}%), {} unreadable\n",
        t.conversations,
        t.escalated,
        if t.conversations == 0 {
            0.0
        } else {
            100.0 * t.escalated as f64 / t.conversations as f64
        },
        t.errors
    );
    out.push_str("by reason:\n");
    for (reason, n) in &t.by_reason {
        out.push_str(&format!("  {reason:<24} {n}\n"));
    }
    out.push_str("by route:\n");
    for (route, n) in &t.by_route {
        out.push_str(&format!("  {route:<24} {n}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::AnalyzerSettings;
    use crate::config::Config;

    fn run_analyze(input: &[u8], threads: usize) -> Vec<serde_json::Value> {
        let analyzer = Analyzer::new(&AnalyzerSettings::default());
        let mut out = Vec::new();
        analyze(&analyzer, &mut &input[..], &mut out, threads).unwrap();
        out.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    #[test]
    fn newlines_are_found_in_every_position() {
        for len in 0..20 {
            for at in 0..=len {
                let mut bytes = vec![b'x'; len];
                bytes.extend_from_slice("é\n\n".as_bytes());
                bytes.insert(at, b'\n');
                let want = bytes.iter().position(|&b| b == b'\n');
                assert_eq!(find_newline(&bytes), want, "{len} {at}");
                assert_eq!(find_newline(&bytes[..at]), None);
            }
        }
    }

    #[test]
    fn analyze_keeps_order_and_reports_bad_lines_in_place() {
        let mut input = Vec::new();
        input.extend_from_slice(b"{\"text\":\"agent please\"}\n");
        input.extend_from_slice(b"not json\n");
        input.extend_from_slice(b"{\"text\":\"\"}\n");
        input.extend_from_slice(b"{\"text\":\"caf\xff\"}\n");
        input.extend_from_slice(b"{\"id\":7,\"text\":\"I love it\"}\r\n");
        for threads in [1, 3] {
            let out = run_analyze(&input, threads);
            assert_eq!(out.len(), 5);
            assert_eq!(out[0]["human_request"], true);
            assert!(out[1]["error"].as_str().unwrap().contains("JSON"));
            assert_eq!(out[1]["line"], 2);
            assert_eq!(out[2]["error"], "text is empty");
            assert!(out[3]["error"].as_str().unwrap().contains("UTF-8"));
            assert_eq!(out[4]["sentiment"]["label"], "positive");
        }
    }

    #[test]
    fn a_megabyte_of_text_is_an_error_line_not_a_crash() {
        let text = "a".repeat(1 << 20);
        let line = format!("{{\"text\":\"{text}\"}}\n{{\"text\":\"ok then\"}}\n");
        let out = run_analyze(line.as_bytes(), 2);
        assert!(out[0]["error"].as_str().unwrap().contains("limit"));
        assert_eq!(out[1]["sentiment"]["label"], "positive");
        let huge = format!(
            "{}\n{{\"text\":\"fine\"}}\n",
            "x".repeat(MAX_LINE_BYTES + 10)
        );
        let out = run_analyze(huge.as_bytes(), 1);
        assert!(out[0]["error"].as_str().unwrap().contains("bytes"));
        assert!(out[1].get("error").is_none());
    }

    #[test]
    fn many_lines_cross_chunk_boundaries_in_order() {
        let mut input = String::new();
        for i in 0..(CHUNK * 2 + 5) {
            input.push_str(&format!("{{\"text\":\"order {i:05} is late\"}}\n"));
        }
        let out = run_analyze(input.as_bytes(), 2);
        assert_eq!(out.len(), CHUNK * 2 + 5);
        for (i, o) in out.iter().enumerate() {
            assert_eq!(o["entities"][0]["text"], format!("{i:05}"));
        }
    }

    #[test]
    fn replay_reports_where_and_why() {
        let intel = Intelligence::new(&Config::default()).unwrap();
        let input = concat!(
            r#"[{"author":"customer","text":"hi, how do I change my email?"},{"author":"bot","text":"Go to Settings > Profile."},{"author":"customer","text":"can I talk to a real person"}]"#,
            "\n",
            r#"{"id":"c2","customer":{"metadata":{"vip":true}},"messages":[{"author":"customer","text":"hello"}]}"#,
            "\n",
            r#"[{"author":"customer","text":"what are your opening hours?"}]"#,
            "\n",
            "nonsense\n",
            r#"[{"author":"customer","text":"is the shop open?","at":"2026-01-01T10:00:00Z"},{"author":"customer","text":"hello??","at":"2026-01-01T10:30:00Z"}]"#,
            "\n",
        );
        let mut out = Vec::new();
        let totals = replay(&intel, &mut input.as_bytes(), &mut out, true).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["at_message"], 2);
        assert_eq!(lines[0]["reasons"][0], "human_request");
        assert_eq!(lines[0]["route"], "support");
        assert_eq!(lines[1]["conversation"], "c2");
        assert_eq!(lines[1]["reasons"][0], "vip");
        assert_eq!(lines[2]["escalated"], false);
        assert!(lines[3]["error"].is_string());
        // Unanswered for 30 minutes: fires at the second message's time,
        // before that message counts.
        assert_eq!(lines[4]["reasons"][0], "unanswered");
        assert_eq!(lines[4]["at_message"], 0);
        assert_eq!(totals.conversations, 5);
        assert_eq!(totals.escalated, 3);
        assert_eq!(totals.errors, 1);
        assert_eq!(lines[5]["totals"]["by_reason"]["vip"], 1);
    }
}
