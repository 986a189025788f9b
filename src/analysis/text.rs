//! Splitting a message into the tokens every analysis reads.
//!
//! One pass, no allocation per token: tokens are byte ranges into the
//! original text. Handles, URLs and e-mail addresses are their own kinds so
//! that sentiment and intent can skip them (a brand's handle is not an
//! opinion), and emoticons survive as single tokens because a whitespace
//! chunk that is a known emoticon is kept whole.

/// A fast hash for the fixed lookup tables (lexicon, roles, feature
/// weights), which every word of every message is looked up in. Seeded
/// hashing (the std default) guards tables that attackers can insert into;
/// these are built once from shipped and configured data, and a message
/// only looks words up.
///
/// Eight bytes per multiply (words are short, so one or two steps), then
/// a final mix (murmur3's) so that every bit of the result depends on every
/// input bit: hashbrown takes the bucket from the low bits and a tag from
/// the high ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct WordHasher(u64);

/// An odd constant with well-spread bits (2^64 / golden ratio).
const STEP: u64 = 0x9e37_79b9_7f4a_7c15;

impl std::hash::Hasher for WordHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            h = (h.rotate_left(5) ^ word).wrapping_mul(STEP);
        }
        // The rest (under eight bytes) as a little-endian integer, from
        // two overlapping reads (the overlap holds the same bytes, so OR
        // is exact) instead of a byte loop or a call to memcpy. The length
        // goes in the top byte, so "a" and "a\0" differ.
        let word = (bytes.len() as u64) << 56 | tail_le(chunks.remainder());
        self.0 = (h.rotate_left(5) ^ word).wrapping_mul(STEP);
    }

    // `str` hashes as its bytes and then 0xff: one step, not a whole write.
    fn write_u8(&mut self, byte: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(STEP);
    }
}

/// Up to seven bytes as a little-endian integer.
#[inline]
fn tail_le(rest: &[u8]) -> u64 {
    let n = rest.len();
    let r4 = |i: usize| u64::from(u32::from_le_bytes(rest[i..i + 4].try_into().expect("four")));
    match n {
        0 => 0,
        1..=3 => {
            u64::from(rest[0])
                | u64::from(rest[n / 2]) << (8 * (n / 2))
                | u64::from(rest[n - 1]) << (8 * (n - 1))
        }
        _ => r4(0) | r4(n - 4) << (8 * (n - 4)),
    }
}

/// A map over [`WordHasher`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<WordHasher>>;
/// A set over [`WordHasher`].
pub type FastSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<WordHasher>>;

/// The [`WordHasher`] hash of `bytes`.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = WordHasher::default();
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
    if text.is_ascii() {
        tokenize_ascii(text, is_emoticon, out);
    } else {
        tokenize_chunks(text, is_emoticon, out);
    }
}

/// Could `chunk` be an emoticon (short, not all letters and digits, and
/// not only sentence marks)? Only then is the lexicon asked.
fn has_punct_only_shape(chunk: &str) -> bool {
    chunk.len() <= 4
        && chunk.chars().any(|c| !c.is_alphanumeric())
        && !chunk.chars().all(|c| c == '!' || c == '?' || c == '.')
}

/// What [`tokenize_ascii`] needs to know of a byte, from one table read
/// (it asks of every byte of most messages).
static ASCII_CLASS: [u8; 256] = {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = if is_ascii_space(b as u8) {
            SPACE
        } else if (b as u8).is_ascii_alphanumeric() {
            ALNUM
        } else {
            0
        };
        b += 1;
    }
    table
};
/// [`ASCII_CLASS`]: whitespace, which ends a chunk.
const SPACE: u8 = 1;
/// [`ASCII_CLASS`]: a letter or digit, which words are made of.
const ALNUM: u8 = 2;

/// [`tokenize_chunks`] for an all-ASCII text (most messages) in one pass:
/// a chunk's words are split as its end is searched for, instead of
/// finding the chunk first and reading it again.
///
/// Over ASCII the whitespace that ends a chunk is neither a letter nor a
/// joiner nor a dot, so a word never runs past its chunk and splitting
/// the whole text gives each chunk's words. Only the chunks that may be
/// an emoticon or a link (short with punctuation, holding an `@`, or
/// starting with `h` or `w`) are looked at whole afterwards, and then
/// their words are taken back.
fn tokenize_ascii(text: &str, is_emoticon: impl Fn(&str) -> bool, out: &mut Vec<Token>) {
    let bytes = text.as_bytes();
    let class = |i: usize| bytes.get(i).map_or(0, |&b| ASCII_CLASS[usize::from(b)]);
    let mut i = 0;
    while i < bytes.len() {
        if class(i) == SPACE {
            i += 1;
            continue;
        }
        let start = i;
        let first_token = out.len();
        let mut has_at = false;
        while i < bytes.len() && class(i) != SPACE {
            let c = bytes[i];
            has_at |= c == b'@';
            if class(i) == ALNUM || ((c == b'@' || c == b'#') && class(i + 1) == ALNUM) {
                let kind = match c {
                    b'@' => Kind::Handle,
                    b'#' => Kind::Hashtag,
                    _ => Kind::Word,
                };
                let mut end = i + 1;
                loop {
                    // Letters and digits in one tight scan, then the joiners.
                    while class(end) == ALNUM {
                        end += 1;
                    }
                    let Some(&d) = bytes.get(end) else {
                        break;
                    };
                    let joiner = matches!(d, b'\'' | b'-' | b'_') && class(end + 1) == ALNUM;
                    if joiner || (kind == Kind::Handle && d == b'.') {
                        end += 1;
                    } else {
                        break;
                    }
                }
                i = push_word(bytes, 0, i, end, kind, out);
            } else {
                if c == b'!' || c == b'?' {
                    out.push(Token {
                        start: i,
                        end: i + 1,
                        kind: Kind::Mark,
                    });
                }
                i += 1;
            }
        }
        if !(has_at || matches!(bytes[start], b'h' | b'H' | b'w' | b'W') || i - start <= 4) {
            continue;
        }
        let chunk = &text[start..i];
        if has_punct_only_shape(chunk) && is_emoticon(chunk) {
            out.truncate(first_token);
            out.push(Token {
                start,
                end: i,
                kind: Kind::Emoticon,
            });
        } else if let Some(kind) = link_kind(chunk, has_at) {
            out.truncate(first_token);
            let trimmed = chunk.trim_end_matches(|c: char| ".,;:!?)]}'\"".contains(c));
            out.push(Token {
                start,
                end: start + trimmed.len(),
                kind,
            });
            push_marks(&chunk[trimmed.len()..], start + trimmed.len(), out);
        }
    }
}

/// [`tokenize`] chunk by chunk, for any text.
fn tokenize_chunks(text: &str, is_emoticon: impl Fn(&str) -> bool, out: &mut Vec<Token>) {
    for (chunk_start, chunk, has_at) in chunks(text) {
        if has_punct_only_shape(chunk) && is_emoticon(chunk) {
            out.push(Token {
                start: chunk_start,
                end: chunk_start + chunk.len(),
                kind: Kind::Emoticon,
            });
            continue;
        }
        if let Some(kind) = link_kind(chunk, has_at) {
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

/// Whitespace-separated chunks with their start byte, and whether they
/// hold an `@` (which [`link_kind`] needs to know).
fn chunks(text: &str) -> Chunks<'_> {
    Chunks { text, at: 0 }
}

/// [`chunks`]: splits on Unicode whitespace like `str::split_whitespace`,
/// but looks at ASCII bytes directly and decodes only non-ASCII characters,
/// since this runs over every byte of every message.
struct Chunks<'t> {
    text: &'t str,
    at: usize,
}

/// ASCII whitespace as `char::is_whitespace` sees it.
const fn is_ascii_space(b: u8) -> bool {
    b == b' ' || (b >= b'\t' && b <= b'\r')
}

/// Bytes where a chunk may end: ASCII whitespace, and any non-ASCII byte
/// (whose character is then looked at); and `@`, noted on the way so that
/// the chunk is not scanned again for it. A table, because this is asked
/// of every byte of every message.
static STOPS_CHUNK_SCAN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b >= 0x80 || is_ascii_space(b as u8) || b == b'@' as usize;
        b += 1;
    }
    table
};

impl Chunks<'_> {
    /// The non-ASCII character at byte `i`.
    fn char_at(&self, i: usize) -> char {
        self.text[i..].chars().next().unwrap_or(' ')
    }
}

impl<'t> Iterator for Chunks<'t> {
    type Item = (usize, &'t str, bool);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.text.as_bytes();
        // Skip whitespace.
        loop {
            let b = *bytes.get(self.at)?;
            if b.is_ascii() {
                if !is_ascii_space(b) {
                    break;
                }
                self.at += 1;
            } else {
                let c = self.char_at(self.at);
                if !c.is_whitespace() {
                    break;
                }
                self.at += c.len_utf8();
            }
        }
        // Up to the next whitespace: a tight scan to the next byte that is
        // whitespace or not ASCII, and only then a look at the character.
        let start = self.at;
        let mut i = start;
        let mut has_at = false;
        loop {
            match bytes[i..]
                .iter()
                .position(|&b| STOPS_CHUNK_SCAN[usize::from(b)])
            {
                None => {
                    i = bytes.len();
                    break;
                }
                Some(p) => {
                    i += p;
                    if bytes[i] == b'@' {
                        has_at = true;
                        i += 1;
                        continue;
                    }
                    if bytes[i].is_ascii() {
                        break;
                    }
                    let c = self.char_at(i);
                    if c.is_whitespace() {
                        break;
                    }
                    i += c.len_utf8();
                }
            }
        }
        self.at = i;
        Some((start, &self.text[start..i], has_at))
    }
}

/// A chunk that is a URL or an e-mail address as a whole; `has_at` says
/// whether it holds an `@` at all.
fn link_kind(chunk: &str, has_at: bool) -> Option<Kind> {
    let bytes = chunk.as_bytes();
    let at = if has_at {
        bytes.iter().position(|&b| b == b'@')
    } else {
        None
    };
    if at.is_none() && !matches!(bytes.first(), Some(b'h' | b'H' | b'w' | b'W')) {
        // Neither an address nor the start of a link.
        return None;
    }
    let lower_starts = |p: &str| {
        chunk.len() > p.len()
            && chunk
                .get(..p.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(p))
    };
    if lower_starts("http://") || lower_starts("https://") || lower_starts("www.") {
        return Some(Kind::Link);
    }
    let at = at?;
    (at > 0 && bytes[at + 1..].contains(&b'.')).then_some(Kind::Link)
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
    if chunk.is_ascii() {
        split_ascii_chunk(chunk.as_bytes(), base, out);
    } else {
        split_any_chunk(chunk, base, out);
    }
}

/// [`split_any_chunk`] for the common all-ASCII chunk, on bytes: the same
/// rules with no character decoding (ASCII has no emoji and no `’`).
fn split_ascii_chunk(bytes: &[u8], base: usize, out: &mut Vec<Token>) {
    let word = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_alphanumeric);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_alphanumeric() || ((c == b'@' || c == b'#') && word(i + 1)) {
            let kind = match c {
                b'@' => Kind::Handle,
                b'#' => Kind::Hashtag,
                _ => Kind::Word,
            };
            let mut end = i + 1;
            while end < bytes.len() {
                // Letters and digits in one tight scan, then the joiners.
                end += bytes[end..]
                    .iter()
                    .position(|b| !b.is_ascii_alphanumeric())
                    .unwrap_or(bytes.len() - end);
                let Some(&d) = bytes.get(end) else {
                    break;
                };
                let joiner = matches!(d, b'\'' | b'-' | b'_') && word(end + 1);
                if d.is_ascii_alphanumeric() || joiner || (kind == Kind::Handle && d == b'.') {
                    end += 1;
                } else {
                    break;
                }
            }
            i = push_word(bytes, base, i, end, kind, out);
        } else {
            if c == b'!' || c == b'?' {
                out.push(Token {
                    start: base + i,
                    end: base + i + 1,
                    kind: Kind::Mark,
                });
            }
            i += 1;
        }
    }
}

/// Pushes the word, handle or hashtag at `start..end` of a chunk's
/// `bytes` and returns where it ends: a handle's trailing dots are the end
/// of the sentence, not the handle.
fn push_word(
    bytes: &[u8],
    base: usize,
    start: usize,
    mut end: usize,
    kind: Kind,
    out: &mut Vec<Token>,
) -> usize {
    while kind == Kind::Handle && bytes[end - 1] == b'.' {
        end -= 1;
    }
    out.push(Token {
        start: base + start,
        end: base + end,
        kind,
    });
    end
}

/// Splits one chunk of any text, character by character.
fn split_any_chunk(chunk: &str, base: usize, out: &mut Vec<Token>) {
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
            push_word(bytes, base, i, end, kind, out);
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

/// Whether a word has letters at all, and whether it is written in
/// capitals (at least two letters, no lowercase), which is shouting.
#[inline]
pub fn letters_and_shouting(word: &str) -> (bool, bool) {
    if word.is_ascii() {
        let b = word.as_bytes();
        if b.iter().any(u8::is_ascii_lowercase) {
            return (true, false);
        }
        let letters = b.iter().filter(|c| c.is_ascii_uppercase()).count();
        return (letters > 0, letters >= 2);
    }
    let mut letters = 0;
    for c in word.chars() {
        if c.is_lowercase() {
            // Lowercase letters are letters.
            return (true, false);
        }
        if c.is_alphabetic() {
            letters += 1;
        }
    }
    (letters > 0, letters >= 2)
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
    fn the_ascii_path_splits_like_the_general_one() {
        // Every chunk over a small alphabet of the characters the rules
        // care about, up to five long.
        let alphabet = b"aZ9'-_@#.!?:";
        let mut chunk = Vec::new();
        let mut total = 0;
        for n in 1..=5u32 {
            for mut code in 0..alphabet.len().pow(n) {
                chunk.clear();
                for _ in 0..n {
                    chunk.push(alphabet[code % alphabet.len()]);
                    code /= alphabet.len();
                }
                let text = std::str::from_utf8(&chunk).unwrap();
                let (mut fast, mut general) = (Vec::new(), Vec::new());
                split_ascii_chunk(&chunk, 3, &mut fast);
                split_any_chunk(text, 3, &mut general);
                assert_eq!(fast, general, "{text}");
                total += 1;
            }
        }
        assert!(total > 200_000);
    }

    #[test]
    fn a_word_tail_reads_as_its_bytes() {
        let bytes = b"abcdefg";
        for n in 0..=7 {
            let want = bytes[..n]
                .iter()
                .enumerate()
                .fold(0u64, |w, (i, &b)| w | u64::from(b) << (8 * i));
            assert_eq!(tail_le(&bytes[..n]), want, "{n}");
        }
    }

    #[test]
    fn the_ascii_text_path_tokenizes_like_the_chunk_one() {
        let emoticon = |c: &str| matches!(c, ":(" | "<3" | "h:" | "@:" | "w!?" | ":d");
        let same = |text: &str| {
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            tokenize_ascii(text, emoticon, &mut fast);
            tokenize_chunks(text, emoticon, &mut general);
            assert_eq!(fast, general, "{text:?}");
        };
        // Every text up to five long over the bytes the rules care about.
        let alphabet = b"ahW9'-@#.!?:( \t";
        let mut text = Vec::new();
        let mut total = 0;
        for n in 1..=5u32 {
            for mut code in 0..alphabet.len().pow(n) {
                text.clear();
                for _ in 0..n {
                    text.push(alphabet[code % alphabet.len()]);
                    code /= alphabet.len();
                }
                same(std::str::from_utf8(&text).unwrap());
                total += 1;
            }
        }
        assert!(total > 800_000);
        // Longer texts from pieces: links, addresses, handles, emoticons.
        let pieces = [
            "http://",
            "HTTPS://",
            "www.",
            "x.co/a",
            "a@b.c",
            "@Delta",
            "#fail",
            ":(",
            "<3",
            "h:",
            "help",
            "what",
            "don't",
            "order-123",
            ".",
            "!",
            "?",
            ")",
            "\"",
            " ",
            "\n",
            "  ",
            "word",
            "@",
            "w",
            "ok.",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut text = String::new();
        for _ in 0..20_000 {
            text.clear();
            for _ in 0..8 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            same(&text);
        }
    }

    #[test]
    fn chunks_split_on_unicode_whitespace() {
        for text in [
            "a b",
            "  héllo\u{a0}wörld\t\n!! ",
            "\u{2003}x\u{3000}y\u{85}z",
            "",
            "   ",
            "😡😡 ok",
            "@a b@c d@ @ é@é",
        ] {
            let ours: Vec<(usize, &str)> = chunks(text)
                .map(|(start, chunk, has_at)| {
                    assert_eq!(has_at, chunk.contains('@'), "{chunk:?}");
                    (start, chunk)
                })
                .collect();
            let std: Vec<(usize, &str)> = text
                .split_whitespace()
                .map(|c| (c.as_ptr() as usize - text.as_ptr() as usize, c))
                .collect();
            assert_eq!(ours, std, "{text:?}");
        }
    }

    #[test]
    fn char_offsets_count_characters() {
        let text = "héllo wörld";
        let index = CharIndex::new(text);
        assert_eq!(index.chars_at(text.find('w').unwrap()), 6);
    }

    #[test]
    fn shouting_needs_two_capitals_and_no_lowercase() {
        assert_eq!(letters_and_shouting("WHERE"), (true, true));
        assert_eq!(letters_and_shouting("ISN'T"), (true, true));
        assert_eq!(letters_and_shouting("I"), (true, false));
        assert_eq!(letters_and_shouting("Where"), (true, false));
        assert_eq!(letters_and_shouting("42"), (false, false));
    }
}
