//! The summary on a handoff card: the customer's problem in their own
//! words, the key facts, and what automation already tried — at most three
//! short sentences, taken from the conversation rather than written anew,
//! so the card never says something the customer did not.

use serde::{Deserialize, Serialize};

use super::entities::{self, Entity, EntityKind, RedactionPolicy};
use super::{Analyzer, Scratch};

/// Who wrote a turn of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    /// The customer.
    Customer,
    /// Automation: a first responder, an FAQ bot.
    Bot,
    /// A person on the team.
    Agent,
    /// handoff itself (notices).
    System,
}

/// One turn of a conversation, as the summary reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Turn<'t> {
    /// Who wrote it.
    pub author: Author,
    /// What they wrote.
    pub text: &'t str,
}

/// The longest quote of the customer, in characters.
const MAX_QUOTE: usize = 180;
/// The most facts listed.
const MAX_FACTS: usize = 5;
/// The most bot attempts listed.
const MAX_TRIED: usize = 2;
/// The longest quote of one bot attempt, in characters.
const MAX_TRIED_QUOTE: usize = 90;

/// A card's summary, in parts and as text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// The customer's problem, quoted (redacted).
    pub problem: Option<String>,
    /// Key facts: entity texts, masked where the policy says.
    pub facts: Vec<String>,
    /// What automation said or did before the handoff.
    pub tried: Vec<String>,
}

impl Summary {
    /// The summary as at most three sentences.
    pub fn text(&self) -> String {
        let mut sentences = Vec::new();
        if let Some(problem) = &self.problem {
            sentences.push(format!("Customer: “{problem}”"));
        }
        if !self.facts.is_empty() {
            sentences.push(format!("Key facts: {}.", self.facts.join(", ")));
        }
        if !self.tried.is_empty() {
            let quoted: Vec<String> = self.tried.iter().map(|t| format!("“{t}”")).collect();
            sentences.push(format!("Already tried: {}.", quoted.join("; ")));
        }
        sentences.join(" ")
    }
}

/// Summarises a conversation offline.
pub fn summarize(analyzer: &Analyzer, turns: &[Turn<'_>]) -> Summary {
    let policy = analyzer.redaction();
    let mut scratch = Scratch::default();
    let mut best: Option<(f32, String)> = None;
    let mut facts: Vec<String> = Vec::new();
    let mut found = Vec::new();
    for (position, turn) in turns
        .iter()
        .filter(|t| t.author == Author::Customer)
        .enumerate()
    {
        entities::find(turn.text, &mut found);
        for e in &found {
            let fact = fact_text(policy, turn.text, e);
            if facts.len() < MAX_FACTS && !facts.contains(&fact) {
                facts.push(fact);
            }
        }
        for sentence in sentences(turn.text) {
            let Ok(analysis) = analyzer.analyze(sentence, &mut scratch) else {
                continue;
            };
            let words = sentence.split_whitespace().count();
            if words < 3 || analysis.human_request && words < 10 || is_pleasantry(sentence) {
                continue;
            }
            // The first clear statement of the problem, preferring facts,
            // strong feeling and a topic the classifier is sure of.
            let score = (words.min(25) as f32).sqrt()
                + 1.5 * analysis.entities.len().min(2) as f32
                + analysis.sentiment.score.min(0.0).abs()
                + analysis.intent.as_ref().map_or(0.0, |i| {
                    if i.name == "general" {
                        0.0
                    } else {
                        i.confidence
                    }
                })
                - 0.3 * position as f32;
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, policy.redact(sentence, &analysis.entities)));
            }
        }
    }
    let mut tried = Vec::new();
    for turn in turns.iter().filter(|t| t.author == Author::Bot) {
        let attempt =
            sentences(turn.text).find(|s| s.split_whitespace().count() >= 3 && !is_bot_filler(s));
        if let Some(first) = attempt {
            entities::find(first, &mut found);
            let quote = cut(&policy.redact(first, &found), MAX_TRIED_QUOTE);
            if !tried.contains(&quote) {
                tried.push(quote);
            }
        }
    }
    // The latest attempts are the ones the customer just rejected.
    let skip = tried.len().saturating_sub(MAX_TRIED);
    Summary {
        problem: best.map(|(_, s)| cut(&s, MAX_QUOTE)),
        facts,
        tried: tried.split_off(skip),
    }
}

fn fact_text(policy: &RedactionPolicy, text: &str, e: &Entity) -> String {
    let shown = policy.redact(
        e.text(text),
        &[Entity {
            kind: e.kind,
            start: 0,
            end: e.end - e.start,
        }],
    );
    match e.kind {
        EntityKind::OrderNumber => format!("order {shown}"),
        EntityKind::TicketNumber => format!("ticket {shown}"),
        _ => shown,
    }
}

/// Sentences of a message: split after `.`, `!`, `?` and at line breaks.
pub fn sentences(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            let trimmed = rest.trim_start();
            if trimmed.is_empty() {
                return None;
            }
            let bytes = trimmed.as_bytes();
            let mut end = trimmed.len();
            let mut i = 0;
            while i < bytes.len() {
                let b = bytes[i];
                if b == b'\n' {
                    end = i;
                    break;
                }
                if matches!(b, b'.' | b'!' | b'?') {
                    let mut j = i + 1;
                    while j < bytes.len() && matches!(bytes[j], b'.' | b'!' | b'?') {
                        j += 1;
                    }
                    // "3.50" and "example.com" are not sentence ends.
                    if j == bytes.len() || bytes[j].is_ascii_whitespace() {
                        end = j;
                        break;
                    }
                    i = j;
                    continue;
                }
                i += 1;
            }
            let sentence = trimmed[..end].trim();
            rest = &trimmed[end..];
            if !sentence.is_empty() {
                return Some(sentence);
            }
        }
    })
}

/// Apologies and pleasantries a bot opens with: not an attempt.
fn is_bot_filler(sentence: &str) -> bool {
    let lower = sentence.to_lowercase();
    [
        "sorry",
        "i'm sorry",
        "i am sorry",
        "we're sorry",
        "we are sorry",
        "thanks",
        "thank you",
        "i understand",
        "i see",
        "hi",
        "hello",
        "happy to help",
        "no problem",
        "great",
        "i apologi",
        "we apologi",
        "apologies",
        "good question",
        "got it",
        "sure",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

fn is_pleasantry(sentence: &str) -> bool {
    let lower = sentence.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    words.iter().all(|w| {
        matches!(
            *w,
            "hi" | "hello"
                | "hey"
                | "there"
                | "good"
                | "morning"
                | "afternoon"
                | "evening"
                | "thanks"
                | "thank"
                | "you"
                | "so"
                | "much"
                | "please"
                | "ok"
                | "okay"
                | "team"
                | "support"
                | "dear"
                | "sir"
                | "madam"
                | "regards"
                | "best"
                | "cheers"
        )
    })
}

/// `text` cut to at most `max` characters at a word boundary, with "…".
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let end = text
        .char_indices()
        .nth(max.saturating_sub(1))
        .map_or(text.len(), |(i, _)| i);
    let head = &text[..end];
    let head = head
        .rfind(' ')
        .filter(|&i| i > end / 2)
        .map_or(head, |i| &head[..i]);
    format!("{}…", head.trim_end_matches([',', ';', ':', ' ']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::AnalyzerSettings;

    fn turn(author: Author, text: &str) -> Turn<'_> {
        Turn { author, text }
    }

    #[test]
    fn quotes_the_problem_lists_facts_and_attempts() {
        let analyzer = Analyzer::new(&AnalyzerSettings::default());
        let turns = [
            turn(Author::Customer, "Hi there!"),
            turn(
                Author::Customer,
                "I was charged $49.99 twice for order 88123 and my card 4242 4242 4242 4242 shows both. Thanks",
            ),
            turn(
                Author::Bot,
                "Sorry to hear that. You can request a refund from the Orders page.",
            ),
            turn(Author::Customer, "That didn't help. agent please"),
        ];
        let summary = summarize(&analyzer, &turns);
        let problem = summary.problem.clone().unwrap();
        assert!(
            problem.starts_with("I was charged $49.99 twice"),
            "{problem}"
        );
        assert!(problem.contains("[card ending 4242]") && !problem.contains("4242 4242"));
        assert_eq!(
            summary.facts,
            ["$49.99", "order 88123", "[card ending 4242]"]
        );
        assert_eq!(
            summary.tried,
            ["You can request a refund from the Orders page."]
        );
        let text = summary.text();
        assert!(text.matches(['.', '”']).count() >= 3);
        assert!(!text.contains("4242 4242"));
    }

    #[test]
    fn empty_conversations_have_empty_summaries() {
        let analyzer = Analyzer::new(&AnalyzerSettings::default());
        assert_eq!(summarize(&analyzer, &[]).text(), "");
        let only_pleasantries = [
            turn(Author::Customer, "hello"),
            turn(Author::Customer, "agent"),
        ];
        assert_eq!(summarize(&analyzer, &only_pleasantries).problem, None);
    }

    #[test]
    fn sentences_split_on_ends_but_not_inside_numbers_or_links() {
        let s: Vec<&str> = sentences("It costs 3.50 at example.com. Why?! ok\nnext line").collect();
        assert_eq!(
            s,
            ["It costs 3.50 at example.com.", "Why?!", "ok", "next line"]
        );
    }

    #[test]
    fn long_quotes_are_cut_at_a_word() {
        let long = "word ".repeat(100);
        let out = cut(&long, 20);
        assert!(out.chars().count() <= 20 && out.ends_with('…'));
        assert_eq!(cut("short", 20), "short");
    }
}
