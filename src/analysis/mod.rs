//! Offline analysis of customer messages: sentiment, intent, explicit
//! requests for a person, entities and redaction, language, and the
//! conversation summary for the handoff card.
//!
//! Everything here is pure and synchronous: an [`Analyzer`] is built once
//! from config (learning the intent taxonomy takes a few milliseconds) and
//! then analyses a message in microseconds, with no I/O. The optional LLM
//! summary in [`llm`] is the one part that calls out, and it always has the
//! offline summary to fall back to.

pub mod entities;
pub mod human;
pub mod intent;
pub mod lang;
pub mod llm;
pub mod sentiment;
pub mod summary;
pub mod table;
pub mod text;

use serde::Serialize;

use self::entities::{Entity, RedactionPolicy};
use self::intent::{IntentModel, IntentScratch, IntentSpec};
use self::sentiment::{Sentiment, SentimentModel};
use self::text::{CharIndex, Token};

/// The most text one message is analysed on. Longer input is refused:
/// support messages are short, and a megabyte of text is a paste or an
/// attack, not a conversation.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Why a text could not be analysed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    /// Nothing to analyse.
    #[error("text is empty")]
    Empty,
    /// Over [`MAX_TEXT_BYTES`].
    #[error("text is {0} bytes; the limit is {MAX_TEXT_BYTES}")]
    TooLong(usize),
}

/// What the analyser needs from config.
#[derive(Debug, Clone)]
pub struct AnalyzerSettings {
    /// The taxonomy (defaults merged with the team's).
    pub intents: Vec<IntentSpec>,
    /// Intent for messages the classifier is unsure about.
    pub fallback_intent: String,
    /// Below this confidence the fallback intent is reported.
    pub min_intent_confidence: f32,
    /// Brand and product names that carry no sentiment.
    pub neutral_words: Vec<String>,
    /// What is masked before text reaches team chat.
    pub redaction: RedactionPolicy,
}

/// The intent reported when the classifier is unsure, unless config
/// names another.
pub const DEFAULT_FALLBACK_INTENT: &str = "general";
/// The confidence below which the fallback intent is reported, unless
/// config says otherwise.
pub const DEFAULT_MIN_INTENT_CONFIDENCE: f32 = 0.25;

impl Default for AnalyzerSettings {
    fn default() -> Self {
        Self {
            intents: intent::default_taxonomy(),
            fallback_intent: DEFAULT_FALLBACK_INTENT.to_owned(),
            min_intent_confidence: DEFAULT_MIN_INTENT_CONFIDENCE,
            neutral_words: Vec::new(),
            redaction: RedactionPolicy::default(),
        }
    }
}

/// Everything known about one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Its sentiment.
    pub sentiment: Sentiment,
    /// Its most likely intent.
    pub intent: Option<IntentResult>,
    /// Does it ask for a person?
    pub human_request: bool,
    /// Facts found in it (byte spans).
    pub entities: Vec<Entity>,
    /// The text with masked entities replaced.
    pub redacted: String,
}

impl Default for Analysis {
    /// A neutral analysis with nothing found, for [`Analyzer::analyze_into`]
    /// to fill.
    fn default() -> Self {
        Self {
            sentiment: Sentiment::of_score(0.0),
            intent: None,
            human_request: false,
            entities: Vec::new(),
            redacted: String::new(),
        }
    }
}

/// An intent by name with its confidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentResult {
    /// The intent's name.
    pub name: String,
    /// 0..1.
    pub confidence: f32,
}

/// The built models and settings.
#[derive(Debug)]
pub struct Analyzer {
    sentiment: SentimentModel,
    intents: IntentModel,
    redaction: RedactionPolicy,
}

/// Scratch buffers reused across messages, so analysing a stream does not
/// allocate per token.
#[derive(Debug, Default)]
pub struct Scratch {
    tokens: Vec<Token>,
    intent: IntentScratch,
    lower: String,
}

/// Builds what every analyser shares and no config changes (the parsed
/// default taxonomy, the sentiment lexicon, the person-word table), those
/// not built yet. [`Analyzer::new`] builds them too, on another core; a
/// caller that knows an analyser is coming (`handoff analyze`) calls this
/// on a thread of its own first, so they build while config is read.
/// Each is built once, by whichever thread asks for it first.
pub fn prepare() {
    intent::prepare();
    sentiment::prepare();
    human::prepare();
}

impl Analyzer {
    /// Builds the models.
    pub fn new(settings: &AnalyzerSettings) -> Self {
        // Start-up is a visible share of a short `handoff analyze` run, so
        // the shared tables build on another core (or are being built
        // already, see `prepare`) while the intent model trains here.
        // Asking in the other order here, this thread takes the
        // person-word table if the other has not reached it yet.
        std::thread::scope(|scope| {
            let tables = scope.spawn(prepare);
            let intents = IntentModel::train(
                &settings.intents,
                &settings.fallback_intent,
                settings.min_intent_confidence,
            );
            human::prepare();
            let sentiment = SentimentModel::new(&settings.neutral_words);
            tables
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Self {
                sentiment,
                intents,
                redaction: settings.redaction.clone(),
            }
        })
    }

    /// The intents this analyser knows.
    pub fn intent_names(&self) -> &[String] {
        self.intents.names()
    }

    /// The redaction policy.
    pub fn redaction(&self) -> &RedactionPolicy {
        &self.redaction
    }

    /// Analyses one message.
    pub fn analyze(&self, text: &str, scratch: &mut Scratch) -> Result<Analysis, AnalysisError> {
        let mut out = Analysis::default();
        self.analyze_into(text, scratch, &mut out)?;
        Ok(out)
    }

    /// [`Self::analyze`] into an analysis whose buffers are reused, so a
    /// stream of messages allocates nothing per message. On error `out` is
    /// left as it was.
    pub fn analyze_into(
        &self,
        text: &str,
        scratch: &mut Scratch,
        out: &mut Analysis,
    ) -> Result<(), AnalysisError> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(AnalysisError::TooLong(text.len()));
        }
        if text.trim().is_empty() {
            return Err(AnalysisError::Empty);
        }
        text::tokenize(text, |c| self.sentiment.is_emoticon(c), &mut scratch.tokens);
        text::lowercase_same_len(text, &mut scratch.lower);
        let (tokens, lower) = (&scratch.tokens, scratch.lower.as_str());
        out.sentiment = self.sentiment.score(text, lower, tokens);
        match self.intents.classify(lower, tokens, &mut scratch.intent) {
            Some(guess) => {
                let name = &self.intents.names()[guess.index];
                match &mut out.intent {
                    Some(intent) => {
                        intent.name.clear();
                        intent.name.push_str(name);
                        intent.confidence = guess.confidence;
                    }
                    None => {
                        out.intent = Some(IntentResult {
                            name: name.clone(),
                            confidence: guess.confidence,
                        })
                    }
                }
            }
            None => out.intent = None,
        }
        out.human_request = human::is_human_request(lower, tokens);
        entities::find(text, &mut out.entities);
        self.redaction
            .redact_into(text, &out.entities, &mut out.redacted);
        Ok(())
    }
}

/// The public JSON shape of one analysis (`handoff analyze`), with spans
/// as character offsets.
#[derive(Debug, Serialize)]
pub struct AnalysisOutput<'a> {
    /// Label and score.
    pub sentiment: SentimentOutput,
    /// Name and confidence.
    pub intent: Option<IntentOutput<'a>>,
    /// Does it ask for a person?
    pub human_request: bool,
    /// The facts, with character spans.
    pub entities: Vec<EntityOutput<'a>>,
    /// The masked text.
    pub redacted: &'a str,
}

/// Sentiment with its score rounded for output.
#[derive(Debug, Serialize)]
pub struct SentimentOutput {
    /// negative, neutral or positive.
    pub label: sentiment::Label,
    /// -1..1, four decimals.
    pub score: f64,
}

/// An intent in the output, its confidence rounded.
#[derive(Debug, Serialize)]
pub struct IntentOutput<'a> {
    /// The intent's name.
    pub name: &'a str,
    /// 0..1, four decimals.
    pub confidence: f64,
}

/// Four decimals are all a score or confidence means; more is f32 noise.
fn round4(x: f32) -> f64 {
    (f64::from(x) * 10_000.0).round() / 10_000.0
}

/// One entity in the output.
#[derive(Debug, Serialize)]
pub struct EntityOutput<'a> {
    /// The kind's name.
    pub kind: entities::EntityKind,
    /// The entity's text.
    pub text: &'a str,
    /// Start, in characters.
    pub start: usize,
    /// End, in characters (exclusive).
    pub end: usize,
}

impl<'a> AnalysisOutput<'a> {
    /// The output shape of `analysis` of `text`.
    pub fn new(text: &'a str, analysis: &'a Analysis) -> Self {
        let index = CharIndex::new(text);
        Self {
            sentiment: SentimentOutput {
                label: analysis.sentiment.label,
                score: round4(analysis.sentiment.score),
            },
            intent: analysis.intent.as_ref().map(|i| IntentOutput {
                name: &i.name,
                confidence: round4(i.confidence),
            }),
            human_request: analysis.human_request,
            entities: analysis
                .entities
                .iter()
                .map(|e| EntityOutput {
                    kind: e.kind,
                    text: e.text(text),
                    start: index.chars_at(e.start),
                    end: index.chars_at(e.end),
                })
                .collect(),
            redacted: &analysis.redacted,
        }
    }
}

/// Appends the [`AnalysisOutput`] of `analysis` of `text` as one JSON
/// object, byte for byte what `serde_json` writes for it, without building
/// it: `handoff analyze` writes one per message, and the generic
/// serializer spent more time on the fixed keys than on the message.
pub fn write_output_json(text: &str, analysis: &Analysis, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"sentiment\":{\"label\":\"");
    out.extend_from_slice(analysis.sentiment.label.as_str().as_bytes());
    out.extend_from_slice(b"\",\"score\":");
    push_json_number(out, round4(analysis.sentiment.score));
    out.extend_from_slice(b"},\"intent\":");
    match &analysis.intent {
        Some(intent) => {
            out.extend_from_slice(b"{\"name\":");
            push_json_str(out, &intent.name);
            out.extend_from_slice(b",\"confidence\":");
            push_json_number(out, round4(intent.confidence));
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"human_request\":");
    out.extend_from_slice(if analysis.human_request {
        b"true"
    } else {
        b"false"
    });
    out.extend_from_slice(b",\"entities\":[");
    let index = CharIndex::new(text);
    for (i, e) in analysis.entities.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"kind\":\"");
        out.extend_from_slice(e.kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"text\":");
        push_json_str(out, e.text(text));
        out.extend_from_slice(b",\"start\":");
        push_json_number(out, index.chars_at(e.start));
        out.extend_from_slice(b",\"end\":");
        push_json_number(out, index.chars_at(e.end));
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"redacted\":");
    push_json_str(out, &analysis.redacted);
    out.push(b'}');
}

/// A number as `serde_json` writes it (shortest round-trip form).
fn push_json_number(out: &mut Vec<u8>, n: impl Serialize) {
    serde_json::to_writer(&mut *out, &n).expect("writing a number to memory cannot fail");
}

/// Where the first byte JSON must escape is: eight bytes at a time while
/// none is (most text has none), then byte by byte.
fn next_to_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // True when a byte of `w` is zero: exact as a yes or no (the classic
    // bit trick; which byte it flags is not reliable, hence the byte scan).
    let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH != 0;
    let mut at = 0;
    for chunk in bytes.chunks_exact(8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // Bytes under 0x20, then quotes, then backslashes.
        let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0;
        if below_space
            || has_zero(w ^ (ONES * u64::from(b'"')))
            || has_zero(w ^ (ONES * u64::from(b'\\')))
        {
            break;
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        .map(|i| at + i)
}

/// A JSON string literal: quotes, backslashes and control characters
/// escaped as `serde_json` escapes them, everything else copied in runs.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut rest = s.as_bytes();
    while let Some(i) = next_to_escape(rest) {
        out.extend_from_slice(&rest[..i]);
        let b = rest[i];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_json_matches_serde() {
        let analyzer = Analyzer::new(&AnalyzerSettings::default());
        let mut scratch = Scratch::default();
        for text in [
            "Héllo, I was charged twice for order 12345, card 4242 4242 4242 4242 and I want a refund NOW. agent please",
            "quote \" backslash \\ tab \t bell \u{7} nul \u{0} del \u{7f} newline \n emoji 😡 mail a@b.co",
            "hi",
            "great, thanks!",
        ] {
            let a = analyzer.analyze(text, &mut scratch).unwrap();
            let output = AnalysisOutput::new(text, &a);
            let mut ours = Vec::new();
            write_output_json(text, &a, &mut ours);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&output).unwrap(),
                "{text}"
            );
        }
        let mut x = analyzer.analyze("x", &mut scratch).unwrap();
        x.intent = None;
        let mut ours = Vec::new();
        write_output_json("x", &x, &mut ours);
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string(&AnalysisOutput::new("x", &x)).unwrap()
        );
    }

    #[test]
    fn escapes_are_found_in_every_position() {
        // Every byte JSON escapes, and some it does not, at every offset
        // of the eight-byte steps, among ASCII and non-ASCII neighbours.
        for filler in ["a", "é"] {
            for special in ["\"", "\\", "\n", "\u{1}", "\u{1f}", " ", "\u{7f}", "é"] {
                for at in 0..20 {
                    let text = format!("{}{special}{}", filler.repeat(at), filler.repeat(9));
                    let mut ours = Vec::new();
                    push_json_str(&mut ours, &text);
                    assert_eq!(
                        String::from_utf8(ours).unwrap(),
                        serde_json::to_string(&text).unwrap(),
                        "{text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_whole_message() {
        let analyzer = Analyzer::new(&AnalyzerSettings::default());
        let text =
            "Héllo, I was charged twice for order 12345 and I want a refund NOW. agent please";
        let a = analyzer.analyze(text, &mut Scratch::default()).unwrap();
        assert_eq!(a.sentiment.label, sentiment::Label::Negative);
        assert!(a.human_request);
        let out = serde_json::to_value(AnalysisOutput::new(text, &a)).unwrap();
        assert_eq!(out["entities"][0]["kind"], "order_number");
        assert_eq!(out["entities"][0]["text"], "12345");
        let start = out["entities"][0]["start"].as_u64().unwrap() as usize;
        assert_eq!(
            text.chars().skip(start).take(5).collect::<String>(),
            "12345"
        );
    }

    #[test]
    fn empty_and_oversized_text_are_refused() {
        let analyzer = Analyzer::new(&AnalyzerSettings::default());
        let mut scratch = Scratch::default();
        assert_eq!(
            analyzer.analyze("  ", &mut scratch),
            Err(AnalysisError::Empty)
        );
        let huge = "a".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            analyzer.analyze(&huge, &mut scratch),
            Err(AnalysisError::TooLong(MAX_TEXT_BYTES + 1))
        );
    }
}
