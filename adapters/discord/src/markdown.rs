//! Text for Discord messages: customer-safe escaping, Slack mrkdwn turned
//! into Discord markdown, and splitting to Discord's length limit.
//!
//! Discord renders a markdown dialect plus tokens (`<@id>`, `<t:…>`,
//! `@everyone`) in message content. Text that should read as typed is
//! escaped with a backslash before the special character, which Discord
//! accepts before any ASCII punctuation. Bare `http(s)://` URLs are left
//! alone: Discord auto-links them, and a backslash inside one becomes part of
//! the link and breaks it.

/// `text` made literal for Discord: no markdown, heading, list, quote,
/// masked link, mention or other `<…>` token in it renders, and
/// `@everyone` / `@here` do not mention. Only what is special is escaped,
/// so the raw text stays readable; bare URLs are kept intact and still
/// auto-link.
///
/// Escaping is what Discord renders; whether `@everyone` notifies is decided
/// by the message's `allowed_mentions`, which should be empty as well.
pub fn escape(text: &str) -> String {
    render(text, false)
}

/// Slack mrkdwn, as the Slack adapter leaves it after turning mentions,
/// links and entities into plain text, as Discord markdown that looks the
/// same: `*bold*` → `**bold**`, `_italic_` → `_italic_`, `~strike~` →
/// `~~strike~~`, inline code and fenced blocks unchanged, `>` quotes kept.
/// Emphasis follows Slack's rules (markers at word boundaries, within one
/// line), so `2*3*4` and `snake_case_name` stay as typed. Anything Discord
/// would render but Slack would not (`__x__`, `||x||`, `[l](u)`, `<@id>`,
/// `# ` headings, `@everyone`, …) is escaped as in [`escape`].
pub fn from_slack(text: &str) -> String {
    render(text, true)
}

fn render(text: &str, slack: bool) -> String {
    let p = pieces(text, slack);
    let closers = if slack {
        ['*', '_', '~'].map(|m| closers(&p, m))
    } else {
        Default::default()
    };
    let mut r = Render {
        p: &p,
        slack,
        closers,
        out: String::with_capacity(text.len() + text.len() / 8),
    };
    r.run(0, p.len(), true);
    r.out
}

/// For each piece, the first piece at or after it that can close Slack
/// emphasis marked `m` on the same line (`usize::MAX` if none): one
/// backward pass, so matching stays linear however many markers a line
/// holds. A closer follows no space and precedes no letter or digit.
fn closers(p: &[Piece<'_>], m: char) -> Vec<usize> {
    let mut next = vec![usize::MAX; p.len() + 1];
    for k in (1..p.len()).rev() {
        next[k] = match p[k] {
            Piece::Char('\n') | Piece::Fence(_) => usize::MAX,
            Piece::Char(c) | Piece::UrlTail(c) if c == m => {
                let before_ok = match p[k - 1] {
                    Piece::Char(b) | Piece::UrlTail(b) => !b.is_whitespace() && b != m,
                    Piece::Verbatim(_) => true,
                    Piece::Fence(_) => false,
                };
                let after_ok = match p.get(k + 1) {
                    None => true,
                    Some(Piece::Char(a) | Piece::UrlTail(a)) => !a.is_alphanumeric() && *a != m,
                    Some(_) => false,
                };
                if before_ok && after_ok {
                    k
                } else {
                    next[k + 1]
                }
            }
            _ => next[k + 1],
        };
    }
    next
}

/// What the renderer sees: characters to judge one by one, and runs it
/// must copy as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    /// A character of ordinary text.
    Char(char),
    /// A bare URL, or inline code from Slack: copied untouched.
    Verbatim(&'a str),
    /// A Slack fenced code block, both fences included.
    Fence(&'a str),
    /// A `*`, `_` or `~` ending a URL in Slack text (`*https://x*`). It may
    /// close emphasis; if it does not it is copied raw, because Discord
    /// counts it as part of the URL and a backslash there would break it.
    UrlTail(char),
}

/// `text` cut into [`Piece`]s. Code is only recognised for Slack input:
/// [`escape`] must make backticks literal, not honour them.
fn pieces(text: &str, slack: bool) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        let rest = &text[i..];
        if slack && rest.starts_with("```") {
            let after = &rest[3..];
            // Slack shows an empty or unclosed fence as backticks.
            if let Some(n) = after
                .find("```")
                .filter(|&n| !after[..n].trim_matches('\n').is_empty())
            {
                out.push(Piece::Fence(&rest[..n + 6]));
                i += n + 6;
                continue;
            }
        }
        if slack
            && c == '`'
            && let Some(n) = rest[1..].find(['`', '\n'])
            && n > 0
            && rest[1 + n..].starts_with('`')
        {
            out.push(Piece::Verbatim(&rest[..n + 2]));
            i += n + 2;
            continue;
        }
        let len = url_len(rest);
        if len > 0 {
            let url = &rest[..len];
            let kept = if slack {
                url.trim_end_matches(['*', '_', '~'])
            } else {
                url
            };
            out.push(Piece::Verbatim(kept));
            out.extend(url[kept.len()..].chars().map(Piece::UrlTail));
            i += len;
            continue;
        }
        out.push(Piece::Char(c));
        i += c.len_utf8();
    }
    out
}

/// The length in bytes of the bare URL `rest` starts with, or 0. The URL
/// runs over the characters a URL may hold (RFC 3986, plus non-ASCII for
/// internationalised addresses); it stops at whitespace and at characters
/// such as `<`, `>`, `|`, `` ` `` and `\`, which are markup here rather than
/// part of an address.
fn url_len(rest: &str) -> usize {
    let starts = |p: &str| {
        rest.get(..p.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(p))
    };
    let scheme = if starts("https://") {
        8
    } else if starts("http://") {
        7
    } else {
        return 0;
    };
    let body: usize = rest[scheme..]
        .chars()
        .take_while(|&c| is_url_char(c))
        .map(char::len_utf8)
        .sum();
    if body == 0 { 0 } else { scheme + body }
}

fn is_url_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
        || (!c.is_ascii() && !c.is_whitespace())
}

/// Writes [`Piece`]s as Discord markdown.
#[derive(Debug)]
struct Render<'p, 'a> {
    p: &'p [Piece<'a>],
    /// Whether Slack's code, emphasis and quotes are honoured.
    slack: bool,
    /// From [`closers`], for `*`, `_` and `~`; empty unless `slack`.
    closers: [Vec<usize>; 3],
    out: String,
}

impl Render<'_, '_> {
    /// Renders `p[lo..hi]`. `line_blank`: nothing but spaces precedes `lo`
    /// on its line, so Discord would read a heading, list or quote there.
    fn run(&mut self, lo: usize, hi: usize, mut line_blank: bool) {
        let mut i = lo;
        while i < hi {
            let c = match self.p[i] {
                Piece::Fence(raw) => {
                    self.out.push_str(&fence(raw));
                    line_blank = false;
                    i += 1;
                    continue;
                }
                Piece::Verbatim(raw) => {
                    self.out.push_str(raw);
                    line_blank = false;
                    i += 1;
                    continue;
                }
                // Only reached when it closes nothing.
                Piece::UrlTail(c) => {
                    self.out.push(c);
                    line_blank = false;
                    i += 1;
                    continue;
                }
                Piece::Char(c) => c,
            };
            if c == '\n' {
                self.out.push(c);
                line_blank = true;
                i += 1;
                continue;
            }
            if line_blank && matches!(c, ' ' | '\t' | '\r') {
                self.out.push(c);
                i += 1;
                continue;
            }
            let column_0 = i == 0 || self.p[i - 1] == Piece::Char('\n');
            if self.slack && line_blank && column_0 && c == '>' {
                // Slack quotes with or without a space; Discord needs one.
                self.out.push_str("> ");
                i += 1;
                if i < hi && self.p[i] == Piece::Char(' ') {
                    i += 1;
                }
                continue;
            }
            if self.slack
                && let Some(close) = self.closer(i, hi)
            {
                self.emphasis(c, i, close);
                line_blank = false;
                i = close + 1;
                continue;
            }
            if line_blank && let Some(next) = self.line_start(i, hi) {
                line_blank = false;
                i = next;
                continue;
            }
            self.escaped(i, c);
            line_blank = false;
            i += 1;
        }
    }

    /// Where the Slack emphasis opened by the marker at `i` closes, if it
    /// does: the opener follows no letter or digit and precedes no space,
    /// the closer (see [`closers`]) is the first that can close it, and
    /// both stay on one line and within `hi`. Doubled markers (`**`) are
    /// never emphasis in Slack.
    fn closer(&self, i: usize, hi: usize) -> Option<usize> {
        let Piece::Char(m) = self.p[i] else {
            return None;
        };
        let which = match m {
            '*' => 0,
            '_' => 1,
            '~' => 2,
            _ => return None,
        };
        let prev_ok =
            i == 0 || matches!(self.p[i - 1], Piece::Char(c) if !c.is_alphanumeric() && c != m);
        let next_ok = i + 1 < hi
            && match self.p[i + 1] {
                Piece::Char(c) | Piece::UrlTail(c) => !c.is_whitespace() && c != m,
                Piece::Verbatim(_) => true,
                Piece::Fence(_) => false,
            };
        if !prev_ok || !next_ok {
            return None;
        }
        // Content is never empty: the closer comes two pieces on at least.
        let k = *self.closers[which].get(i + 2)?;
        (k < hi).then_some(k)
    }

    /// Slack emphasis `p[open]` … `p[close]` in Discord's markers, its
    /// content rendered in turn (Slack nests `*_both_*`).
    fn emphasis(&mut self, marker: char, open: usize, close: usize) {
        let inner = &self.p[open + 1..close];
        let mark = match marker {
            '*' => "**",
            '~' => "~~",
            // Discord's `_x_` ends at the first unescaped `_`, which may sit
            // in a URL or code span that cannot be escaped; `*x*` looks the
            // same there.
            _ if inner
                .iter()
                .any(|p| matches!(p, Piece::Verbatim(v) if v.contains('_'))) =>
            {
                "*"
            }
            _ => "_",
        };
        self.out.push_str(mark);
        self.run(open + 1, close, false);
        self.out.push_str(mark);
    }

    /// Escapes what Discord reads at the start of a line (after spaces):
    /// `#` headings and `-#` subtext, `>` quotes, `-` / `+` / `1.` lists.
    /// Returns where to go on, or `None` when `p[i]` starts nothing.
    fn line_start(&mut self, i: usize, hi: usize) -> Option<usize> {
        let char_at = |k: usize| match self.p.get(k) {
            Some(Piece::Char(c)) if k < hi => Some(*c),
            _ => None,
        };
        let c = char_at(i)?;
        match c {
            // Headings and quotes need a space after the run of markers.
            '#' | '>' => {
                let mut j = i;
                while char_at(j) == Some(c) {
                    j += 1;
                }
                if !matches!(char_at(j), Some(' ' | '\t')) {
                    return None;
                }
            }
            '-' | '+' if matches!(char_at(i + 1), Some(' ' | '\t' | '#')) => {}
            '0'..='9' => {
                let mut j = i;
                while char_at(j).is_some_and(|d| d.is_ascii_digit()) {
                    j += 1;
                }
                let dot = char_at(j).filter(|d| matches!(d, '.' | ')'))?;
                if !matches!(char_at(j + 1), Some(' ' | '\t')) {
                    return None;
                }
                for k in i..j {
                    self.out.push(char_at(k)?);
                }
                self.out.push('\\');
                self.out.push(dot);
                return Some(j + 1);
            }
            _ => return None,
        }
        self.out.push('\\');
        self.out.push(c);
        Some(i + 1)
    }

    /// Writes `c` (at `p[i]`), escaped if it could start or end markup.
    fn escaped(&mut self, i: usize, c: char) {
        let neighbour = |k: Option<usize>| match k.and_then(|k| self.p.get(k)) {
            Some(Piece::Char(n) | Piece::UrlTail(n)) => Some(*n),
            _ => None,
        };
        let prev = neighbour(i.checked_sub(1));
        let next = neighbour(Some(i + 1));
        let special = match c {
            '\\' | '*' | '_' | '`' | '[' | ']' => true,
            // Only doubled: `~~strike~~`, `||spoiler||`.
            '~' | '|' => prev == Some(c) || next == Some(c),
            // `<@id>`, `<#id>`, `<t:…>`, `<:e:id>`, `</cmd:id>`, `<https://…>`.
            '<' => {
                matches!(self.p.get(i + 1), Some(Piece::Verbatim(_)))
                    || next.is_some_and(|n| n.is_ascii_alphabetic() || "@#:/!&".contains(n))
            }
            '@' => ["everyone", "here"]
                .iter()
                .any(|word| self.spells(i + 1, word)),
            _ => false,
        };
        if special {
            self.out.push('\\');
        }
        self.out.push(c);
    }

    /// Whether the pieces from `i` spell `word`, ignoring ASCII case.
    fn spells(&self, i: usize, word: &str) -> bool {
        word.chars().enumerate().all(|(k, w)| {
            matches!(self.p.get(i + k), Some(Piece::Char(c)) if c.eq_ignore_ascii_case(&w))
        })
    }
}

/// A Slack fenced code block for Discord. Slack shows every line of it,
/// while Discord takes a first line that looks like a language name
/// (```` ```python ````) as the highlighting language and hides it; a
/// newline after the opening fence keeps that line visible. Discord drops
/// leading newlines in a block, so nothing else changes.
fn fence(raw: &str) -> String {
    let content = &raw[3..raw.len() - 3];
    match content.split_once('\n') {
        Some((first, _)) if !first.is_empty() && first.chars().all(is_lang_char) => {
            format!("```\n{content}```")
        }
        _ => raw.to_owned(),
    }
}

/// Characters Discord accepts in a code block's language tag.
fn is_lang_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+-.#".contains(c)
}

/// `text` in parts of at most `limit` characters (`char`s; Discord's limit
/// for message content is 2000), for messages too long to send whole.
///
/// Each part is cut at the last break within the limit of the best kind
/// there is: a blank line, else a line break, else a sentence end (`.`,
/// `!`, `?`, `…`, then whitespace), else whitespace, else between two
/// characters (avoiding cuts inside an emoji sequence or after a
/// backslash), so parts are as full as possible. Whitespace at a cut is
/// dropped and no part is empty or blank. A cut inside a fenced code
/// block closes the block at the end of its part and reopens it, with its
/// language, at the start of the next, within the limit; a cut at a line
/// break in code drops only blank lines, so the next line keeps its
/// indentation.
///
/// Text within the limit comes back unchanged as one part; blank text gives
/// no parts. A `limit` of 0 is taken as 1. Fences are only repaired when
/// `limit` leaves room for them and some code.
pub fn split(text: &str, limit: usize) -> Vec<String> {
    split_parts(text, limit)
        .into_iter()
        .map(|p| p.to_string())
        .collect()
}

/// One part of [`split`]: a slice of the text, plus the fences added
/// around it. Kept apart so tests can check the slices add up to the text.
#[derive(Debug)]
struct Part {
    /// Language of a fenced code block reopened before `body`.
    reopen: Option<String>,
    /// The text's own characters, trimmed at the cuts.
    body: String,
    /// Whether a fenced code block is closed after `body`.
    close: bool,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(lang) = &self.reopen {
            writeln!(f, "```{lang}")?;
        }
        f.write_str(&self.body)?;
        if self.close {
            f.write_str("\n```")?;
        }
        Ok(())
    }
}

/// What a cut at a position would fall in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Text,
    /// Inside the backticks of a fence or the language line after it.
    Fence,
    /// Inside the code of `Split::blocks[n]`.
    Code(usize),
}

/// A fenced code block: its language and where its code starts and ends.
#[derive(Debug)]
struct Block {
    lang: String,
    start: usize,
    end: usize,
}

/// Per-position facts about the text, computed once so each cut is judged
/// in constant time.
#[derive(Debug)]
struct Split {
    chars: Vec<char>,
    /// `at[b]`: what a cut before `chars[b]` falls in.
    at: Vec<At>,
    blocks: Vec<Block>,
    /// `visible[b]`: non-whitespace characters in `chars[..b]`.
    visible: Vec<usize>,
    /// `trailing[b]`: whitespace characters ending `chars[..b]`.
    trailing: Vec<usize>,
    /// `rest_blank[b]`: `chars[b..]` up to the next line break is blank.
    rest_blank: Vec<bool>,
    limit: usize,
}

/// Kinds of break, best first.
const PARAGRAPH: usize = 0;
const LINE: usize = 1;
const SENTENCE: usize = 2;
const SPACE: usize = 3;
const CHAR: usize = 4;
const ANY: usize = 5;

impl Split {
    fn new(text: &str, limit: usize) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let n = chars.len();
        let ticks = |i: usize| i + 3 <= n && chars[i..i + 3] == ['`'; 3];
        let mut at = vec![At::Text; n + 1];
        let mut blocks = Vec::new();
        let mut i = 0;
        while i < n {
            if !ticks(i) {
                i += 1;
                continue;
            }
            let mut j = i + 3;
            while j < n && is_lang_char(chars[j]) {
                j += 1;
            }
            let (lang, start) = if j > i + 3 && j < n && chars[j] == '\n' {
                (chars[i + 3..j].iter().collect(), j + 1)
            } else {
                (String::new(), i + 3)
            };
            let mut end = start;
            while end < n && !ticks(end) {
                end += 1;
            }
            at[i + 1..start].fill(At::Fence);
            at[start..=end].fill(At::Code(blocks.len()));
            blocks.push(Block { lang, start, end });
            if end < n {
                at[end + 1..end + 3].fill(At::Fence);
            }
            i = end + 3;
        }
        let mut visible = vec![0; n + 1];
        let mut trailing = vec![0; n + 1];
        for (k, c) in chars.iter().enumerate() {
            let ws = c.is_whitespace();
            visible[k + 1] = visible[k] + usize::from(!ws);
            trailing[k + 1] = if ws { trailing[k] + 1 } else { 0 };
        }
        let mut rest_blank = vec![true; n + 1];
        for k in (0..n).rev() {
            rest_blank[k] = chars[k] == '\n' || (chars[k].is_whitespace() && rest_blank[k + 1]);
        }
        Self {
            chars,
            at,
            blocks,
            visible,
            trailing,
            rest_blank,
            limit,
        }
    }

    fn has_visible(&self, from: usize, to: usize) -> bool {
        from < to && self.visible[to] > self.visible[from]
    }

    /// Length of `chars[from..to]` without its trailing whitespace.
    fn trimmed_len(&self, from: usize, to: usize) -> usize {
        (to - from) - self.trailing[to].min(to - from)
    }

    /// The block a cut at `b` falls in, if its fences fit in a part with
    /// at least one character of code; otherwise it is cut like text.
    fn repaired(&self, b: usize) -> Option<usize> {
        match self.at[b] {
            At::Code(k) if self.reopen_len(k) + 4 < self.limit => Some(k),
            _ => None,
        }
    }

    /// The length of the reopening fence, `` ```lang\n ``.
    fn reopen_len(&self, block: usize) -> usize {
        self.blocks[block].lang.chars().count() + 4
    }

    /// Whether a cut at `b` leaves both sides readable: not inside a fence
    /// marker, and not leaving a block's share of either part blank (which
    /// Discord would show as stray backticks).
    fn clean(&self, from: usize, b: usize) -> bool {
        match self.at[b] {
            At::Text => true,
            At::Fence => false,
            At::Code(k) => {
                let block = &self.blocks[k];
                self.has_visible(from.max(block.start), b) && self.has_visible(b, block.end)
            }
        }
    }

    /// The kind of break a cut before `chars[b]` makes (0 < b < n).
    fn kind(&self, b: usize) -> usize {
        let c = self.chars[b];
        let ends_sentence = |k: usize| matches!(self.chars[k], '.' | '!' | '?' | '…');
        if c == '\n' {
            if self.rest_blank[b + 1] {
                PARAGRAPH
            } else {
                LINE
            }
        } else if c.is_whitespace() {
            let prev = self.chars[b - 1];
            if ends_sentence(b - 1) || (b >= 2 && "\"')”’»".contains(prev) && ends_sentence(b - 2))
            {
                SENTENCE
            } else {
                SPACE
            }
        } else if self.chars[b - 1] != '\\' && self.chars[b - 1] != '\u{200D}' && !extends(c) {
            CHAR
        } else {
            ANY
        }
    }

    /// Where the part starting at cut `pos` begins: past the whitespace at
    /// the cut, but where a cut in code falls at a line break (unless
    /// `deep`) only past blank lines, so the next line keeps its indentation.
    fn start(&self, pos: usize, code: bool, deep: bool) -> usize {
        let n = self.chars.len();
        let mut s = pos;
        let mut line = pos;
        while s < n && self.chars[s].is_whitespace() {
            s += 1;
            if self.chars[s - 1] == '\n' {
                line = s;
            }
        }
        if code && !deep && line > pos { line } else { s }
    }

    fn parts(&self) -> Vec<Part> {
        let n = self.chars.len();
        let mut parts = Vec::new();
        let mut pos = 0;
        let mut deep = false;
        loop {
            let reopen = self.repaired(pos);
            let start = self.start(pos, reopen.is_some(), deep);
            if !self.has_visible(start, n) {
                break;
            }
            let prefix = reopen.map_or(0, |k| self.reopen_len(k));
            let body = |to: usize| -> String {
                let len = self.trimmed_len(start, to);
                self.chars[start..start + len].iter().collect()
            };
            let lang = reopen.map(|k| self.blocks[k].lang.clone());
            if prefix + self.trimmed_len(start, n) <= self.limit {
                parts.push(Part {
                    reopen: lang,
                    body: body(n),
                    close: false,
                });
                break;
            }
            let mut best = [None; ANY + 1];
            let mut fallback = None;
            let last = (n - 1).min(start + self.limit.saturating_sub(prefix));
            for b in (start + 1..=last).rev() {
                let len = self.trimmed_len(start, b);
                let suffix = if self.repaired(b).is_some() { 4 } else { 0 };
                if len == 0 || prefix + len + suffix > self.limit {
                    continue;
                }
                fallback = fallback.or(Some(b));
                if self.clean(start, b) {
                    let kind = self.kind(b);
                    best[kind] = best[kind].or(Some(b));
                    if kind == PARAGRAPH {
                        break;
                    }
                }
            }
            let Some(b) = best.iter().flatten().next().copied().or(fallback) else {
                if !deep && reopen.is_some() {
                    // Indentation wider than the room left: drop it.
                    deep = true;
                    continue;
                }
                // Nothing fits beside the fences: a bare character, so
                // the loop always moves on.
                let b = start + 1;
                parts.push(Part {
                    reopen: None,
                    body: body(b),
                    close: false,
                });
                pos = b;
                deep = false;
                continue;
            };
            parts.push(Part {
                reopen: lang,
                body: body(b),
                close: self.repaired(b).is_some(),
            });
            pos = b;
            deep = false;
        }
        parts
    }
}

/// Characters that belong to the one before them on screen (combining
/// marks, variation selectors, emoji modifiers and tags, joiners), so a cut
/// before them would split what reads as one character.
fn extends(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{200C}'..='\u{200D}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{1F3FB}'..='\u{1F3FF}'
        | '\u{E0020}'..='\u{E007F}')
}

fn split_parts(text: &str, limit: usize) -> Vec<Part> {
    let limit = limit.max(1);
    if text.trim().is_empty() {
        return Vec::new();
    }
    if text.chars().count() <= limit {
        return vec![Part {
            reopen: None,
            body: text.to_owned(),
            close: false,
        }];
    }
    Split::new(text, limit).parts()
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- escape ----

    #[test]
    fn plain_text_is_left_alone() {
        let t = "Hello, it's 5 o'clock! Is \"this\" ok? a/b: 50% (maybe) #1 - yes; x=y";
        assert_eq!(escape(t), t);
        assert_eq!(escape(""), "");
        assert_eq!(escape("héllo 中文 😀"), "héllo 中文 😀");
    }

    #[test]
    fn emphasis_markers_are_escaped() {
        assert_eq!(escape("**bold**"), r"\*\*bold\*\*");
        assert_eq!(escape("*it* _it_"), r"\*it\* \_it\_");
        assert_eq!(escape("__under__"), r"\_\_under\_\_");
        assert_eq!(escape("~~gone~~"), r"\~\~gone\~\~");
        assert_eq!(escape("||secret||"), r"\|\|secret\|\|");
        assert_eq!(escape("`code`"), r"\`code\`");
        assert_eq!(
            escape("```rust\nfn x() {}\n```"),
            "\\`\\`\\`rust\nfn x() {}\n\\`\\`\\`"
        );
        assert_eq!(escape("2*3*4"), r"2\*3\*4");
        assert_eq!(escape("snake_case_name"), r"snake\_case\_name");
    }

    #[test]
    fn single_tildes_and_pipes_stay_readable() {
        assert_eq!(escape("~5 min | a~b"), "~5 min | a~b");
        assert_eq!(escape("a || b"), r"a \|\| b");
        assert_eq!(escape("~~~"), r"\~\~\~");
    }

    #[test]
    fn backslashes_are_doubled() {
        assert_eq!(escape(r"C:\Users\*"), r"C:\\Users\\\*");
    }

    #[test]
    fn line_starts_are_escaped() {
        assert_eq!(escape("# Title"), r"\# Title");
        assert_eq!(escape("## a\n### b"), "\\## a\n\\### b");
        assert_eq!(escape("-# small"), r"\-# small");
        assert_eq!(escape("> quote"), r"\> quote");
        assert_eq!(escape(">>> all"), r"\>>> all");
        assert_eq!(escape("  > indented"), r"  \> indented");
        assert_eq!(
            escape("- item\n* item\n+ item"),
            "\\- item\n\\* item\n\\+ item"
        );
        assert_eq!(escape("1. first\n10) tenth"), "1\\. first\n10\\) tenth");
        // Not at a line start, or not followed by a space: harmless.
        assert_eq!(escape("a # b > c - d 1. e"), "a # b > c - d 1. e");
        assert_eq!(
            escape("-5 degrees\n3.14 pi\n2024."),
            "-5 degrees\n3.14 pi\n2024."
        );
        assert_eq!(escape("#general\n>_<\n>\n#"), "#general\n>\\_<\n>\n#");
    }

    #[test]
    fn tokens_are_escaped() {
        assert_eq!(escape("<@123>"), r"\<@123>");
        assert_eq!(escape("<@!123> <@&5> <#7>"), r"\<@!123> \<@&5> \<#7>");
        assert_eq!(escape("<t:1700000000:R>"), r"\<t:1700000000:R>");
        assert_eq!(escape("<:smile:1> <a:wave:2>"), r"\<:smile:1> \<a:wave:2>");
        assert_eq!(escape("</help:3>"), r"\</help:3>");
        assert_eq!(escape("<https://x.io>"), r"\<https://x.io>");
        assert_eq!(escape("a <3 b < c <= d"), "a <3 b < c <= d");
    }

    #[test]
    fn everyone_and_here_do_not_mention() {
        assert_eq!(escape("@everyone hi @here"), r"\@everyone hi \@here");
        assert_eq!(escape("@Everyone"), r"\@Everyone");
        assert_eq!(
            escape("mail me@example.com, @bob"),
            "mail me@example.com, @bob"
        );
    }

    #[test]
    fn masked_links_are_broken_but_urls_kept() {
        assert_eq!(escape("[x](https://evil)"), r"\[x\](https://evil)");
        assert_eq!(
            escape("[bank.com](https://evil.io/a_b*c~~d)"),
            r"\[bank.com\](https://evil.io/a_b*c~~d)"
        );
        assert_eq!(
            escape("see https://x.io/a_b_c?q=1&r=[2]#frag_x."),
            "see https://x.io/a_b_c?q=1&r=[2]#frag_x."
        );
        assert_eq!(escape("HTTPS://X.IO/_a_"), "HTTPS://X.IO/_a_");
        // Markup right after a URL is escaped, since it is not part of it.
        assert_eq!(escape("https://x.io|| `a`"), r"https://x.io\|\| \`a\`");
        // Not URLs: the scheme alone, or another scheme.
        assert_eq!(escape("https:// ftp://a_b"), r"https:// ftp://a\_b");
    }

    #[test]
    fn escaped_text_has_no_unescaped_specials() {
        // Every special character outside a URL comes out escaped, whatever
        // surrounds it.
        let t = "*_`[]\\ **x** __y__ [a](b) ~~s~~ ||p|| <@1> @everyone";
        let out = escape(t);
        let mut chars = out.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                assert!(chars.next().is_some_and(|e| e.is_ascii_punctuation()));
            } else {
                assert!(!"*_`[]\\~|<".contains(c), "{c} unescaped in {out}");
            }
        }
    }

    // ---- from_slack ----

    #[test]
    fn slack_emphasis_becomes_discords() {
        assert_eq!(from_slack("*bold*"), "**bold**");
        assert_eq!(from_slack("_it_"), "_it_");
        assert_eq!(from_slack("~gone~"), "~~gone~~");
        assert_eq!(
            from_slack("*bold* _it_ ~gone~ `code` \n> quote\n```block```"),
            "**bold** _it_ ~~gone~~ `code` \n> quote\n```block```"
        );
        assert_eq!(from_slack("a *b c* d."), "a **b c** d.");
        assert_eq!(from_slack("(*b*), \"_i_\""), "(**b**), \"_i_\"");
    }

    #[test]
    fn slack_emphasis_needs_word_boundaries() {
        assert_eq!(from_slack("2*3*4"), r"2\*3\*4");
        assert_eq!(from_slack("snake_case_name"), r"snake\_case\_name");
        assert_eq!(from_slack("a~b~c"), "a~b~c");
        assert_eq!(from_slack("* not bold *"), r"\* not bold \*");
        assert_eq!(from_slack("*bold*s"), r"\*bold\*s");
        assert_eq!(from_slack("**"), r"\*\*");
        assert_eq!(from_slack("*a\nb*"), "\\*a\nb\\*");
    }

    #[test]
    fn slack_emphasis_nests() {
        assert_eq!(from_slack("*_both_*"), "**_both_**");
        assert_eq!(from_slack("_a *b* c_"), "_a **b** c_");
        assert_eq!(from_slack("~*x*~"), "~~**x**~~");
        assert_eq!(from_slack("*a `b*c` d*"), "**a `b*c` d**");
    }

    #[test]
    fn slack_code_is_untouched() {
        assert_eq!(from_slack("`*x* <@1> _y_`"), "`*x* <@1> _y_`");
        assert_eq!(
            from_slack("```\n# not a heading\n*x*\n```"),
            "```\n# not a heading\n*x*\n```"
        );
        assert_eq!(from_slack("run ```a || b``` now"), "run ```a || b``` now");
        // Unclosed code is literal backticks.
        assert_eq!(from_slack("a ` b"), r"a \` b");
        assert_eq!(from_slack("```open"), r"\`\`\`open");
        assert_eq!(from_slack("`a\nb`"), "\\`a\nb\\`");
    }

    #[test]
    fn a_language_like_first_line_stays_visible() {
        // Slack shows "python" as code; Discord would take it as the
        // language and hide it.
        assert_eq!(from_slack("```python\nx = 1```"), "```\npython\nx = 1```");
        assert_eq!(from_slack("```x = 1\ny```"), "```x = 1\ny```");
    }

    #[test]
    fn slack_quotes_are_kept() {
        assert_eq!(from_slack("> a\n>b\n>"), "> a\n> b\n> ");
        assert_eq!(from_slack("> # h\n> - l"), "> \\# h\n> \\- l");
        assert_eq!(from_slack(">>> x"), r"> \>> x");
        assert_eq!(from_slack("a > b"), "a > b");
        assert_eq!(from_slack(" > b"), r" \> b");
        assert_eq!(from_slack("> *b*"), "> **b**");
    }

    #[test]
    fn what_slack_does_not_render_is_escaped() {
        assert_eq!(from_slack("__x__"), r"\_\_x\_\_");
        assert_eq!(from_slack("**x**"), r"\*\*x\*\*");
        assert_eq!(from_slack("||x||"), r"\|\|x\|\|");
        assert_eq!(from_slack("[l](https://u.io)"), r"\[l\](https://u.io)");
        assert_eq!(from_slack("<@123> <#4> <t:1:R>"), r"\<@123> \<#4> \<t:1:R>");
        assert_eq!(from_slack("# Title\n-# small"), "\\# Title\n\\-# small");
        assert_eq!(from_slack("@everyone @here"), r"\@everyone \@here");
        assert_eq!(from_slack("1. a\n- b"), "1\\. a\n\\- b");
        assert_eq!(from_slack(r"a\b"), r"a\\b");
    }

    #[test]
    fn slack_urls_are_kept_and_may_be_emphasised() {
        assert_eq!(
            from_slack("see https://x.io/a_b_c and docs (https://y.io/_z_)"),
            "see https://x.io/a_b_c and docs (https://y.io/_z_)"
        );
        assert_eq!(from_slack("*https://x.io*"), "**https://x.io**");
        assert_eq!(from_slack("~https://x.io~"), "~~https://x.io~~");
        // Discord's `_x_` would end at the URL's own `_`.
        assert_eq!(from_slack("_https://x.io/a_b_"), "*https://x.io/a_b*");
        // Not closing anything: stays part of the URL, unescaped.
        assert_eq!(from_slack("https://x.io/a_"), "https://x.io/a_");
        assert_eq!(from_slack("label (https://x.io)"), "label (https://x.io)");
    }

    #[test]
    fn many_markers_stay_fast() {
        // Each opener looks its closer up instead of scanning the line.
        let t = "*a _b ~c ".repeat(20_000);
        let start = std::time::Instant::now();
        let out = from_slack(&t);
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        assert!(out.starts_with(r"\*a \_b ~c"));
    }

    #[test]
    fn slack_text_without_markup_is_unchanged() {
        let t = "Hi Anna, your order 1234 ships today. Thanks!\nBest, Bob";
        assert_eq!(from_slack(t), t);
        assert_eq!(from_slack(""), "");
    }

    // ---- split ----

    /// Non-whitespace characters, in order.
    fn visible(s: &str) -> String {
        s.chars().filter(|c| !c.is_whitespace()).collect()
    }

    /// Checks every promise of `split` and returns its parts.
    fn checked(text: &str, limit: usize) -> Vec<String> {
        let parts = split_parts(text, limit);
        let joined: String = parts.iter().map(|p| p.body.as_str()).collect();
        assert_eq!(visible(&joined), visible(text), "{text:?} at {limit}");
        let out = split(text, limit);
        assert_eq!(out.len(), parts.len());
        for (s, p) in out.iter().zip(&parts) {
            assert!(s.chars().count() <= limit.max(1), "{s:?} over {limit}");
            assert!(!s.trim().is_empty(), "blank part in {out:?}");
            assert_eq!(*s, p.to_string());
        }
        out
    }

    #[test]
    fn short_text_is_one_part_unchanged() {
        assert_eq!(checked("  hi there \n", 2000), vec!["  hi there \n"]);
        assert_eq!(checked("abc", 3), vec!["abc"]);
        assert!(checked("", 10).is_empty());
        assert!(checked(" \n\t ", 2).is_empty());
    }

    #[test]
    fn paragraphs_come_first() {
        let t = "First para.\n\nSecond line one.\nSecond line two.";
        assert_eq!(
            checked(t, 40),
            vec!["First para.", "Second line one.\nSecond line two."]
        );
    }

    #[test]
    fn the_last_break_of_the_best_kind_is_taken() {
        let t = "a\nb\nc\nd e f g h i j k";
        // Lines beat the later spaces; the last line break that fits wins.
        assert_eq!(checked(t, 12), vec!["a\nb\nc", "d e f g h i", "j k"]);
        let t = "One. Two. Three four five six";
        assert_eq!(checked(t, 20), vec!["One. Two.", "Three four five six"]);
        let t = "Wait… what? \"Yes.\" Then go";
        assert_eq!(checked(t, 20), vec!["Wait… what? \"Yes.\"", "Then go"]);
        let t = "words only here";
        assert_eq!(checked(t, 11), vec!["words only", "here"]);
    }

    #[test]
    fn long_words_are_cut_hard() {
        assert_eq!(checked("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(checked("abc defghijkl", 5), vec!["abc", "defgh", "ijkl"]);
    }

    #[test]
    fn multi_byte_text_is_counted_in_chars() {
        let t = "😀😀😀😀😀 中文中文中文";
        assert_eq!(checked(t, 5), vec!["😀😀😀😀😀", "中文中文中", "文"]);
        assert_eq!(checked("éééé", 2), vec!["éé", "éé"]);
        // A skin tone or joiner is not cut from its emoji when avoidable.
        let t = "👍🏽👍🏽👍🏽";
        assert_eq!(checked(t, 3), vec!["👍🏽", "👍🏽", "👍🏽"]);
        let t = "e\u{301}e\u{301}e\u{301}";
        assert_eq!(checked(t, 3), vec!["e\u{301}", "e\u{301}", "e\u{301}"]);
    }

    #[test]
    fn a_backslash_is_not_left_at_the_end_of_a_part() {
        assert_eq!(checked(r"ab\*cd", 3), vec!["ab", r"\*c", "d"]);
    }

    #[test]
    fn tiny_limits_still_terminate() {
        assert_eq!(checked("ab", 0), vec!["a", "b"]);
        assert_eq!(checked("a b c", 1), vec!["a", "b", "c"]);
        checked("```rust\nfn main() {}\n```", 1);
        checked("```rust\nfn main() {}\n```", 5);
    }

    #[test]
    fn a_cut_in_a_code_block_closes_and_reopens_it() {
        let t = "Intro\n```rust\nlet a = 1;\nlet b = 2;\nlet c = 3;\n```\nAfter";
        let parts = checked(t, 30);
        assert_eq!(
            parts,
            vec![
                "Intro\n```rust\nlet a = 1;\n```",
                "```rust\nlet b = 2;\n```",
                "```rust\nlet c = 3;\n```\nAfter"
            ]
        );
    }

    #[test]
    fn code_without_a_language_reopens_plain() {
        let t = "```\naaaa bbbb cccc dddd\n```";
        assert_eq!(
            checked(t, 17),
            vec!["```\naaaa bbbb\n```", "```\ncccc dddd\n```"]
        );
    }

    #[test]
    fn indentation_survives_a_cut_in_code() {
        let t = "```py\ndef f():\n    return 1\n```";
        let parts = checked(t, 25);
        assert_eq!(
            parts,
            vec!["```py\ndef f():\n```", "```py\n    return 1\n```"]
        );
    }

    #[test]
    fn a_block_is_not_left_empty_on_either_side() {
        // The line break right after "```rust" would leave an empty block;
        // the one before the fence is taken instead.
        let t = "Some text here\n```rust\nfn a() {}\n```";
        assert_eq!(
            checked(t, 24),
            vec!["Some text here", "```rust\nfn a() {}\n```"]
        );
    }

    #[test]
    fn text_after_a_block_is_not_reopened() {
        let t = "```\ncode\n``` then a fairly long tail of words";
        for part in checked(t, 20).iter().skip(1) {
            assert!(!part.starts_with("```\n") || part.contains("code"));
        }
    }

    #[test]
    fn a_discord_sized_message_is_split_full() {
        let para = "This is a sentence of some length. ".repeat(30);
        let t = format!("{para}\n\n{para}\n\n{para}");
        // Paragraphs win even though a fuller first part could end at a
        // sentence.
        assert_eq!(checked(&t, 2000), vec![para.trim(); 3]);
        let long = "Word and word. ".repeat(400);
        let parts = checked(&long, 2000);
        assert_eq!(parts.len(), 4);
        assert!(parts[0].ends_with('.') && parts[0].chars().count() > 1980);
    }

    /// A small deterministic generator, so the property test needs no
    /// dependency and fails the same way every run.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % n as u64) as usize
        }
    }

    #[test]
    fn every_split_keeps_its_promises() {
        const BITS: [&str; 22] = [
            "a",
            "word",
            "longerword",
            "é",
            "中文",
            "😀",
            "👍🏽",
            "e\u{301}",
            " ",
            "  ",
            "\n",
            "\n\n",
            "\t",
            ". ",
            "! ",
            "… ",
            "```",
            "```rust\n",
            "```\n",
            "`",
            "\\",
            "    ",
        ];
        let mut rng = Lcg(7);
        for round in 0..3000 {
            let len = rng.next(60);
            let text: String = (0..len).map(|_| BITS[rng.next(BITS.len())]).collect();
            let limit = match round % 4 {
                0 => 1 + rng.next(8),
                1 => 9 + rng.next(20),
                2 => 29 + rng.next(60),
                _ => 1 + rng.next(200),
            };
            checked(&text, limit);
        }
    }
}
