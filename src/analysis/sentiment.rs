//! Sentiment of short support messages, and its trend over a conversation.
//!
//! A lexicon scorer in the style of VADER (valences from its lexicon, with
//! negation, intensifiers, capitals, "but" and exclamation marks), changed
//! where VADER goes wrong on support traffic:
//! - mentions and brand names are not opinions (`@united`, configured names);
//! - requests are not praise: "please", "help", "support" carry nothing, and
//!   thanks count only when nothing in the message is negative, so
//!   "please help, thanks" is neutral and "thanks for nothing" negative;
//! - a negated working verb is a failure report ("doesn't load", "didn't
//!   help", "haven't received");
//! - support phrases ("still waiting", "charged twice", "no response");
//! - a message shouted in capitals is not calm even without opinion words;
//! - cheap sarcasm: "love how…", "oh great", "yeah right" next to a
//!   complaint turns the praise around.

use serde::Serialize;

use super::table::WordTable;
use super::text::{FastSet, Kind, Token, letters_and_shouting};

const VADER_LEXICON: &str = include_str!("sentiment_lexicon.tsv");
const SUPPORT_LEXICON: &str = include_str!("sentiment_support.tsv");

/// How much one intensifier adds (VADER's empirically derived step).
const BOOST: f32 = 0.293;
/// How much capitals add to a shouted opinion word.
const CAPS_BOOST: f32 = 0.733;
/// A negation flips and damps a valence.
const NEGATION: f32 = -0.74;
/// Valence of a negated working verb ("doesn't work").
const FAILURE: f32 = -1.6;
/// Normalisation constant of the compound score.
const ALPHA: f32 = 15.0;
/// Scores within this band of zero are neutral.
const NEUTRAL_BAND: f32 = 0.05;

const INTENSIFIERS: &[&str] = &[
    "absolutely",
    "amazingly",
    "awfully",
    "completely",
    "considerably",
    "decidedly",
    "deeply",
    "effing",
    "enormously",
    "entirely",
    "especially",
    "exceptionally",
    "extremely",
    "fabulously",
    "freaking",
    "fricking",
    "frigging",
    "fully",
    "fucking",
    "greatly",
    "hella",
    "highly",
    "hugely",
    "incredibly",
    "intensely",
    "majorly",
    "more",
    "most",
    "particularly",
    "purely",
    "quite",
    "really",
    "remarkably",
    "so",
    "substantially",
    "thoroughly",
    "too",
    "totally",
    "tremendously",
    "uber",
    "unbelievably",
    "unusually",
    "utterly",
    "very",
    "super",
    "seriously",
];
const DAMPENERS: &[&str] = &[
    "almost",
    "barely",
    "hardly",
    "kinda",
    "less",
    "little",
    "marginally",
    "occasionally",
    "partly",
    "scarcely",
    "slightly",
    "somewhat",
    "sorta",
];
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "none", "nothing", "nowhere", "neither", "nor", "nope", "without",
    "cannot", "cant", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "wont",
    "wouldnt", "couldnt", "shouldnt", "havent", "hasnt", "hadnt", "aint", "rarely", "seldom",
    "despite", "unable",
];
/// Verbs whose negation reports that something failed.
const WORKING_VERBS: &[&str] = &[
    "work",
    "works",
    "worked",
    "working",
    "load",
    "loads",
    "loaded",
    "loading",
    "open",
    "opens",
    "opened",
    "opening",
    "connect",
    "connects",
    "connected",
    "connecting",
    "sync",
    "syncs",
    "synced",
    "syncing",
    "start",
    "starts",
    "started",
    "starting",
    "arrive",
    "arrives",
    "arrived",
    "respond",
    "responds",
    "responded",
    "responding",
    "help",
    "helps",
    "helped",
    "helping",
    "fix",
    "fixes",
    "fixed",
    "accept",
    "accepts",
    "accepted",
    "receive",
    "received",
    "update",
    "updated",
    "reply",
    "replied",
    "answer",
    "answered",
    "arriving",
    "resolved",
    "solved",
    "refunded",
    "delivered",
];
/// Thanks are praise only when nothing else in the message is negative.
const THANKS: &[&str] = &[
    "thanks",
    "thank",
    "thx",
    "ty",
    "appreciate",
    "appreciated",
    "grateful",
    "cheers",
];
/// Words after which "like" is a request, not praise ("would like").
const WOULD: &[&str] = &["would", "i'd", "we'd", "id", "wd", "d", "you'd", "like"];
/// Phrases that mark praise next to a complaint as sarcasm.
/// Kept to markers that are rarely sincere next to a complaint: "love it
/// when" and "great job" are too often honest ("great job on the show,
/// disappointed it ended") to flip.
const SARCASM: &[&[&str]] = &[
    &["yeah", "right"],
    &["oh", "great"],
    &["just", "great"],
    &["love", "how"],
    &["thanks", "a", "lot"],
    &["so", "much", "for"],
    &["wow", "thanks"],
    &["wow", "great"],
    &["oh", "wonderful"],
    &["oh", "perfect"],
    &["just", "perfect"],
    &["oh", "nice"],
];
/// Thanks inside a complaint keep this share of their valence.
const THANKS_IN_COMPLAINT: f32 = 0.5;

/// The three labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// Below the neutral band.
    Negative,
    /// Within it.
    Neutral,
    /// Above it.
    Positive,
}

impl Label {
    /// The label's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Negative => "negative",
            Label::Neutral => "neutral",
            Label::Positive => "positive",
        }
    }
}

/// A message's sentiment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sentiment {
    /// Negative, neutral or positive.
    pub label: Label,
    /// From -1 (furious) to 1 (delighted).
    pub score: f32,
}

impl Sentiment {
    /// The sentiment of a score.
    pub fn of_score(score: f32) -> Self {
        let label = if score >= NEUTRAL_BAND {
            Label::Positive
        } else if score <= -NEUTRAL_BAND {
            Label::Negative
        } else {
            Label::Neutral
        };
        Self { label, score }
    }
}

/// The lexicon and rules, built once.
#[derive(Debug)]
pub struct SentimentModel {
    lexicon: &'static Lexicon,
    ignored: FastSet<String>,
}

/// What the model knows of words, from the lexicon files and the word
/// lists here: the same for every model, so built once per process
/// ([`prepare`]) and shared.
#[derive(Debug)]
struct Lexicon {
    /// Everything known about a word, so that scoring looks each word up
    /// once.
    entries: WordTable<Entry>,
    /// Phrases sharing a first word ([`Entry::phrases`]): the remaining
    /// words and the valence, longest first.
    phrases: Vec<Vec<(Vec<String>, f32)>>,
}

/// What the model knows of one (normalised, lowercase) word.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// Its valence as a word on its own, when the lexicon has one.
    valence: Option<f32>,
    role: Option<Role>,
    /// Index into [`SentimentModel::phrases`] of the phrases it starts.
    phrases: Option<u32>,
    /// It starts a [`SARCASM`] marker.
    sarcasm: bool,
    /// "but" or "however": what follows weighs more than what went before.
    contrast: bool,
}

/// What a word does besides carrying a valence.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Boost(f32),
    Negation,
    Working,
    Thanks,
}

/// Builds the shared lexicon, if it is not built yet (otherwise the first
/// model built waits for it).
pub fn prepare() {
    Lexicon::shared();
}

impl Lexicon {
    fn shared() -> &'static Lexicon {
        static LEXICON: std::sync::OnceLock<Lexicon> = std::sync::OnceLock::new();
        LEXICON.get_or_init(Lexicon::build)
    }

    /// Reads the lexicon files straight into the word table: no map of
    /// owned words in between, and an owned word only for the few phrases.
    fn build() -> Lexicon {
        // The files hold about 7,600 words: room for them at once, not
        // grown step by step (it would still grow for more).
        let mut entries: WordTable<Entry> = WordTable::with_capacity(8000);
        let mut phrases: Vec<Vec<(Vec<String>, f32)>> = Vec::new();
        for line in lines_of(VADER_LEXICON).chain(lines_of(SUPPORT_LEXICON)) {
            let Some((term, valence)) = parse_line(line) else {
                continue;
            };
            // Phrase words are matched as the scorer sees words, so "didn't"
            // in a phrase is stored as the scorer's "didnt".
            let (first, rest): (&str, Vec<&str>) = if term.as_bytes().contains(&b' ') {
                let mut parts = term.split(' ').map(normalise_negation);
                (parts.next().unwrap_or_default(), parts.collect())
            } else {
                (normalise_negation(term), Vec::new())
            };
            entries.update(first, |entry| {
                let mut entry = entry.unwrap_or_default();
                if rest.is_empty() {
                    entry.valence = Some(valence);
                } else {
                    let index = *entry.phrases.get_or_insert_with(|| {
                        phrases.push(Vec::new());
                        (phrases.len() - 1) as u32
                    });
                    let list = &mut phrases[index as usize];
                    list.retain(|(words, _)| *words != rest);
                    list.push((rest.iter().map(|w| (*w).to_owned()).collect(), valence));
                    // Longest phrase first, so it wins.
                    list.sort_by_key(|(words, _)| std::cmp::Reverse(words.len()));
                }
                entry
            });
        }
        // A word in two lists takes the later list's role.
        let roles = [
            (INTENSIFIERS, Role::Boost(BOOST)),
            (DAMPENERS, Role::Boost(-BOOST)),
            (WORKING_VERBS, Role::Working),
            (THANKS, Role::Thanks),
            (NEGATIONS, Role::Negation),
        ];
        for (list, role) in roles {
            for w in list {
                entries.update(w, |e| Entry {
                    role: Some(role),
                    ..e.unwrap_or_default()
                });
            }
        }
        for phrase in SARCASM {
            entries.update(phrase[0], |e| Entry {
                sarcasm: true,
                ..e.unwrap_or_default()
            });
        }
        for word in ["but", "however"] {
            entries.update(word, |e| Entry {
                contrast: true,
                ..e.unwrap_or_default()
            });
        }
        Lexicon { entries, phrases }
    }
}

impl SentimentModel {
    /// Builds the model; `ignored` are extra words with no opinion (brand
    /// and product names), case-insensitive.
    pub fn new(ignored: &[String]) -> Self {
        Self {
            lexicon: Lexicon::shared(),
            ignored: ignored.iter().map(|w| w.to_lowercase()).collect(),
        }
    }

    /// True when a whole chunk is an emoticon the lexicon knows.
    pub fn is_emoticon(&self, chunk: &str) -> bool {
        self.has_valence(chunk)
            || (chunk.bytes().any(|b| b.is_ascii_uppercase())
                && self.has_valence(&chunk.to_ascii_lowercase()))
    }

    fn has_valence(&self, word: &str) -> bool {
        self.lexicon
            .entries
            .get(word)
            .is_some_and(|e| e.valence.is_some())
    }

    /// Scores one message from its tokens.
    /// `lower` is `text` lowercased with the same byte ranges
    /// ([`super::text::lowercase_same_len`]).
    pub fn score(&self, text: &str, lower: &str, tokens: &[Token]) -> Sentiment {
        // Word buffers are reused per thread: scoring a stream of messages
        // then allocates nothing per word.
        thread_local! {
            static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
        }
        SCRATCH.with_borrow_mut(|s| {
            s.reset();
            // The words borrow this message's text, so the buffer is lent
            // out for the message and taken back empty.
            let mut words: Vec<Word<'_>> = std::mem::take(&mut s.words);
            self.collect_words(text, lower, tokens, &mut words, s);
            let score = self.compound(&words, s);
            s.words = recycle(words);
            Sentiment::of_score(score)
        })
    }

    /// Lowercased words in order, with what the scorer needs to know of
    /// each; handles and names to ignore are dropped here.
    fn collect_words<'t>(
        &self,
        text: &str,
        lower: &'t str,
        tokens: &[Token],
        words: &mut Vec<Word<'t>>,
        s: &mut Scratch,
    ) {
        // "@delta ... delta": the brand's name is no opinion either.
        let has_handles = tokens.iter().any(|t| t.kind == Kind::Handle);
        let is_handle = |word: &str| {
            has_handles
                && tokens
                    .iter()
                    .any(|t| t.kind == Kind::Handle && &t.text(lower)[1..] == word)
        };
        let mut shouted = 0;
        let mut plain = 0;
        for t in tokens {
            let raw = t.text(text);
            match t.kind {
                Kind::Word | Kind::Hashtag => {
                    // A hashtag is one '#' and then a word.
                    let skip = usize::from(t.kind == Kind::Hashtag);
                    let raw = &raw[skip..];
                    let lower = &t.text(lower)[skip..];
                    if (!self.ignored.is_empty() && self.ignored.contains(lower))
                        || is_handle(lower)
                    {
                        continue;
                    }
                    let (letters, caps) = letters_and_shouting(raw);
                    if letters {
                        if caps {
                            shouted += 1;
                        } else {
                            plain += 1;
                        }
                    }
                    let quoted = is_quoted(text, t.start, t.end);
                    let word = normalise_negation(lower);
                    words.push(Word {
                        text: word,
                        entry: self.lexicon.entries.get(word).copied().unwrap_or_default(),
                        caps,
                        emoji: false,
                        quoted,
                    });
                }
                Kind::Emoji | Kind::Emoticon => {
                    let word = t.text(lower);
                    words.push(Word {
                        text: word,
                        // Emoji carry a valence and start phrases, but have no role.
                        entry: Entry {
                            role: None,
                            ..self.lexicon.entries.get(word).copied().unwrap_or_default()
                        },
                        caps: false,
                        emoji: true,
                        quoted: false,
                    });
                }
                Kind::Mark if raw == "!" => s.exclamations += 1,
                Kind::Mark => s.questions += 1,
                Kind::Handle | Kind::Link => {}
            }
        }
        s.cap_differential = shouted > 0 && plain > 0;
        s.all_caps = shouted >= 3 && plain == 0;
    }

    /// The compound score of the collected words.
    fn compound(&self, words: &[Word<'_>], s: &mut Scratch) -> f32 {
        let n = words.len();
        let mut contributions = std::mem::take(&mut s.contributions);
        contributions.clear();
        contributions.resize(n, 0.0);
        let mut thanks = std::mem::take(&mut s.thanks);
        thanks.clear();
        thanks.resize(n, false);
        let mut skip_until = 0;
        let mut but_at = None;
        for i in 0..n {
            if i < skip_until {
                continue;
            }
            let entry = words[i].entry;
            if entry.contrast {
                but_at = Some(i);
                continue;
            }
            if entry.valence.is_none()
                && entry.phrases.is_none()
                && entry.role != Some(Role::Working)
            {
                // Most words: no valence of their own and no phrase to
                // start, so nothing around them gives them one, and only
                // a negated working verb scores without a valence.
                continue;
            }
            let (mut valence, span) = match self.phrase_at(words, i) {
                Some(found) => found,
                None => (self.word_valence(words, i), 1),
            };
            skip_until = i + span;
            let role = words[i].entry.role;
            let negated = self.negated_before(words, i);
            if role == Some(Role::Working) && span == 1 {
                if negated {
                    contributions[i] = FAILURE;
                    continue;
                }
            } else if negated && valence != 0.0 && !words[i].emoji {
                // "not here 🙄": an emoji is the writer's tone, never negated.
                valence *= NEGATION;
            }
            if words[i].quoted && valence > 0.0 {
                // Scare quotes next to a complaint: the "quick" reply was
                // not quick (alone, quotes are just quotes).
                s.scare_quotes = true;
            }
            if valence == 0.0 {
                continue;
            }
            if words[i].caps && s.cap_differential {
                valence += CAPS_BOOST * valence.signum();
            }
            valence += self.boost_before(words, i, valence, s.cap_differential);
            contributions[i] = valence;
            thanks[i] = role == Some(Role::Thanks) && span == 1 && !negated;
        }
        if let Some(at) = but_at {
            for (i, c) in contributions.iter_mut().enumerate() {
                *c *= if i < at { 0.5 } else { 1.5 };
            }
        }
        let complaint = contributions.iter().any(|c| *c < 0.0);
        if complaint {
            // Politeness inside a complaint is not praise, and praise next
            // to a sarcasm marker is the opposite.
            let sarcastic = s.scare_quotes
                || (0..n).any(|i| {
                    words[i].entry.sarcasm && SARCASM.iter().any(|p| phrase_is_at(words, i, p))
                });
            for (i, c) in contributions.iter_mut().enumerate() {
                if thanks[i] {
                    *c *= THANKS_IN_COMPLAINT;
                } else if sarcastic && *c > 0.0 {
                    *c *= -0.6;
                }
            }
        }
        let mut sum: f32 = contributions.iter().sum();
        s.contributions = contributions;
        s.thanks = thanks;
        if s.all_caps && sum <= 0.0 {
            // Shouting at support is not calm, even without opinion words
            // (shouted praise keeps its sign).
            sum = sum * 1.3 - 1.0;
        }
        if sum != 0.0 {
            sum += self.punctuation_emphasis(s) * sum.signum();
        }
        let score = sum / (sum * sum + ALPHA).sqrt();
        score.clamp(-1.0, 1.0)
    }

    fn word_valence(&self, words: &[Word<'_>], i: usize) -> f32 {
        let word = words[i].text;
        if matches!(words[i].entry.role, Some(Role::Boost(_))) {
            // An intensifier acts on what follows; it is no opinion itself.
            return 0.0;
        }
        if word == "no" && words.get(i + 1).is_some_and(|n| n.entry.valence.is_some()) {
            // "no problem": the negation acts on "problem" instead.
            return 0.0;
        }
        if matches!(word, "want" | "wants") && words.get(i + 1).is_some_and(|n| n.text == "to") {
            // "I want to cancel" is a request, not a wish.
            return 0.0;
        }
        if word == "like" && i > 0 && WOULD.contains(&words[i - 1].text) {
            return 0.0;
        }
        if word == "kind" && words.get(i + 1).is_some_and(|w| w.text == "of") {
            return 0.0;
        }
        words[i].entry.valence.unwrap_or(0.0)
    }

    fn phrase_at(&self, words: &[Word<'_>], i: usize) -> Option<(f32, usize)> {
        let candidates = &self.lexicon.phrases[words[i].entry.phrases? as usize];
        candidates.iter().find_map(|(rest, valence)| {
            let matches = rest.len() + i < words.len()
                && rest.iter().zip(&words[i + 1..]).all(|(r, w)| *r == w.text);
            matches.then_some((*valence, rest.len() + 1))
        })
    }

    /// A negation among the three words before `i`; "never so good" and
    /// "never this happy" intensify rather than negate.
    fn negated_before(&self, words: &[Word<'_>], i: usize) -> bool {
        let from = i.saturating_sub(3);
        // "the least effective" is not effective; "at least" is no negation.
        let least = i > 0
            && words[i - 1].text == "least"
            && !(i > 1 && matches!(words[i - 2].text, "at" | "very"));
        // "never so good", "never slept so well": "never ... so" intensifies.
        let so = |k: usize| {
            words
                .get(k)
                .is_some_and(|w| matches!(w.text, "so" | "this" | "too"))
        };
        let never_so = |j: usize| words[j].text == "never" && (so(j + 1) || (i > 0 && so(i - 1)));
        least
            || (from..i).any(|j| {
                words[j].entry.role == Some(Role::Negation)
                    // "no" negates only the next word: "no laptop, internet
                    // troubles" is still troubles.
                    && (words[j].text != "no" || j + 1 == i)
                    && !never_so(j)
            })
    }

    /// Intensifiers and dampeners among the three words before `i`, each
    /// weaker the farther it is.
    fn boost_before(
        &self,
        words: &[Word<'_>],
        i: usize,
        valence: f32,
        cap_differential: bool,
    ) -> f32 {
        let mut total = 0.0;
        for (distance, scale) in [(1, 1.0), (2, 0.95), (3, 0.9)] {
            let Some(j) = i.checked_sub(distance) else {
                break;
            };
            if let Some(Role::Boost(step)) = words[j].entry.role {
                let mut step = step * valence.signum();
                if words[j].caps && cap_differential {
                    step += CAPS_BOOST * step.signum() * 0.4;
                }
                total += step * scale;
            }
        }
        total
    }

    /// "!" and "?" strengthen whatever the message already says.
    fn punctuation_emphasis(&self, s: &Scratch) -> f32 {
        let bangs = s.exclamations.min(4) as f32 * 0.292;
        let questions = match s.questions {
            0 | 1 => 0.0,
            2 | 3 => s.questions as f32 * 0.18,
            _ => 0.96,
        };
        bangs + questions
    }
}

///
/// Byte loops rather than `str` splitting: lines and fields are a few
/// bytes long, and splitting was most of building the lexicon. (A blank
/// line has no number to parse, so it needs no check of its own.)
fn parse_line(line: &str) -> Option<(&str, f32)> {
    if line.starts_with('#') {
        return None;
    }
    let tab = line.bytes().position(|b| b == b'\t')?;
    let (term, rest) = (&line[..tab], &line[tab + 1..]);
    let field = match rest.bytes().position(|b| b == b'\t') {
        Some(end) => &rest[..end],
        None => rest,
    };
    let valence = parse_decimal(field).or_else(|| field.trim().parse().ok())?;
    Some((term, valence))
}

/// A plain decimal ("-1.5", "2", "0.25") exactly as `str::parse` reads it,
/// or `None` for anything else (left to `str::parse`). With at most seven
/// digits the digits as an integer and the power of ten are exact `f32`s,
/// and a division is correctly rounded, as parsing is: the same number.
fn parse_decimal(field: &str) -> Option<f32> {
    let (negative, digits) = match field.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, field),
    };
    let (int, frac) = digits.split_at(
        digits
            .bytes()
            .position(|b| b == b'.')
            .unwrap_or(digits.len()),
    );
    let frac = frac.strip_prefix('.').map_or("", |f| f);
    if int.is_empty()
        || int.len() + frac.len() > 7
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        || (digits.len() > int.len() && frac.is_empty())
    {
        return None;
    }
    let mantissa = int
        .bytes()
        .chain(frac.bytes())
        .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
    // Both below 2^24, so exact.
    let value = mantissa as f32 / 10u32.pow(frac.len() as u32) as f32;
    Some(if negative { -value } else { value })
}

/// The lexicon files' lines, as `str::lines` gives them, found by a byte
/// loop (lines are short: searching per line cost more than the loop).
fn lines_of(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match rest.bytes().position(|b| b == b'\n') {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, ""),
        };
        rest = next;
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

/// "don't", "don’t" and "dont" are one negation: a word ending in "n't"
/// is the negation it spells without the apostrophe, or "not". Borrowed,
/// not copied: this runs on every word of every message, and a normalised
/// word is one of [`NEGATIONS`].
#[inline]
fn normalise_negation(lower: &str) -> &str {
    if lower.as_bytes().last() != Some(&b't') {
        // Most words: no "n't" to look at.
        return lower;
    }
    let Some(stem) = lower
        .strip_suffix("n't")
        .or_else(|| lower.strip_suffix("n’t"))
    else {
        return lower;
    };
    NEGATIONS
        .iter()
        .find(|n| n.len() == stem.len() + 2 && n.starts_with(stem) && n.ends_with("nt"))
        .copied()
        .unwrap_or("not")
}

/// True when the bytes `start..end` of `text` sit directly inside
/// quotation marks.
fn is_quoted(text: &str, start: usize, end: usize) -> bool {
    // Asked of every word: the byte before says no for almost all ('"',
    // or the last byte of '“').
    if start == 0 || !matches!(text.as_bytes()[start - 1], b'"' | 0x9c) {
        return false;
    }
    let open = text[..start].chars().next_back();
    let close = text[end..].chars().next();
    matches!(open, Some('"' | '“')) && matches!(close, Some('"' | '”'))
}

/// True when `phrase` is written at word `i`.
fn phrase_is_at(words: &[Word<'_>], i: usize, phrase: &[&str]) -> bool {
    words.len() - i >= phrase.len() && words[i..].iter().zip(phrase).all(|(a, b)| a.text == *b)
}

#[derive(Default)]
struct Scratch {
    /// The word buffer, empty between messages ([`recycle`]).
    words: Vec<Word<'static>>,
    contributions: Vec<f32>,
    thanks: Vec<bool>,
    exclamations: usize,
    questions: usize,
    cap_differential: bool,
    all_caps: bool,
    scare_quotes: bool,
}

impl Scratch {
    /// Ready for the next message, keeping the buffers.
    fn reset(&mut self) {
        self.exclamations = 0;
        self.questions = 0;
        self.cap_differential = false;
        self.all_caps = false;
        self.scare_quotes = false;
    }
}

/// An emptied word buffer, kept for the next message: collecting into a
/// vector of another lifetime reuses the allocation (the elements have the
/// same layout), and there is no element to convert.
fn recycle(mut words: Vec<Word<'_>>) -> Vec<Word<'static>> {
    words.clear();
    words
        .into_iter()
        .map(|_| unreachable!("the words were cleared"))
        .collect()
}

/// A word of the message being scored.
struct Word<'t> {
    /// Lowercased, negations normalised ([`normalise_negation`]).
    text: &'t str,
    /// What the model knows of it, looked up once.
    entry: Entry,
    caps: bool,
    emoji: bool,
    /// Written in quotation marks on its own: `"quick"`.
    quoted: bool,
}

/// Where a conversation's mood is heading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trend {
    /// The latest message's score.
    pub latest: f32,
    /// The mean over the window.
    pub mean: f32,
    /// Latest minus the first score of the window: below zero is worse.
    pub change: f32,
    /// True when every message in the window was no better than the one
    /// before and the mood dropped by at least `MIN_DROP` overall.
    pub falling: bool,
}

/// The least drop over a window that counts as falling, so that noise
/// between neutral messages does not.
pub const MIN_DROP: f32 = 0.3;

impl Trend {
    /// The trend over the last `window` scores (oldest first); `None`
    /// without scores.
    pub fn of(scores: &[f32], window: usize) -> Option<Trend> {
        let window = window.max(2).min(scores.len());
        let recent = &scores[scores.len().checked_sub(window)?..];
        let (&latest, &first) = (recent.last()?, recent.first()?);
        let mean = recent.iter().sum::<f32>() / recent.len() as f32;
        let monotone = recent.windows(2).all(|w| w[1] <= w[0] + 0.05);
        let change = latest - first;
        Some(Trend {
            latest,
            mean,
            change,
            falling: recent.len() >= 2 && monotone && change <= -MIN_DROP,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::text::tokenize;

    #[test]
    fn lexicon_lines_and_numbers_read_as_std_reads_them() {
        for text in [
            VADER_LEXICON,
            SUPPORT_LEXICON,
            "a\r\nb\n\nc",
            "\n\r\n",
            "last\n",
            "",
        ] {
            assert_eq!(
                lines_of(text).collect::<Vec<_>>(),
                text.lines().collect::<Vec<_>>()
            );
        }
        // The reading `parse_line` replaces.
        fn std_parse(line: &str) -> Option<(&str, f32)> {
            if line.starts_with('#') || line.trim().is_empty() {
                return None;
            }
            let (term, rest) = line.split_once('\t')?;
            let valence = rest.split('\t').next()?.trim().parse().ok()?;
            Some((term, valence))
        }
        let mut lines: Vec<String> = VADER_LEXICON
            .lines()
            .chain(SUPPORT_LEXICON.lines())
            .map(str::to_owned)
            .collect();
        for n in [
            "0",
            "-0",
            "-0.0",
            "1.",
            ".5",
            "-.5",
            "1.5.",
            "+1.5",
            " 2.25 ",
            "3.14159",
            "1234567",
            "12345678",
            "0.0000001",
            "1e3",
            "-",
            "",
            "nan",
            "inf",
            "4.0\tx",
            "\u{a0}1.5",
        ] {
            lines.push(format!("word\t{n}"));
        }
        for i in 0..20_000 {
            lines.push(format!("w\t{}.{}", i / 1000, i % 1000));
            lines.push(format!("w\t-{}", i as f32 / 7.0));
        }
        lines.extend([" ", "\t", " \t1.0", "\t\t"].map(str::to_owned));
        for line in &lines {
            let (ours, std) = (parse_line(line), std_parse(line));
            assert_eq!(
                ours.map(|(t, v)| (t, v.to_bits())),
                std.map(|(t, v)| (t, v.to_bits())),
                "{line:?}"
            );
        }
    }

    fn score(text: &str) -> f32 {
        let model = SentimentModel::new(&["Delight".to_owned()]);
        let mut tokens = Vec::new();
        tokenize(text, |c| model.is_emoticon(c), &mut tokens);
        let mut lower = String::new();
        crate::analysis::text::lowercase_same_len(text, &mut lower);
        model.score(text, &lower, &tokens).score
    }

    #[test]
    fn polarity_of_plain_opinions() {
        assert!(score("This is great, thank you so much!") > 0.5);
        assert!(score("This is terrible.") < -0.3);
        assert!(score("Where is my order?").abs() < NEUTRAL_BAND);
    }

    #[test]
    fn brands_and_handles_are_not_opinions() {
        assert!(score("@united").abs() < NEUTRAL_BAND);
        assert!(score("@united lost my bag") < -0.1);
        assert!(score("Delight").abs() < NEUTRAL_BAND);
        assert!(score("Delight Energy overcharged me") < -0.2);
    }

    #[test]
    fn politeness_inside_a_complaint_is_not_praise() {
        assert!(score("please help").abs() < NEUTRAL_BAND);
        assert!(score("Please help, my card was charged twice. Thanks") < -0.3);
        assert!(score("thanks for nothing") < -0.3);
        assert!(score("thanks!") > 0.3);
        assert!(score("I'd like a refund").abs() < NEUTRAL_BAND);
    }

    #[test]
    fn negation_and_failure_reports() {
        assert!(score("not good") < 0.0);
        assert!(score("the app doesn't load") < -0.2);
        assert!(score("that didn't help at all") < -0.2);
        assert!(score("I haven't received my package") < -0.2);
        assert!(score("it works now") > 0.1);
    }

    #[test]
    fn intensifiers_capitals_and_exclamations_strengthen() {
        assert!(score("very bad") < score("bad"));
        assert!(score("this is BAD service") < score("this is bad service"));
        assert!(score("bad!!!") < score("bad"));
        assert!(score("WHERE IS MY ORDER") < -0.2);
    }

    #[test]
    fn emoji_and_emoticons() {
        assert!(score("my order 😡") < -0.3);
        assert!(score("got it 👍") > 0.2);
        assert!(score("it broke again :(") < -0.3);
    }

    #[test]
    fn cheap_sarcasm_is_caught() {
        assert!(score("I love how my order never arrived") < 0.0);
        assert!(score("oh great, the app crashed again") < 0.0);
        assert!(score("Thanks for the \"quick\" reply, only took 9 days. ridiculous") < 0.0);
        assert!(score("love how my package says delivered but its not here 🙄") < 0.0);
    }

    #[test]
    fn but_shifts_weight_to_the_second_half() {
        assert!(score("the staff were nice but the product is terrible") < 0.0);
    }

    #[test]
    fn scores_stay_in_range() {
        let rant = "TERRIBLE AWFUL HORRIBLE WORST ".repeat(200);
        let s = score(&rant);
        assert!((-1.0..=1.0).contains(&s));
        assert_eq!(score(""), 0.0);
    }

    #[test]
    fn trend_falls_only_when_the_mood_drops() {
        let falling = Trend::of(&[0.2, 0.0, -0.5], 3).unwrap();
        assert!(falling.falling);
        assert!(falling.change < -0.6);
        assert!(!Trend::of(&[0.0, -0.5, 0.2], 3).unwrap().falling);
        assert!(!Trend::of(&[0.0, 0.0, 0.0], 3).unwrap().falling);
        assert!(Trend::of(&[], 3).is_none());
        assert_eq!(Trend::of(&[-0.4], 3).unwrap().latest, -0.4);
    }
}
