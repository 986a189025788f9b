//! Splitting a message into the tokens every analysis reads.
//!
//! One pass, no allocation per token: tokens are byte ranges into the
//! original text. Handles, URLs and e-mail addresses are their own kinds so
//! that sentiment and intent can skip them (a brand's handle is not an
//! opinion), and emoticons survive as single tokens because a whitespace
//! chunk that is a known emoticon is kept whole.

/// FNV-1a: a fast hash for the fixed lookup tables (lexicon, roles,
/// feature weights). Seeded hashing (the std default) guards tables that
/// attackers can insert into; these are built once from shipped and
/// configured data, and a message only looks words up.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A map over [`Fnv`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;
/// A set over [`Fnv`].
pub type FastSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<Fnv>>;

/// The FNV-1a hash of `bytes`.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h = Fnv::default();
    std::hash::Hasher::write(&mut h, bytes);
    std::hash::Hasher::finish(&h)
}

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Letters, digits, inner apostrophes and hyphens.
    Word,
    /// `@name`: a mention, usually of the brand.
    Handle,
    /// `#tag`: the word after `#` still counts.
    Hashtag,
    /// A link or an e-mail address: never an opinion.
    Link,
    /// One emoji or other pictographic symbol.
    Emoji,
    /// A whole whitespace chunk the sentiment lexicon knows (`:-(`, `<3`).
    Emoticon,
    /// `!` or `?`.
    Mark,
}

/// A token: a byte range into the text and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Start byte.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// What it is.
    pub kind: Kind,
}

impl Token {
    /// The token's text.
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start..self.end]
    }
}

/// True for characters that are part of a word.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// True for emoji and pictographs, which carry sentiment on their own.
pub fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F300..=0x1FAFF | 0x2600..=0x27BF | 0x2B50 | 0x2B55 | 0x2190..=0x21FF | 0x1F000..=0x1F2FF)
}

/// Splits `text` into tokens. `is_emoticon` says whether a whole
/// whitespace-separated chunk (lowercased) is a known emoticon.
pub fn tokenize(text: &str, is_emoticon: impl Fn(&str) -> bool, out: &mut Vec<Token>) {
    out.clear();
    for (chunk_start, chunk) in chunks(text) {
        let has_punct_only_shape = chunk.len() <= 4
            && chunk.chars().any(|c| !c.is_alphanumeric())
            && !chunk.chars().all(|c| c == '!' || c == '?' || c == '.');
        if has_punct_only_shape && is_emoticon(chunk) {
            out.push(Token {
                start: chunk_start,
                end: chunk_start + chunk.len(),
                kind: Kind::Emoticon,
            });
            continue;
        }
        if let Some(kind) = link_kind(chunk) {
            let trimmed = chunk.trim_end_matches(|c: char| ".,;:!?)]}'\"".contains(c));
            out.push(Token {
                start: chunk_start,
                end: chunk_start + trimmed.len(),
                kind,
            });
            push_marks(&chunk[trimmed.len()..], chunk_start + trimmed.len(), out);
            continue;
        }
        split_chunk(chunk, chunk_start, out);
    }
}

/// Whitespace-separated chunks with their start byte.
fn chunks(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(char::is_whitespace)
        .filter(|c| !c.is_empty())
        .map(move |c| (c.as_ptr() as usize - text.as_ptr() as usize, c))
}

/// A chunk that is a URL or an e-mail address as a whole.
fn link_kind(chunk: &str) -> Option<Kind> {
    let lower_starts = |p: &str| {
        chunk.len() > p.len()
            && chunk
                .get(..p.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(p))
    };
    if lower_starts("http://") || lower_starts("https://") || lower_starts("www.") {
        return Some(Kind::Link);
    }
    let at = chunk.find('@')?;
    (at > 0 && chunk[at + 1..].contains('.')).then_some(Kind::Link)
}

fn push_marks(rest: &str, base: usize, out: &mut Vec<Token>) {
    for (i, c) in rest.char_indices() {
        if c == '!' || c == '?' {
            out.push(Token {
                start: base + i,
                end: base + i + 1,
                kind: Kind::Mark,
            });
        }
    }
}

/// Splits one chunk into words, handles, hashtags, emoji and marks.
fn split_chunk(chunk: &str, base: usize, out: &mut Vec<Token>) {
    let bytes = chunk.as_bytes();
    let mut iter = chunk.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if is_word_char(c) || ((c == '@' || c == '#') && next_is_word(&chunk[i + 1..])) {
            let kind = match c {
                '@' => Kind::Handle,
                '#' => Kind::Hashtag,
                _ => Kind::Word,
            };
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = iter.peek() {
                let joiner = (d == '\'' || d == '’' || d == '-' || d == '_')
                    && next_is_word(&chunk[j + d.len_utf8()..]);
                if is_word_char(d) || joiner || (kind == Kind::Handle && d == '.') {
                    end = j + d.len_utf8();
                    iter.next();
                } else {
                    break;
                }
            }
            // A handle ending in '.' is the end of the sentence.
            while kind == Kind::Handle && bytes[end - 1] == b'.' {
                end -= 1;
            }
            out.push(Token {
                start: base + i,
                end: base + end,
                kind,
            });
        } else if c == '!' || c == '?' {
            out.push(Token {
                start: base + i,
                end: base + i + 1,
                kind: Kind::Mark,
            });
        } else if is_emoji(c) {
            out.push(Token {
                start: base + i,
                end: base + i + c.len_utf8(),
                kind: Kind::Emoji,
            });
        }
    }
}

fn next_is_word(rest: &str) -> bool {
    rest.chars().next().is_some_and(is_word_char)
}

/// Lowercases `text` into `out` keeping every character's byte length, so
/// token ranges found in `text` index `out` too: characters whose lowercase
/// has another length (rare: `İ`) are kept as they are. Done once per
/// message and shared by every analysis.
pub fn lowercase_same_len(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        out.push_str(text);
        out.make_ascii_lowercase();
        return;
    }
    for c in text.chars() {
        let mut lower = c.to_lowercase();
        match (lower.next(), lower.next()) {
            (Some(l), None) if l.len_utf8() == c.len_utf8() => out.push(l),
            _ => out.push(c),
        }
    }
}

/// Lowercases `word` into `buf` and returns it, folding the typographic
/// apostrophe so "don’t" and "don't" are one word.
pub fn lower_into<'b>(word: &str, buf: &'b mut String) -> &'b str {
    buf.clear();
    for c in word.chars() {
        match c {
            '’' => buf.push('\''),
            c if c.is_ascii() => buf.push(c.to_ascii_lowercase()),
            c => buf.extend(c.to_lowercase()),
        }
    }
    buf.as_str()
}

/// True when a word is written in capitals (at least two letters, no
/// lowercase), which is shouting.
pub fn is_shouted(word: &str) -> bool {
    let mut letters = 0;
    for c in word.chars() {
        if c.is_lowercase() {
            return false;
        }
        if c.is_alphabetic() {
            letters += 1;
        }
    }
    letters >= 2
}

/// Byte offsets to character offsets: the public output counts characters.
#[derive(Debug)]
pub struct CharIndex<'t> {
    text: &'t str,
    ascii: bool,
}

impl<'t> CharIndex<'t> {
    /// Indexes `text`.
    pub fn new(text: &'t str) -> Self {
        Self {
            text,
            ascii: text.is_ascii(),
        }
    }

    /// The character offset of byte offset `byte` (a char boundary).
    pub fn chars_at(&self, byte: usize) -> usize {
        if self.ascii {
            byte
        } else {
            self.text[..byte].chars().count()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(&str, Kind)> {
        let mut out = Vec::new();
        tokenize(text, |c| c == ":(" || c == "<3", &mut out);
        out.iter().map(|t| (t.text(text), t.kind)).collect()
    }

    #[test]
    fn words_handles_links_marks_and_emoticons() {
        assert_eq!(
            kinds("@United don't lose my bag!! see https://x.co/a. :( 😡"),
            vec![
                ("@United", Kind::Handle),
                ("don't", Kind::Word),
                ("lose", Kind::Word),
                ("my", Kind::Word),
                ("bag", Kind::Word),
                ("!", Kind::Mark),
                ("!", Kind::Mark),
                ("see", Kind::Word),
                ("https://x.co/a", Kind::Link),
                (":(", Kind::Emoticon),
                ("😡", Kind::Emoji),
            ]
        );
    }

    #[test]
    fn emails_are_links_and_hashtags_keep_their_word() {
        assert_eq!(
            kinds("mail me at a.b@c.com #fail"),
            vec![
                ("mail", Kind::Word),
                ("me", Kind::Word),
                ("at", Kind::Word),
                ("a.b@c.com", Kind::Link),
                ("#fail", Kind::Hashtag),
            ]
        );
    }

    #[test]
    fn char_offsets_count_characters() {
        let text = "héllo wörld";
        let index = CharIndex::new(text);
        assert_eq!(index.chars_at(text.find('w').unwrap()), 6);
    }

    #[test]
    fn shouting_needs_two_capitals_and_no_lowercase() {
        assert!(is_shouted("WHERE"));
        assert!(is_shouted("ISN'T"));
        assert!(!is_shouted("I"));
        assert!(!is_shouted("Where"));
    }
}
