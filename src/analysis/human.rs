//! Does the customer explicitly ask for a person?
//!
//! Rules rather than the intent classifier, because this boolean opens a
//! case on its own and must be both precise and explainable:
//! - a contact verb followed by a person ("talk to someone", "transfer me
//!   to an agent", "get me a human");
//! - "real/live/actual" next to a person ("real person", "live agent");
//! - a short message that is mostly a person word ("human!!", "agent
//!   please", "representative");
//! - "is there a human", "are there any people".
//!
//! "Customer service" alone is a department, not a person: "what are
//! customer service's hours" is not a request. A refusal ("I don't want to
//! talk to anyone") is not one either. Person words are matched allowing one
//! typo, since people asking for a human are rarely typing carefully.

use std::borrow::Cow;

use super::table::WordTable;
use super::text::{FastMap, Kind, Token, lower_into};

/// Words naming a person on the company's side.
const PERSONS: &[&str] = &[
    "human",
    "humans",
    "person",
    "people",
    "agent",
    "agents",
    "operator",
    "representative",
    "representitive",
    "rep",
    "reps",
    "someone",
    "somebody",
    "anyone",
    "anybody",
    "staff",
    "employee",
    "manager",
    "supervisor",
    "assistant",
    "advisor",
    "adviser",
    "specialist",
    "associate",
    "consultant",
    "technician",
    "man",
    "woman",
    "individual",
    "being",
];
/// Person words strong enough to be a request on their own in a short message.
const STRONG: &[&str] = &[
    "human",
    "humans",
    "agent",
    "operator",
    "representative",
    "representitive",
    "rep",
    "person",
    "supervisor",
    "manager",
];
/// Verbs of getting in touch.
const CONTACT: &[&str] = &[
    "talk",
    "talking",
    "talked",
    "speak",
    "speaking",
    "chat",
    "chatting",
    "contact",
    "contacting",
    "reach",
    "reaching",
    "call",
    "calling",
    "connect",
    "connecting",
    "transfer",
    "transferring",
    "get",
    "put",
    "escalate",
    "escalating",
    "need",
    "want",
    "wanna",
    "give",
    "ask",
    "message",
    "email",
    "phone",
    "text",
    "communicate",
    "communicating",
    "deal",
    "dealing",
    "ring",
];
/// Words that may sit between a contact verb and the person.
const LINKERS: &[&str] = &[
    "to", "with", "a", "an", "the", "some", "me", "us", "one", "of", "your", "you", "real", "live",
    "actual", "human", "proper", "another", "any", "goddamn", "damn", "fucking", "bloody",
    "freaking", "frigging", "customer", "support", "service", "care", "sales",
];
/// Adjectives that make a person word unambiguous.
const REAL: &[&str] = &["real", "live", "actual", "living", "human", "physical"];
/// Words that make "anyone"/"someone" not the company's person.
const REFUSAL: &[&str] = &["dont", "don't", "not", "no", "never", "nobody"];
/// Filler allowed around a person word in a short request.
const FILLER: &[&str] = &[
    "please",
    "pls",
    "plz",
    "a",
    "an",
    "the",
    "now",
    "asap",
    "me",
    "i",
    "want",
    "need",
    "just",
    "ok",
    "okay",
    "hi",
    "hello",
    "hey",
    "thanks",
    "real",
    "live",
    "actual",
    "talk",
    "to",
    "speak",
    "with",
    "can",
    "get",
    "give",
    "connect",
    "transfer",
    "us",
    "customer",
    "service",
    "support",
    "immediately",
    "right",
    "away",
    "already",
    "seriously",
    "human",
    "agent",
    "some",
    "one",
    "someone",
    "for",
    "god's",
    "sake",
    "you",
    "let",
];

/// True when the message asks to talk to a person. `lower` is the message
/// lowercased with the same byte ranges as its tokens
/// ([`super::text::lowercase_same_len`]).
pub fn is_human_request(lower: &str, tokens: &[Token]) -> bool {
    let text = lower;
    // Most messages name no person at all: find out before building
    // anything.
    let any_person = tokens
        .iter()
        .filter(|t| t.kind == Kind::Word)
        .any(|t| is_person(t.text(text)));
    if !any_person {
        return false;
    }
    // Borrowed from `lower` unless a typographic apostrophe needs folding:
    // a quarter of messages get here ("people", "being" and "stuff", one
    // typo from "staff", are common words), so no allocation per word.
    let words: Vec<Cow<'_, str>> = tokens
        .iter()
        .filter(|t| t.kind == Kind::Word)
        .map(|t| {
            let w = t.text(text);
            if w.contains('’') {
                Cow::Owned(w.replace('’', "'"))
            } else {
                Cow::Borrowed(w)
            }
        })
        .collect();
    if words.is_empty() || !words.iter().any(|w| is_person(w)) {
        return false;
    }
    if refuses(&words) {
        return false;
    }
    if is_bare_request(words.iter().map(|w| &**w), 1) {
        return true;
    }
    let persons_ask = (0..words.len()).filter(|&i| is_person(&words[i])).any(|i| {
        let adjective = i > 0 && REAL.contains(&&*words[i - 1]) && words[i] != "human";
        if adjective && (STRONG.contains(&canonical(&words[i])) || words[i] == "someone") {
            return true;
        }
        let existence = i >= 2
            && matches!(&*words[i - 2], "is" | "are" | "any" | "there")
            && matches!(&*words[i - 1], "a" | "an" | "any" | "there" | "some");
        if existence && is_strong_human(&words[i]) {
            return true;
        }
        // A contact verb, then only linking words, then the person: "talk
        // to someone", "contact somebody", "chat with a goddamn person",
        // "speak to one of your agents".
        let mut j = i;
        while j > 0 && i - j < 5 {
            j -= 1;
            let w = &*words[j];
            if CONTACT.contains(&w) {
                return person_means_staff(&words, i);
            }
            if !LINKERS.contains(&w) {
                return false;
            }
        }
        false
    });
    // "I was charged twice. agent please": a bare request as one sentence
    // (or clause) of a longer message. Asked last, as the dearest check.
    persons_ask || (words.len() > 2 && sentences_are_bare_requests(text))
}

/// A short message made of a person word and filler: "human!!", "agent
/// please", "representative now"; `min_words` or more of them. Takes the
/// words one by one and stops at the first that rules it out.
fn is_bare_request<W: AsRef<str>>(words: impl IntoIterator<Item = W>, min_words: usize) -> bool {
    let (mut count, mut strong) = (0, false);
    for w in words {
        let w = w.as_ref();
        count += 1;
        if count > 6 {
            return false;
        }
        let person = person(w);
        if person.is_none() && !FILLER.contains(&w) {
            return false;
        }
        // The canonical word: a person word is never a filler's spelling.
        strong |= STRONG.contains(&person.unwrap_or(w));
    }
    strong && count >= min_words
}

fn sentences_are_bare_requests(text: &str) -> bool {
    let mut buf = String::new();
    // `text` is lowercase already: only a non-ASCII word is lowered again
    // (and allocated).
    let mut bare = |part: &str, min_words: usize| {
        let words = part
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .filter(|w| !w.is_empty())
            .map(|w| {
                if w.is_ascii() {
                    Cow::Borrowed(w)
                } else {
                    Cow::Owned(lower_into(w, &mut buf).to_owned())
                }
            });
        is_bare_request(words, min_words)
    };
    super::summary::sentences(text).any(|sentence| {
        bare(sentence, 1)
            // "agent please, I cannot log in": a bare request as a clause.
            // At least two words, so a lone vocative ("Agent, my card…")
            // or an aside ("thanks, human") does not count.
            || sentence
                .split([',', ';', ':'])
                .any(|clause| bare(clause, 2))
    })
}

fn is_strong_human(word: &str) -> bool {
    matches!(
        canonical(word),
        "human" | "humans" | "person" | "people" | "agent" | "agents"
    )
}

/// "someone" after "with" is staff in "talk with someone", but not in
/// "someone charged my card" (no contact verb before it).
fn person_means_staff(words: &[Cow<'_, str>], i: usize) -> bool {
    let w = canonical(&words[i]);
    if matches!(w, "man" | "woman" | "being" | "individual") {
        return i > 0 && (REAL.contains(&&*words[i - 1]));
    }
    true
}

fn refuses(words: &[Cow<'_, str>]) -> bool {
    words.windows(3).any(|w| {
        REFUSAL.contains(&&*w[0])
            && matches!(&*w[1], "want" | "need" | "wanna" | "like")
            && !matches!(&*w[2], "a" | "another")
            && !w[2].starts_with("bot")
    }) && !words.iter().any(|w| w == "but")
}

/// The person word a possibly misspelt word stands for.
fn canonical(word: &str) -> &str {
    person(word).unwrap_or(word)
}

fn is_person(word: &str) -> bool {
    person(word).is_some()
}

/// Bytes of the words [`person`] answers from its table; a word with any
/// other byte (rare: non-ASCII letters) takes the slow path.
const fn in_table_alphabet(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'\'' | b'-' | b'_')
}

/// [`in_table_alphabet`] as a table: it is asked of every byte of most
/// words.
static IN_TABLE_ALPHABET: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = in_table_alphabet(b as u8);
        b += 1;
    }
    table
};

/// Builds the table [`person`] looks words up in, if it is not built yet
/// (otherwise the first message builds it).
pub fn prepare() {
    person("");
}

/// The person word `word` is or stands for (allowing one typo), if any.
///
/// This runs on every word of every message, so instead of edit-checking
/// candidates per word it looks the word up in a table of every person word
/// and every one-edit variant that [`person_slow`] accepts, built once.
/// The table is exact: a word that [`person_slow`] maps to a person is one
/// edit from it, and the edit's bytes come from the word, so a word over
/// the table's alphabet is in the table exactly when it is a person word.
fn person(word: &str) -> Option<&'static str> {
    static TABLE: std::sync::OnceLock<WordTable<&'static str>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(build_person_table);
    if word.len() < 3 {
        // Shorter than any person word ("man", "rep") and than any typo
        // the table forgives: the commonest words end here.
        return None;
    }
    if !(4..=16).contains(&word.len()) {
        // Too short or long for a typo to be forgiven: only exact words.
        return table.get(word).copied();
    }
    if word.bytes().all(|b| IN_TABLE_ALPHABET[usize::from(b)]) {
        table.get(word).copied()
    } else if !word.is_ascii() {
        // A non-ASCII character is two bytes or more, and one edit changes
        // one byte (or swaps two): no word with one is a typo of a person
        // word, which are ASCII. Non-ASCII text would otherwise take the
        // slow path for every word.
        None
    } else {
        person_slow(word)
    }
}

/// The table [`person`] looks words up in: every person word, and every
/// other word over the table's alphabet that [`person_by_typo`] maps to a
/// person word, with that person word.
///
/// Such a word is one edit from the person word it maps to, so it is
/// among the one-edit variants of the person words of five letters or
/// more. Which person word it maps to is decided here without asking
/// [`person_by_typo`] of every variant (it edit-checks each against a
/// bucket of candidates, most of the table's building time): of the
/// person words a variant is one edit from, [`person_by_typo`] answers
/// the first, in [`PERSONS`] order, of those starting with the variant's
/// first letter, or else the first of those starting with its second
/// letter; one starting with neither is never asked. Variants come in
/// [`PERSONS`] order, so a later one replaces an earlier only from the
/// better bucket. The test against [`person_slow`] checks all this.
fn build_person_table() -> WordTable<&'static str> {
    let alphabet: Vec<u8> = (0..=u8::MAX).filter(|&b| in_table_alphabet(b)).collect();
    // About 16,000 words end up in the table: sized for them at once
    // (the size growing would reach), not grown step by step.
    let mut table = WordTable::with_capacity(1 << 14);
    for p in PERSONS {
        table.insert(p, *p);
    }
    for p in PERSONS.iter().filter(|p| p.len() >= 5) {
        let first = p.as_bytes()[0];
        one_edit_variants(p, &alphabet, |variant| {
            let b = variant.as_bytes();
            if !(4..=16).contains(&b.len()) {
                return;
            }
            // From the first letter's bucket, or else the second's.
            let from_first = b[0] == first;
            if !from_first && b[1] != first {
                return;
            }
            table.update(variant, |found| match found {
                // A person word itself, or a typo of an earlier person
                // word from a bucket as good (or this one's own again).
                Some(found) if found == variant || !from_first || found.as_bytes()[0] == first => {
                    found
                }
                _ => p,
            });
        });
    }
    table
}

/// Calls `f` with every string one deletion, substitution, insertion or
/// swap of neighbours away from `word`, over `alphabet` (some more than
/// once), in one reused buffer. `word` and `alphabet` are ASCII, so every
/// byte offset is a character boundary.
fn one_edit_variants(word: &str, alphabet: &[u8], mut f: impl FnMut(&str)) {
    debug_assert!(word.is_ascii() && alphabet.is_ascii());
    let bytes = word.as_bytes();
    let mut v = String::with_capacity(word.len() + 1);
    for i in 0..word.len() {
        v.clear();
        v.push_str(&word[..i]);
        v.push_str(&word[i + 1..]);
        f(&v);
        if i + 1 < word.len() {
            v.clear();
            v.push_str(&word[..i]);
            v.push(char::from(bytes[i + 1]));
            v.push(char::from(bytes[i]));
            v.push_str(&word[i + 2..]);
            f(&v);
        }
    }
    for &c in alphabet {
        let c = char::from(c);
        for i in 0..=word.len() {
            v.clear();
            v.push_str(&word[..i]);
            v.push(c);
            v.push_str(&word[i..]);
            f(&v);
            if i < word.len() {
                v.clear();
                v.push_str(&word[..i]);
                v.push(c);
                v.push_str(&word[i + 1..]);
                f(&v);
            }
        }
    }
}

/// [`person`] by edit-checking candidates: the definition the table is
/// built from, and the path for words outside its alphabet (kept out of
/// line so that [`person`], asked of every word, inlines).
#[inline(never)]
fn person_slow(word: &str) -> Option<&'static str> {
    if let Some(exact) = PERSONS.iter().find(|p| **p == word) {
        return Some(exact);
    }
    person_by_typo(word)
}

/// The person word `word` is one typo of, for a word that is no person
/// word itself ([`person_slow`] without the exact match).
fn person_by_typo(word: &str) -> Option<&'static str> {
    struct Index {
        /// Person words of five letters or more, by first letter, so a
        /// word is edit-checked against a few candidates, not all.
        fuzzy: FastMap<u8, Vec<&'static str>>,
    }
    static INDEX: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut fuzzy: FastMap<u8, Vec<&'static str>> = FastMap::default();
        for p in PERSONS.iter().filter(|p| p.len() >= 5) {
            fuzzy.entry(p.as_bytes()[0]).or_default().push(p);
        }
        Index { fuzzy }
    });
    if !(4..=16).contains(&word.len()) {
        return None;
    }
    // The first or second letter picks the bucket, which also covers a
    // swap of the first two letters ("aegnt").
    let b = word.as_bytes();
    [b[0], b[1]]
        .iter()
        .filter_map(|first| index.fuzzy.get(first))
        .flatten()
        .find(|p| p.len().abs_diff(word.len()) <= 1 && within_one_edit(word, p))
        .copied()
}

/// True when `a` and `b` differ by at most one insertion, deletion,
/// substitution or swap of neighbours.
fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    if ra.is_empty() || rb.is_empty() {
        return ra.len() + rb.len() <= 1;
    }
    ra[1..] == rb[1..]
        || ra[1..] == *rb
        || *ra == rb[1..]
        || (ra.len() >= 2
            && rb.len() >= 2
            && ra[0] == rb[1]
            && ra[1] == rb[0]
            && ra[2..] == rb[2..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::text::tokenize;

    fn asks(text: &str) -> bool {
        let mut tokens = Vec::new();
        tokenize(text, |_| false, &mut tokens);
        let mut lower = String::new();
        crate::analysis::text::lowercase_same_len(text, &mut lower);
        is_human_request(&lower, &tokens)
    }

    #[test]
    fn explicit_requests() {
        for text in [
            "can I talk to a real person",
            "agent please",
            "representative",
            "human!!",
            "HUMAN",
            "I want to speak with someone",
            "transfer me to an agent",
            "get me a human now",
            "is there a human there?",
            "let me talk to a live agent",
            "i do not know how to chat with somenoe",
            "you aren't being helpful, I want help talking with someone",
            "I need to speak to a manager",
            "connect me with a representitive",
            "agent please, I cannot log in",
            "human please; I was charged twice and nobody answers",
        ] {
            assert!(asks(text), "{text}");
        }
    }

    #[test]
    fn not_requests() {
        for text in [
            "what are your customer service hours",
            "someone charged my card twice",
            "my password does not work",
            "I don't want to talk to anyone, just fix it",
            "the agent was very helpful, thanks",
            "how do I become a sales agent",
            "",
            "is this a real product?",
            "Agent, my card was charged twice last week",
            "thanks, human, but the refund never came through",
        ] {
            assert!(!asks(text), "{text}");
        }
    }

    #[test]
    fn the_person_table_agrees_with_edit_checking() {
        // Every person word, every one- and two-edit variant of each (over
        // the table's alphabet and a few bytes outside it) and some plain
        // words: the table must answer exactly as the slow definition.
        let mut alphabet: Vec<u8> = (0..=u8::MAX).filter(|&b| in_table_alphabet(b)).collect();
        alphabet.extend_from_slice(b"A.");
        let mut checked = 0;
        let mut words = Vec::new();
        for p in PERSONS {
            one_edit_variants(p, &alphabet, |one| {
                words.push(one.to_owned());
                one_edit_variants(one, b"aeiou'z", |two| words.push(two.to_owned()));
            });
        }
        for word in &words {
            assert_eq!(person(word), person_slow(word), "{word}");
            checked += 1;
        }
        // Non-ASCII characters in and instead of every letter.
        for p in PERSONS {
            for i in 0..=p.len() {
                for c in ["é", "’", "ä"] {
                    let inserted = format!("{}{c}{}", &p[..i], &p[i..]);
                    assert_eq!(person(&inserted), person_slow(&inserted), "{inserted}");
                    if i < p.len() {
                        let replaced = format!("{}{c}{}", &p[..i], &p[i + 1..]);
                        assert_eq!(person(&replaced), person_slow(&replaced), "{replaced}");
                    }
                }
            }
        }
        for word in [
            "humän", "agënt", "the", "order", "refund", "people's", "", "x",
        ] {
            assert_eq!(person(word), person_slow(word), "{word}");
        }
        assert!(checked > 100_000);
    }

    #[test]
    fn one_typo_is_forgiven() {
        assert!(within_one_edit("somenoe", "someone"));
        assert!(within_one_edit("operater", "operator"));
        assert!(within_one_edit("humna", "human"));
        assert!(!within_one_edit("manage", "manager1"));
        assert!(!within_one_edit("persons", "prison"));
    }
}
