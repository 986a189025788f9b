//! Intent: which of the team's topics a message is about, with a confidence.
//!
//! A multinomial naive Bayes classifier over word stems and word pairs,
//! learned from each intent's example phrases, keywords and description
//! when handoff starts (a few milliseconds for the default taxonomy), so a
//! team changes the taxonomy in config and nothing needs training offline.
//! Features are hashed, and each feature's per-intent log-likelihoods sit
//! side by side, so classifying a message is one table lookup per feature.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use super::text::{Kind, Token, hash_bytes as hash};

/// The shipped taxonomy and its examples (see NOTICE for their sources).
const DEFAULT_TAXONOMY: &str = include_str!("default_intents.toml");

/// A keyword counts as this many examples of its intent.
const KEYWORD_WEIGHT: f32 = 3.0;
/// Additive smoothing of the word counts.
const SMOOTHING: f32 = 0.3;

/// One intent as a team describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentSpec {
    /// The name used in rules, routes and on the card.
    pub name: String,
    /// What it covers, for people (also learned from).
    #[serde(default)]
    pub description: String,
    /// Words or short phrases that strongly suggest it.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Example customer messages.
    #[serde(default)]
    pub examples: Vec<String>,
}

#[derive(Deserialize)]
struct Taxonomy {
    intent: Vec<IntentSpec>,
}

/// The shipped default taxonomy.
pub fn default_taxonomy() -> Vec<IntentSpec> {
    parsed_default_taxonomy().to_vec()
}

/// Parses the default taxonomy, if it is not parsed yet.
pub fn prepare() {
    parsed_default_taxonomy();
}

/// The default taxonomy, parsed once: loading config, validating it and
/// building the analyser each ask for it, and parsing it is most of
/// that work.
fn parsed_default_taxonomy() -> &'static [IntentSpec] {
    static PARSED: std::sync::OnceLock<Vec<IntentSpec>> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| {
        toml::from_str::<Taxonomy>(DEFAULT_TAXONOMY)
            .expect("the embedded default taxonomy parses")
            .intent
    })
}

/// The taxonomy with a team's intents applied: `replace` drops the
/// defaults; otherwise an intent with a default's name adds to that one
/// and a new name adds an intent.
pub fn merge_taxonomy(custom: &[IntentSpec], replace: bool) -> Vec<IntentSpec> {
    let mut out = if replace {
        Vec::new()
    } else {
        default_taxonomy()
    };
    for spec in custom {
        match out.iter_mut().find(|s| s.name == spec.name) {
            Some(existing) => {
                if !spec.description.is_empty() {
                    existing.description = spec.description.clone();
                }
                existing.keywords.extend(spec.keywords.iter().cloned());
                existing.examples.extend(spec.examples.iter().cloned());
            }
            None => out.push(spec.clone()),
        }
    }
    out
}

/// The names of [`merge_taxonomy`]'s intents, in its order, without
/// copying the examples: what validating config needs.
pub fn merged_names(custom: &[IntentSpec], replace: bool) -> Vec<String> {
    let defaults: &[IntentSpec] = if replace {
        &[]
    } else {
        parsed_default_taxonomy()
    };
    let mut out: Vec<String> = defaults.iter().map(|s| s.name.clone()).collect();
    for spec in custom {
        if !out.contains(&spec.name) {
            out.push(spec.name.clone());
        }
    }
    out
}

/// The best intent for a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntentGuess {
    /// Index into [`IntentModel::names`].
    pub index: usize,
    /// Posterior probability of that intent, 0..1.
    pub confidence: f32,
}

/// Buffers [`IntentModel::classify`] reuses from message to message.
#[derive(Debug, Default)]
pub struct IntentScratch {
    features: Vec<u64>,
    scores: Vec<f32>,
}

/// A trained classifier.
#[derive(Debug)]
pub struct IntentModel {
    names: Vec<String>,
    /// Feature hash -> row in `weights`.
    rows: HashMap<u64, usize, BuildHasherDefault<Prehashed>>,
    /// The features in `rows`: most of a message's word pairs are not, and
    /// this says so without a lookup in the larger map.
    known: super::table::Bloom,
    /// `rows.len() × names.len()` log-likelihoods.
    weights: Vec<f32>,
    priors: Vec<f32>,
    fallback: Option<usize>,
    min_confidence: f32,
}

impl IntentModel {
    /// Learns from `specs`. Messages whose best intent is less likely than
    /// `min_confidence` go to `fallback` (when it names an intent).
    pub fn train(specs: &[IntentSpec], fallback: &str, min_confidence: f32) -> Self {
        let k = specs.len();
        // Feature -> row, in order of first appearance; `weights` holds
        // the counts row by row until they become log-likelihoods. (A
        // feature's row number does not matter, only which row is whose.)
        // The default taxonomy has about 3,000 features: room for them
        // at once, not grown step by step.
        let mut rows: HashMap<u64, usize, BuildHasherDefault<Prehashed>> =
            HashMap::with_capacity_and_hasher(3000, BuildHasherDefault::default());
        let mut weights: Vec<f32> = Vec::new();
        let mut totals = vec![0.0f32; k];
        let mut docs = vec![0.0f32; k];
        let (mut features, mut tokens, mut lower) = (Vec::new(), Vec::new(), String::new());
        for (c, spec) in specs.iter().enumerate() {
            let texts = spec
                .examples
                .iter()
                .map(|e| (e.as_str(), 1.0))
                .chain(spec.keywords.iter().map(|e| (e.as_str(), KEYWORD_WEIGHT)))
                .chain(std::iter::once((spec.description.as_str(), 1.0)));
            for (text, weight) in texts {
                super::text::tokenize(text, |_| false, &mut tokens);
                super::text::lowercase_same_len(text, &mut lower);
                features_of_tokens(&lower, &tokens, &mut features);
                docs[c] += 1.0;
                for f in &features {
                    let row = *rows.entry(*f).or_insert_with(|| {
                        weights.resize(weights.len() + k, 0.0);
                        weights.len() / k - 1
                    });
                    weights[row * k + c] += weight;
                    totals[c] += weight;
                }
            }
        }
        let vocabulary = rows.len() as f32;
        let denominators: Vec<f32> = totals.iter().map(|t| t + SMOOTHING * vocabulary).collect();
        // Most features are never seen with most intents: their weight is
        // the same per intent, worked out once (0 + SMOOTHING is exact).
        let unseen: Vec<f32> = denominators.iter().map(|d| (SMOOTHING / d).ln()).collect();
        for row in weights.chunks_exact_mut(k.max(1)) {
            for ((w, d), unseen) in row.iter_mut().zip(&denominators).zip(&unseen) {
                *w = if *w == 0.0 {
                    *unseen
                } else {
                    ((*w + SMOOTHING) / d).ln()
                };
            }
        }
        let all_docs: f32 = docs.iter().sum::<f32>().max(1.0);
        let mut known = super::table::Bloom::new(rows.len());
        for feature in rows.keys() {
            known.insert(*feature);
        }
        Self {
            names: specs.iter().map(|s| s.name.clone()).collect(),
            rows,
            known,
            weights,
            // Balanced priors: a class is not likelier because it has more
            // examples, only a little to break ties.
            priors: docs.iter().map(|d| 0.1 * (d / all_docs).ln()).collect(),
            fallback: specs.iter().position(|s| s.name == fallback),
            min_confidence,
        }
    }

    /// The intents' names, in the taxonomy's order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Classifies a message from its tokens over its lowercased text
    /// ([`super::text::lowercase_same_len`]).
    pub fn classify(
        &self,
        text: &str,
        tokens: &[Token],
        scratch: &mut IntentScratch,
    ) -> Option<IntentGuess> {
        if self.names.is_empty() {
            return None;
        }
        let IntentScratch { features, scores } = scratch;
        features_of_tokens(text, tokens, features);
        let k = self.names.len();
        scores.clear();
        scores.extend_from_slice(&self.priors);
        let mut known = 0usize;
        for f in features.iter().filter(|f| self.known.may_contain(**f)) {
            if let Some(&row) = self.rows.get(f) {
                known += 1;
                for (s, w) in scores.iter_mut().zip(&self.weights[row * k..(row + 1) * k]) {
                    *s += w;
                }
            }
        }
        if known == 0 {
            return Some(IntentGuess {
                index: self.fallback.unwrap_or(0),
                confidence: if self.fallback.is_some() {
                    1.0 / k as f32
                } else {
                    0.0
                },
            });
        }
        // Naive Bayes is overconfident on long messages: temper by the
        // number of features so confidences stay comparable.
        let temper = (known as f32).sqrt();
        let best = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut total = 0.0;
        for s in scores.iter_mut() {
            *s = ((*s - best) / temper).exp();
            total += *s;
        }
        let (index, top) = scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, s)| (i, s / total))?;
        match self.fallback {
            Some(fallback) if top < self.min_confidence => Some(IntentGuess {
                index: fallback,
                confidence: scores[fallback] / total,
            }),
            _ => Some(IntentGuess {
                index,
                confidence: top,
            }),
        }
    }
}

/// Words so common they say nothing about the topic.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "i", "me", "my", "we", "our", "you", "your", "it", "is", "are", "was", "be",
    "to", "of", "and", "or", "in", "on", "at", "for", "with", "this", "that", "can", "could",
    "would", "do", "does", "please", "pls", "hi", "hello", "hey", "im", "i'm", "am", "will",
    "have", "has", "just", "so", "some", "there", "what", "u", "ur", "ya",
];

/// The longest stopword, in bytes: longer words are never looked up.
const LONGEST_STOPWORD: usize = 6;

/// Stopwords by [`hash`] of their bytes, so a word whose stem is itself
/// (most are) is checked with the hash its feature needs anyway.
fn stopwords() -> &'static HashMap<u64, &'static str, BuildHasherDefault<Prehashed>> {
    static SET: std::sync::OnceLock<HashMap<u64, &'static str, BuildHasherDefault<Prehashed>>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| STOPWORDS.iter().map(|w| (hash(w.as_bytes()), *w)).collect())
}

/// True for a stopword; `stem_hash` is the hash of `stem(word)`.
fn is_stopword(word: &str, stem_len: usize, stem_hash: u64) -> bool {
    if word.len() > LONGEST_STOPWORD {
        return false;
    }
    let h = if stem_len == word.len() {
        stem_hash
    } else {
        hash(word.as_bytes())
    };
    stopwords().get(&h).is_some_and(|w| *w == word)
}

/// Stems and stem pairs of a message's words, hashed.
fn features_of_tokens(lower: &str, tokens: &[Token], out: &mut Vec<u64>) {
    out.clear();
    let mut previous: Option<u64> = None;
    for t in tokens {
        if !matches!(t.kind, Kind::Word | Kind::Hashtag) {
            continue;
        }
        let lower = t.text(lower).trim_start_matches('#');
        if lower.bytes().all(|b| b.is_ascii_digit()) {
            // Order numbers are facts, not topics.
            out.push(hash(b"<number>"));
            previous = None;
            continue;
        }
        let stem = stem(lower);
        let h = hash(stem.as_bytes());
        if !is_stopword(lower, stem.len(), h) {
            out.push(h);
        }
        if let Some(p) = previous {
            out.push(p.rotate_left(17) ^ h ^ 0x9e37_79b9_7f4a_7c15);
        }
        previous = Some(h);
    }
}

/// A light suffix stripper: enough to make "refunds", "refunded" and
/// "refunding" one feature.
fn stem(word: &str) -> &str {
    let w = word.strip_suffix("'s").unwrap_or(word);
    let n = w.len();
    for (suffix, min) in [
        ("ing", 6),
        ("ed", 5),
        ("ies", 5),
        ("es", 5),
        ("s", 4),
        ("ly", 6),
    ] {
        if n >= min && w.ends_with(suffix) && !w.ends_with("ss") {
            return &w[..n - suffix.len()];
        }
    }
    w
}

/// Feature keys are hashes already; hashing them again is wasted work.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::text::tokenize;

    fn classify(model: &IntentModel, text: &str) -> (String, f32) {
        let mut tokens = Vec::new();
        tokenize(text, |_| false, &mut tokens);
        let mut lower = String::new();
        crate::analysis::text::lowercase_same_len(text, &mut lower);
        let guess = model
            .classify(&lower, &tokens, &mut IntentScratch::default())
            .unwrap();
        (model.names()[guess.index].clone(), guess.confidence)
    }

    #[test]
    fn every_stopword_is_found() {
        for w in STOPWORDS {
            assert!(w.len() <= LONGEST_STOPWORD, "{w}");
            let s = stem(w);
            assert!(is_stopword(w, s.len(), hash(s.as_bytes())), "{w}");
        }
        let s = stem("refunds");
        assert!(!is_stopword("refunds", s.len(), hash(s.as_bytes())));
    }

    #[test]
    fn merged_names_are_the_merged_taxonomys() {
        let spec = |name: &str| IntentSpec {
            name: name.into(),
            description: String::new(),
            keywords: vec!["word".into()],
            examples: Vec::new(),
        };
        let custom = [spec("billing"), spec("new"), spec("new"), spec("other")];
        for replace in [false, true] {
            let names: Vec<String> = merge_taxonomy(&custom, replace)
                .into_iter()
                .map(|s| s.name)
                .collect();
            assert_eq!(merged_names(&custom, replace), names);
        }
    }

    #[test]
    fn the_default_taxonomy_is_the_documented_one() {
        let names: Vec<String> = default_taxonomy().into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "billing",
                "refund",
                "cancellation",
                "shipping",
                "account_access",
                "fraud_security",
                "technical_issue",
                "complaint",
                "feedback",
                "human_agent",
                "general"
            ]
        );
    }

    #[test]
    fn default_model_recognises_common_requests() {
        let model = IntentModel::train(&default_taxonomy(), "general", 0.2);
        for (text, want) in [
            ("I want my money back for order 12345", "refund"),
            ("where is my package? tracking says nothing", "shipping"),
            (
                "I can't log in, password reset email never comes",
                "account_access",
            ),
            (
                "there is a charge on my card I don't recognise",
                "fraud_security",
            ),
            ("please cancel my subscription", "cancellation"),
            ("the app crashes every time I open it", "technical_issue"),
            ("can I talk to a real person", "human_agent"),
            ("I need a copy of my invoice", "billing"),
        ] {
            let (name, confidence) = classify(&model, text);
            assert_eq!(name, want, "{text}");
            assert!(
                confidence > 0.2 && confidence <= 1.0,
                "{text}: {confidence}"
            );
        }
    }

    #[test]
    fn a_team_can_add_an_intent_from_examples() {
        let custom = IntentSpec {
            name: "warranty".into(),
            description: "Warranty claims".into(),
            keywords: vec!["warranty".into(), "guarantee".into()],
            examples: vec![
                "is my blender still under warranty".into(),
                "the guarantee should cover this repair".into(),
            ],
        };
        let specs = merge_taxonomy(&[custom], false);
        assert_eq!(specs.len(), 12);
        let model = IntentModel::train(&specs, "general", 0.2);
        assert_eq!(
            classify(&model, "does the warranty cover a cracked lid?").0,
            "warranty"
        );
    }

    #[test]
    fn replacing_the_taxonomy_drops_the_defaults() {
        let only = IntentSpec {
            name: "sales".into(),
            description: String::new(),
            keywords: vec!["pricing".into()],
            examples: vec!["how much does the pro plan cost".into()],
        };
        let specs = merge_taxonomy(&[only], true);
        let model = IntentModel::train(&specs, "general", 0.2);
        assert_eq!(model.names(), ["sales"]);
        assert_eq!(classify(&model, "pricing for teams?").0, "sales");
    }

    #[test]
    fn text_without_known_words_falls_back() {
        let model = IntentModel::train(&default_taxonomy(), "general", 0.2);
        assert_eq!(classify(&model, "zzqx").0, "general");
    }

    #[test]
    fn stems_merge_inflections() {
        assert_eq!(stem("refunds"), "refund");
        assert_eq!(stem("refunded"), "refund");
        assert_eq!(stem("charging"), "charg");
        assert_eq!(stem("charged"), "charg");
        assert_eq!(stem("address"), "address");
    }
}
