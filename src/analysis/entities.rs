//! Facts in a message (order and ticket numbers, e-mail addresses, phone
//! numbers, money, links, card numbers) and masking them before the text
//! is posted to team chat.
//!
//! Hand-written scanners rather than one regular expression per kind:
//! every kind needs context a regex expresses badly (a card number must
//! pass the Luhn check, an order number is the id after "order", a phone
//! number is a digit run shaped like one), and one pass over the bytes is
//! what keeps analysis fast. Spans are byte ranges here; the public output
//! converts them to character offsets.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kinds of fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// An order, purchase, invoice, tracking or booking number.
    OrderNumber,
    /// A ticket, case or reference number.
    TicketNumber,
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// An amount of money.
    Money,
    /// A link.
    Url,
    /// A payment card number (Luhn-checked). Always masked.
    CardNumber,
}

impl EntityKind {
    /// Every kind.
    pub const ALL: [EntityKind; 7] = [
        EntityKind::OrderNumber,
        EntityKind::TicketNumber,
        EntityKind::Email,
        EntityKind::Phone,
        EntityKind::Money,
        EntityKind::Url,
        EntityKind::CardNumber,
    ];

    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::OrderNumber => "order_number",
            EntityKind::TicketNumber => "ticket_number",
            EntityKind::Email => "email",
            EntityKind::Phone => "phone",
            EntityKind::Money => "money",
            EntityKind::Url => "url",
            EntityKind::CardNumber => "card_number",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntityKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = EntityKind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown entity kind `{s}` (known: {})", names.join(", "))
            })
    }
}

/// One fact found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// What it is.
    pub kind: EntityKind,
    /// Start byte.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
}

impl Entity {
    /// The entity's text.
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start..self.end]
    }
}

const ORDER_WORDS: &[&str] = &[
    "order",
    "purchase",
    "invoice",
    "bill",
    "tracking",
    "booking",
    "reservation",
    "confirmation",
    "shipment",
    "package",
    "parcel",
    "transaction",
    "receipt",
    "item",
    "delivery",
];
const TICKET_WORDS: &[&str] = &[
    "ticket",
    "case",
    "reference",
    "ref",
    "incident",
    "claim",
    "request",
];
const ID_FILLERS: &[&str] = &["number", "no", "nr", "num", "id", "is", "was", "code", "#"];
const PHONE_WORDS: &[&str] = &[
    "phone",
    "call",
    "tel",
    "telephone",
    "mobile",
    "cell",
    "whatsapp",
    "text",
    "sms",
    "ring",
];
const CURRENCY_SYMBOLS: &[&str] = &["$", "€", "£", "¥", "₹"];
const CURRENCY_WORDS: &[&str] = &[
    "usd", "eur", "gbp", "cad", "aud", "chf", "jpy", "inr", "dollar", "dollars", "euro", "euros",
    "pound", "pounds", "bucks", "quid", "cents",
];

/// Finds every entity in `text`, in order, without overlaps.
pub fn find(text: &str, out: &mut Vec<Entity>) {
    out.clear();
    let (may_link, digits) = may_hold(text.as_bytes());
    if may_link {
        links(text, out);
    }
    if digits {
        numbers(text, out);
    }
    out.sort_by_key(|e| e.start);
}

/// Whether a text may hold a link (it has an `@`, `://`, `www.` or
/// `WWW.`) and whether it has a digit, which every number kind needs.
/// Most messages have neither, so this is one pass over the bytes, eight
/// at a time, looking at single bytes only in the eights that have one
/// from `.` to `:` (dots, slashes, digits, colons) or an `@`.
fn may_hold(b: &[u8]) -> (bool, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = ONES * 0x7f;
    const HIGH: u64 = ONES * 0x80;
    // (link, digits) so far.
    let mut found = (false, false);
    let look = |found: &mut (bool, bool), i: usize| match b[i] {
        b'0'..=b'9' => found.1 = true,
        b'@' => found.0 = true,
        b':' => found.0 |= b[i + 1..].starts_with(b"//"),
        b'.' => found.0 |= i >= 3 && matches!(&b[i - 3..i], b"www" | b"WWW"),
        _ => {}
    };
    let mut at = 0;
    for chunk in b.chunks_exact(8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // Per byte, with no carry between bytes (each sum stays under
        // 0x100): the high bit says ASCII and at least `.`, and not
        // above `:`; or equal to `@`.
        let low = w & LOW7;
        let from_dot = low + ONES * (0x80 - u64::from(b'.'));
        let past_colon = low + ONES * (0x80 - u64::from(b':') - 1);
        let zero_at_at_sign = w ^ (ONES * u64::from(b'@'));
        let at_sign = !(((zero_at_at_sign & LOW7) + LOW7) | zero_at_at_sign);
        if (from_dot & !past_colon & !w | at_sign) & HIGH != 0 {
            (at..at + 8).for_each(|i| look(&mut found, i));
            if found == (true, true) {
                return found;
            }
        }
        at += 8;
    }
    (at..b.len()).for_each(|i| look(&mut found, i));
    found
}

/// Where chunks of text that may be links end.
fn is_link_separator(c: char) -> bool {
    c.is_whitespace() || c == '<' || c == '>' || c == '"'
}

/// Links and e-mail addresses, chunk by chunk: only the chunks around an
/// `@`, `://` or `www.` (any case) can be either, so those are found in
/// the bytes and the chunk around each is taken from there.
fn links(text: &str, out: &mut Vec<Entity>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let trigger = match b[i] {
            b'@' => true,
            b':' => b[i + 1..].starts_with(b"//"),
            b'.' => i >= 3 && b[i - 3..i].eq_ignore_ascii_case(b"www"),
            _ => false,
        };
        if !trigger {
            i += 1;
            continue;
        }
        // The trigger's bytes are ASCII and no separator, so the chunk
        // holding its first byte holds all of it.
        let start = text[..i]
            .char_indices()
            .rev()
            .find(|&(_, c)| is_link_separator(c))
            .map_or(0, |(j, c)| j + c.len_utf8());
        let end = text[i..].find(is_link_separator).map_or(b.len(), |j| i + j);
        link_in_chunk(start, &text[start..end], out);
        i = end;
    }
}

/// [`links`] for one chunk (starting at byte `base`) that holds an `@`,
/// `://` or `www.`.
fn link_in_chunk(base: usize, chunk: &str, out: &mut Vec<Entity>) {
    if chunk.len() < 5 {
        return;
    }
    let bytes = chunk.as_bytes();
    if let Some(start) = [&b"https://"[..], b"http://", b"www."]
        .iter()
        .filter_map(|p| {
            bytes
                .windows(p.len())
                .position(|w| w.eq_ignore_ascii_case(p))
        })
        .min()
    {
        let rest = &chunk[start..];
        let trimmed = rest.trim_end_matches(|c: char| ".,;:!?)]}'".contains(c));
        if trimmed.len() > 8 {
            out.push(Entity {
                kind: EntityKind::Url,
                start: base + start,
                end: base + start + trimmed.len(),
            });
        }
        return;
    }
    if let Some(at) = chunk.find('@') {
        let b = chunk.as_bytes();
        let local_ok = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
        let domain_ok = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-';
        let mut s = at;
        while s > 0 && local_ok(b[s - 1]) {
            s -= 1;
        }
        let mut e = at + 1;
        while e < b.len() && domain_ok(b[e]) {
            e += 1;
        }
        while e > at + 1 && (b[e - 1] == b'.' || b[e - 1] == b'-') {
            e -= 1;
        }
        let domain = &chunk[at + 1..e];
        let tld_ok = domain.rsplit_once('.').is_some_and(|(host, tld)| {
            !host.is_empty() && tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic())
        });
        if s < at && tld_ok {
            out.push(Entity {
                kind: EntityKind::Email,
                start: base + s,
                end: base + e,
            });
        }
    }
}

fn overlaps(out: &[Entity], start: usize, end: usize) -> bool {
    out.iter().any(|e| start < e.end && e.start < end)
}

/// Digit runs: card numbers, money, phones, then ids after a keyword.
fn numbers(text: &str, out: &mut Vec<Entity>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit()
            || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'-'))
        {
            i += 1;
            continue;
        }
        let run = digit_run(b, i);
        if overlaps(out, run.start, run.end) {
            i = run.end.max(i + 1);
            continue;
        }
        let entity = classify_run(text, &run);
        if let Some(e) = &entity {
            i = e.end.max(run.end);
            out.push(e.clone());
        } else {
            i = run.end.max(i + 1);
        }
    }
    ids_after_keywords(text, out);
}

/// A run of digit groups joined by single separators.
struct Run {
    start: usize,
    end: usize,
    digits: usize,
    groups: usize,
    /// The separators used between groups.
    separators: Separators,
    /// Starts with '+' or '(' (phone shapes).
    plus: bool,
    paren: bool,
    /// The first group's length.
    first_group: usize,
}

/// A set of the bytes that may join the groups of a [`Run`], as bits:
/// every digit run of every message asks which were used.
#[derive(Debug, Clone, Copy, Default)]
struct Separators(u8);

impl Separators {
    /// The bit of a separator; other bytes have none.
    fn bit(b: u8) -> u8 {
        match b {
            b' ' => 1,
            b'-' => 2,
            b'.' => 4,
            b',' => 8,
            b')' => 16,
            _ => 0,
        }
    }

    fn insert(&mut self, b: u8) {
        self.0 |= Self::bit(b);
    }

    fn contains(self, b: u8) -> bool {
        self.0 & Self::bit(b) != 0
    }

    /// True when every separator used is among `allowed`.
    fn only(self, allowed: &[u8]) -> bool {
        let allowed = allowed.iter().fold(0, |bits, &b| bits | Self::bit(b));
        self.0 & !allowed == 0
    }
}

fn digit_run(b: &[u8], start: usize) -> Run {
    let mut run = Run {
        start,
        end: start,
        digits: 0,
        groups: 0,
        separators: Separators::default(),
        plus: start > 0 && b[start - 1] == b'+',
        paren: start > 0 && b[start - 1] == b'(',
        first_group: 0,
    };
    if run.plus || run.paren {
        run.start -= 1;
    }
    let mut i = start;
    loop {
        let group_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == group_start {
            break;
        }
        run.digits += i - group_start;
        run.groups += 1;
        if run.groups == 1 {
            run.first_group = i - group_start;
        }
        run.end = i;
        // A separator continues the run only when a digit follows it;
        // ") " continues a "(555) 123" shape.
        let mut j = i;
        if j < b.len() && b[j] == b')' && run.paren && run.groups == 1 {
            j += 1;
            run.separators.insert(b')');
        }
        let mut separator = None;
        if j < b.len() && matches!(b[j], b' ' | b'-' | b'.' | b',') {
            separator = Some(b[j]);
            j += 1;
        }
        if j > i && j < b.len() && b[j].is_ascii_digit() && j - i <= 2 {
            if let Some(separator) = separator {
                run.separators.insert(separator);
            }
            i = j;
        } else {
            break;
        }
    }
    run
}

fn classify_run(text: &str, run: &Run) -> Option<Entity> {
    let before = &text[..run.start];
    let seps = run.separators;
    let only = |allowed: &[u8]| seps.only(allowed);
    // Asked only when the shape needs it: most runs are short numbers.
    let named_id = || keyword_before(before).is_some();
    // Card numbers: 13-19 digits, no separators or spaces/hyphens, Luhn —
    // unless the words before call it an order or ticket number (one in
    // ten long numbers passes Luhn by chance).
    if (13..=19).contains(&run.digits)
        && only(b" -")
        && !run.plus
        && !run.paren
        && !named_id()
        && luhn_of_digits(text[run.start..run.end].bytes().filter(u8::is_ascii_digit))
    {
        return Some(Entity {
            kind: EntityKind::CardNumber,
            start: run.start,
            end: run.end,
        });
    }
    if let Some(e) = money(text, run, before) {
        return Some(e);
    }
    let phone_context = || {
        last_words(before)
            .take(3)
            .any(|w| is_one_of(w, PHONE_WORDS))
    };
    let phone_shape = run.plus && (7..=15).contains(&run.digits) && only(b" -.)")
        || run.paren && run.digits == 10 && seps.contains(b')')
        || run.groups >= 3
            && (10..=12).contains(&run.digits)
            && only(b" -.")
            && run.first_group <= 4
        || (7..=15).contains(&run.digits) && only(b" -.)") && phone_context();
    if phone_shape && !named_id() {
        return Some(Entity {
            kind: EntityKind::Phone,
            start: run.start,
            end: run.end,
        });
    }
    None
}

fn money(text: &str, run: &Run, before: &str) -> Option<Entity> {
    if run.plus || run.paren || !run.separators.only(b",. ") {
        return None;
    }
    // The number itself: digits with thousands commas and decimals only;
    // a space ends it.
    let mut end = run.start;
    let b = text.as_bytes();
    while end < run.end && b[end] != b' ' {
        end += 1;
    }
    let trimmed_before = before.trim_end();
    let symbol_before = CURRENCY_SYMBOLS
        .iter()
        .find(|s| trimmed_before.ends_with(*s) && before.len() - trimmed_before.len() <= 1)
        .map(|s| trimmed_before.len() - s.len());
    let code_before = last_words(before)
        .next()
        .filter(|w| is_one_of(w, CURRENCY_WORDS) && w.len() == 3)
        .map(|w| trimmed_before.len() - w.len());
    let after_number = &text[end..];
    let symbol_after = CURRENCY_SYMBOLS
        .iter()
        .find(|s| {
            after_number.trim_start().starts_with(*s)
                && after_number.len() - after_number.trim_start().len() <= 1
        })
        .map(|s| end + (after_number.len() - after_number.trim_start().len()) + s.len());
    let word_after = first_word(after_number)
        .and_then(|(w, len)| is_one_of(w, CURRENCY_WORDS).then_some(end + len));
    let start = symbol_before.or(code_before);
    let stop = symbol_after.or(word_after);
    if start.is_none() && stop.is_none() {
        return None;
    }
    Some(Entity {
        kind: EntityKind::Money,
        start: start.unwrap_or(run.start),
        end: stop.unwrap_or(end),
    })
}

/// Ids after "order", "ticket", "#": letters and digits with at least
/// three digits ("#12345", "order no. AB-12345", "purchase 00123842").
fn ids_after_keywords(text: &str, out: &mut Vec<Entity>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let at_word =
            i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'-' || b[i - 1] == b'#');
        let hash = b[i] == b'#';
        if !(at_word && (b[i].is_ascii_alphanumeric() || hash)) {
            i += 1;
            continue;
        }
        let start = if hash { i + 1 } else { i };
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'-' || b[end] == b'_')
        {
            end += 1;
        }
        while end > start && b[end - 1] == b'-' {
            end -= 1;
        }
        let word = &text[start..end];
        let digits = word.bytes().filter(u8::is_ascii_digit).count();
        if digits >= 3 && word.len() <= 30 && !overlaps(out, start, end) {
            let kind = keyword_before(&text[..i]).or(hash.then_some(EntityKind::OrderNumber));
            if let Some(kind) = kind {
                out.push(Entity { kind, start, end });
            }
        }
        i = end.max(i + 1);
    }
}

/// The id kind named by the words just before a position: "order",
/// "order number", "ticket no.", "invoice #".
fn keyword_before(before: &str) -> Option<EntityKind> {
    for w in last_words(before).take(3) {
        let plural_of = |o: &&str| {
            w.len() == o.len() + 1
                && matches!(w.as_bytes()[o.len()], b's' | b'S')
                && w[..o.len()].eq_ignore_ascii_case(o)
        };
        if is_one_of(w, ORDER_WORDS) || ORDER_WORDS.iter().any(plural_of) {
            return Some(EntityKind::OrderNumber);
        }
        if is_one_of(w, TICKET_WORDS) {
            return Some(EntityKind::TicketNumber);
        }
        if !is_one_of(w, ID_FILLERS) {
            return None;
        }
    }
    None
}

/// The words before a position, nearest first, trimmed of dots, hashes
/// and quotes (a word of nothing else is "#") but not lowercased: compare
/// them with [`is_one_of`]. Borrowed, since this runs for every number.
fn last_words(before: &str) -> impl Iterator<Item = &str> {
    before
        .rsplit(|c: char| c.is_whitespace() || c == ':' || c == ',' || c == '(')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.trim_matches(|c: char| c == '.' || c == '#' || c == '\'');
            if w.is_empty() { "#" } else { w }
        })
}

/// True when `word` is one of the lowercase `words`, ignoring ASCII case.
fn is_one_of(word: &str, words: &[&str]) -> bool {
    words.iter().any(|w| word.eq_ignore_ascii_case(w))
}

/// The first word of `s` (after at most one space) and the bytes to its end.
fn first_word(s: &str) -> Option<(&str, usize)> {
    let skipped = s.len() - s.trim_start().len();
    if skipped > 1 {
        return None;
    }
    let rest = &s[skipped..];
    let len = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    (len > 0).then(|| (&rest[..len], skipped + len))
}

/// The Luhn checksum of a digit string.
pub fn luhn(digits: &str) -> bool {
    luhn_of_digits(digits.bytes())
}

/// [`luhn`] over the digits as they come, with no string built.
fn luhn_of_digits(digits: impl DoubleEndedIterator<Item = u8>) -> bool {
    let mut sum = 0;
    let mut count = 0;
    for (i, c) in digits.rev().enumerate() {
        count += 1;
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    count > 0 && sum % 10 == 0
}

/// Which kinds are masked before text reaches team chat. Card numbers are
/// always masked, whatever the configuration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactionPolicy {
    masked: BTreeSet<EntityKind>,
}

impl RedactionPolicy {
    /// A policy masking `kinds` (plus card numbers).
    pub fn new(kinds: impl IntoIterator<Item = EntityKind>) -> Self {
        let mut masked: BTreeSet<EntityKind> = kinds.into_iter().collect();
        masked.insert(EntityKind::CardNumber);
        Self { masked }
    }

    /// True when `kind` is masked.
    pub fn masks(&self, kind: EntityKind) -> bool {
        self.masked.contains(&kind)
    }

    /// `text` with the masked entities replaced, e.g. "[card ending 4242]".
    pub fn redact(&self, text: &str, entities: &[Entity]) -> String {
        let mut out = String::with_capacity(text.len());
        self.redact_into(text, entities, &mut out);
        out
    }

    /// [`Self::redact`] into a reused buffer (cleared first).
    pub fn redact_into(&self, text: &str, entities: &[Entity], out: &mut String) {
        out.clear();
        let mut at = 0;
        for e in entities.iter().filter(|e| self.masks(e.kind)) {
            out.push_str(&text[at..e.start]);
            out.push_str(&mask(e.kind, e.text(text)));
            at = e.end;
        }
        out.push_str(&text[at..]);
    }
}

impl Default for RedactionPolicy {
    fn default() -> Self {
        Self::new([])
    }
}

/// The stand-in for a masked entity. A card keeps its last four digits,
/// which is what agents need to tell cards apart and what PCI DSS allows.
fn mask(kind: EntityKind, text: &str) -> String {
    match kind {
        EntityKind::CardNumber => {
            let digits: Vec<char> = text.chars().filter(char::is_ascii_digit).collect();
            let last: String = digits[digits.len().saturating_sub(4)..].iter().collect();
            format!("[card ending {last}]")
        }
        other => format!("[{other}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(EntityKind, &str)> {
        let mut out = Vec::new();
        find(text, &mut out);
        out.iter().map(|e| (e.kind, e.text(text))).collect()
    }

    #[test]
    fn order_and_ticket_numbers_after_keywords() {
        use EntityKind::*;
        assert_eq!(
            found("how can I cancel purchase 113542617735902?"),
            [(OrderNumber, "113542617735902")]
        );
        assert_eq!(
            found("order #A-12345 and ticket no. 5521 please"),
            [(OrderNumber, "A-12345"), (TicketNumber, "5521")]
        );
        assert_eq!(found("check invoice #12588"), [(OrderNumber, "12588")]);
        assert_eq!(found("see #4471"), [(OrderNumber, "4471")]);
        assert_eq!(found("I have 2 orders"), []);
    }

    #[test]
    fn emails_links_and_phones() {
        use EntityKind::*;
        assert_eq!(
            found("mail jane.doe+x@example.co.uk or see https://example.com/help?a=1."),
            [
                (Email, "jane.doe+x@example.co.uk"),
                (Url, "https://example.com/help?a=1")
            ]
        );
        assert_eq!(
            found("call me on +44 20 7946 0958"),
            [(Phone, "+44 20 7946 0958")]
        );
        assert_eq!(
            found("my number is (555) 123-4567"),
            [(Phone, "(555) 123-4567")]
        );
        assert_eq!(found("555-123-4567 anytime"), [(Phone, "555-123-4567")]);
        assert_eq!(found("user@localhost"), []);
    }

    #[test]
    fn money_in_several_shapes() {
        use EntityKind::*;
        assert_eq!(found("charged $1,299.99 twice"), [(Money, "$1,299.99")]);
        assert_eq!(
            found("it was €15 not 15 EUR"),
            [(Money, "€15"), (Money, "15 EUR")]
        );
        assert_eq!(found("I paid 1499 dollars"), [(Money, "1499 dollars")]);
        assert_eq!(found("USD 20 back"), [(Money, "USD 20")]);
    }

    #[test]
    fn card_numbers_need_the_luhn_check() {
        use EntityKind::*;
        assert_eq!(
            found("card 4242 4242 4242 4242 declined"),
            [(CardNumber, "4242 4242 4242 4242")]
        );
        assert_eq!(
            found("4111-1111-1111-1111"),
            [(CardNumber, "4111-1111-1111-1111")]
        );
        // Same length, fails Luhn: not a card.
        assert_eq!(found("card 4242 4242 4242 4241"), []);
        assert!(luhn("79927398713"));
        assert!(!luhn("79927398710"));
    }

    #[test]
    fn redaction_masks_cards_always_and_others_by_policy() {
        let text = "card 4242424242424242, mail a@b.io, order 12345";
        let mut entities = Vec::new();
        find(text, &mut entities);
        assert_eq!(
            RedactionPolicy::default().redact(text, &entities),
            "card [card ending 4242], mail a@b.io, order 12345"
        );
        assert_eq!(
            RedactionPolicy::new([EntityKind::Email]).redact(text, &entities),
            "card [card ending 4242], mail [email], order 12345"
        );
    }

    #[test]
    fn kinds_parse_by_name() {
        assert_eq!("email".parse::<EntityKind>(), Ok(EntityKind::Email));
        assert!(
            "ssn"
                .parse::<EntityKind>()
                .unwrap_err()
                .contains("card_number")
        );
    }

    #[test]
    fn the_byte_scan_agrees_with_searching() {
        // Pieces around the bytes it looks for and their neighbours
        // ('-' and '/' below and in the range, ';' and '?' above, 'A'
        // after '@'), strung together by a fixed pseudo-random sequence.
        let pieces = [
            "w", "W", "ww", "www", ".", ":", "/", "//", "@", "0", "9", "-", ";", "?", "A", "é",
            "x", " ",
        ];
        let mut seed = 1u64;
        for _ in 0..20_000 {
            let mut text = String::new();
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            for _ in 0..(seed >> 59) + 1 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                text.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            let link = text.contains('@')
                || text.contains("://")
                || text.contains("www.")
                || text.contains("WWW.");
            let digits = text.bytes().any(|b| b.is_ascii_digit());
            assert_eq!(may_hold(text.as_bytes()), (link, digits), "{text:?}");
        }
    }

    #[test]
    fn non_ascii_text_is_safe() {
        let text = "Bestellung 12345 für €20 — ok ☺ café@例え.jp";
        let mut out = Vec::new();
        find(text, &mut out);
        for e in &out {
            assert!(text.is_char_boundary(e.start) && text.is_char_boundary(e.end));
        }
    }
}
