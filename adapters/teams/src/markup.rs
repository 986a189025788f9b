//! Teams' markup, both ways. Customer text going into a handoff card is
//! escaped for the Adaptive Card markdown subset ([`escape_card_markdown`]),
//! so a customer can never forge a link, bold text, a list or a mention in
//! front of the team. An agent's reply coming out of Teams arrives as HTML
//! (or as plain text with `<at>` mentions) and is turned into plain text for
//! the customer here ([`html_to_text`], [`plain_mentions_stripped`]): internal
//! names in mentions are removed, links show where they really go, and no
//! markup reaches the customer.
//!
//! Both directions are hand-written scanners rather than a markdown or HTML
//! library: the subsets are small, the inputs are untrusted, and a scanner
//! that never backtracks cannot panic or go quadratic on hostile input.

use url::Url;

/// The ASCII punctuation the Adaptive Card markdown renderer (CommonMark
/// based) can give meaning to, plus `&` so entities such as `&lt;` are shown
/// as typed rather than decoded. `{` and `}` also break Adaptive Cards'
/// `{{DATE(...)}}` / `{{TIME(...)}}` substitutions, which run before markdown.
const CARD_MARKDOWN_PUNCTUATION: &str = "\\`*_{}[]()#+-.!|<>~&";

/// `text` as literal content for an Adaptive Card `TextBlock`: every
/// markdown-significant character is backslash-escaped, so `**urgent**`,
/// `[your bank](https://evil.example)`, `1. list` and `<at>General</at>` all
/// render exactly as typed.
///
/// Line breaks become `\n\n`: in a `TextBlock` a single `\n` is a soft break
/// that Teams renders as a space, which would run a customer's lines
/// together. A paragraph gap per line is the one break the documented subset
/// reliably shows; hard-break forms (`\` or two spaces before `\n`) are not in
/// it. `\r\n` and a lone `\r` count as one line break.
///
/// Teams may still turn a bare `https://…` into a link; that is harmless,
/// because the visible text is then the address itself.
pub fn escape_card_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\n\n");
            }
            '\n' => out.push_str("\n\n"),
            c if CARD_MARKDOWN_PUNCTUATION.contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// What a Teams user typed, from the HTML Teams delivers with a message, as
/// plain text for a customer.
///
/// - Mentions (`<at>…</at>`, the bot's and any colleague's) are removed with
///   their names, and the spaces around them closed up.
/// - A link becomes `label (address)`, or just the address when the label is
///   empty or is the address, so a label can never disguise where a link
///   goes. Only `http`, `https` and `mailto` links are kept; any other link
///   (such as `javascript:`) becomes its label alone.
/// - Blocks (`<p>`, `<div>`, headings…) and `<br>` become line breaks, list
///   items `- ` or `1. `, quotes `> `; `<pre>` keeps its lines as typed.
/// - Emoji images become their emoji; other images `[image]`.
/// - Quoted replies to other Teams messages are dropped: they quote the
///   team's internal conversation and carry a colleague's name.
/// - Other tags are dropped and their text kept; entities are decoded.
///
/// Never panics, whatever the input. The result may be empty (a message that
/// was only a mention); callers should not relay an empty reply.
pub fn html_to_text(html: &str) -> String {
    let mut renderer = Renderer::default();
    let mut tokens = Tokens { rest: html };
    while let Some(token) = tokens.next_token() {
        renderer.token(token);
    }
    renderer.finish()
}

/// Teams' plain `text` of a message, for when no HTML attachment came:
/// `<at>…</at>` mentions removed with the spaces around them closed up,
/// entities decoded, ends trimmed.
pub fn plain_mentions_stripped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut after_mention = false;
    loop {
        let (segment, next) = match find_mention_tag(rest) {
            Some(start) => (&rest[..start], Some(&rest[start..])),
            None => (rest, None),
        };
        let decoded = decode_entities(segment).replace(NBSP, " ");
        if after_mention {
            join_after_mention(&mut out, &decoded);
        } else {
            out.push_str(&decoded);
        }
        let Some(mention) = next else { break };
        // A mention without its closing tag takes the rest of the text with
        // it: dropping text is better than showing a customer an internal
        // name. Teams itself always closes them.
        match find_ignore_ascii_case(mention, "</at>") {
            Some(end) => rest = &mention[end + "</at>".len()..],
            None => break,
        }
        after_mention = true;
    }
    defang_mentions(out.trim())
}

fn find_ignore_ascii_case(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    h.windows(n.len()).position(|w| w.eq_ignore_ascii_case(n))
}

/// Appends the text that followed a removed mention, closing up the gap: at
/// most one space where the mention was, none at a line start or before
/// punctuation ("Thanks <at>Jo</at>, see" reads "Thanks, see").
fn join_after_mention(out: &mut String, right: &str) {
    let is_blank = |c: char| c == ' ' || c == '\t';
    let left_len = out.trim_end_matches(is_blank).len();
    let right_trimmed = right.trim_start_matches(is_blank);
    let had_space = left_len < out.len() || right_trimmed.len() < right.len();
    out.truncate(left_len);
    let space_fits = !out.is_empty()
        && !out.ends_with('\n')
        && right_trimmed
            .chars()
            .next()
            .is_some_and(|c| c != '\n' && c != '\r' && !is_closing_punctuation(c));
    if had_space && space_fits {
        out.push(' ');
    }
    out.push_str(right_trimmed);
}

fn is_closing_punctuation(c: char) -> bool {
    matches!(c, ',' | '.' | '!' | '?' | ';' | ':' | ')' | ']' | '}')
}

/// Breaks every mention-shaped tag (`<at>`, `<at `, `<at/`) left in finished
/// text with a space. Such a tag can only be text the agent typed literally
/// (an encoded `&lt;at&gt;`), and handoff's text can travel back into Teams
/// (transcripts, other cards), where `<at>` is mention markup; the customer
/// loses nothing by the space. Other `<at…` words (`<attribute>` in a pasted
/// XML snippet) are left alone.
fn defang_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = find_mention_tag(rest) {
        out.push_str(&rest[..=i]);
        out.push(' ');
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out
}

/// Where `<at` followed by `>`, `/`, whitespace or the end of text starts.
fn find_mention_tag(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = find_ignore_ascii_case(&text[from..], "<at") {
        let at = from + found;
        match text.as_bytes().get(at + 3) {
            None | Some(b'>' | b'/') => return Some(at),
            Some(b) if b.is_ascii_whitespace() => return Some(at),
            _ => from = at + 3,
        }
    }
    None
}

const NBSP: char = '\u{a0}';

/// `text` with HTML character references decoded: the named ones Teams uses
/// (`amp lt gt quot apos nbsp`) and numeric ones. Anything else, including an `&` without a `;`, stays as it is.
fn decode_entities(text: &str) -> String {
    // A bound on how far to look for the `;`, so text full of stray `&`s
    // stays linear; longer numeric references are out of range anyway.
    const MAX_REFERENCE: usize = 32;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after.bytes().take(MAX_REFERENCE).position(|b| b == b';');
        let decoded = semi.and_then(|semi| decode_reference(&after[..semi]).map(|c| (c, semi)));
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character for a reference's body (between `&` and `;`).
fn decode_reference(body: &str) -> Option<char> {
    if let Some(number) = body.strip_prefix('#') {
        let (digits, radix) = match number.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (number, 10),
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        // Out-of-range, surrogate and NUL references become U+FFFD, as in
        // browsers, rather than vanishing or failing.
        let c = u32::from_str_radix(digits, radix)
            .ok()
            .filter(|&n| n != 0)
            .and_then(char::from_u32)
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        return Some(c);
    }
    match body {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(NBSP),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// HTML tokens

#[derive(Debug)]
enum Token<'a> {
    Text(&'a str),
    Open {
        name: String,
        attrs: Vec<(String, String)>,
        self_closing: bool,
    },
    Close {
        name: String,
    },
}

impl Token<'_> {
    fn attr(&self, wanted: &str) -> Option<&str> {
        match self {
            Token::Open { attrs, .. } => attrs
                .iter()
                .find(|(name, _)| name == wanted)
                .map(|(_, value)| value.as_str()),
            _ => None,
        }
    }
}

/// A forgiving HTML tokenizer after the HTML standard's rules where they
/// matter for safety: `<` starts a tag only before a letter (or `/`, `!`,
/// `?`), otherwise it is text; a tag cut off by the end of input is dropped,
/// never shown as text; comments and doctypes are skipped.
#[derive(Debug)]
struct Tokens<'a> {
    /// The input not yet tokenized.
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    fn next_token(&mut self) -> Option<Token<'a>> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let bytes = self.rest.as_bytes();
            // Text runs to the next `<` that can start markup.
            let markup = (0..bytes.len()).find(|&i| {
                bytes[i] == b'<'
                    && bytes.get(i + 1).is_some_and(|&b| {
                        b.is_ascii_alphabetic() || matches!(b, b'/' | b'!' | b'?')
                    })
            });
            match markup {
                None => {
                    let text = self.rest;
                    self.rest = "";
                    return Some(Token::Text(text));
                }
                Some(i) if i > 0 => {
                    let text = &self.rest[..i];
                    self.rest = &self.rest[i..];
                    return Some(Token::Text(text));
                }
                Some(_) => {}
            }
            // `self.rest` starts with `<` and a markup character.
            match bytes[1] {
                b'!' if self.rest.starts_with("<!--") => {
                    self.rest = match self.rest[4..].find("-->") {
                        Some(end) => &self.rest[4 + end + 3..],
                        None => "",
                    };
                }
                b'!' | b'?' => self.skip_past_gt(),
                b'/' => {
                    if bytes.get(2).is_some_and(u8::is_ascii_alphabetic) {
                        let name = tag_name(&self.rest[2..]);
                        let after_name = 2 + name.len();
                        self.rest = &self.rest[after_name..];
                        let gt = self.rest.find('>');
                        self.skip_past_gt();
                        if gt.is_some() {
                            return Some(Token::Close {
                                name: name.to_ascii_lowercase(),
                            });
                        }
                    } else {
                        // `</>` and `</ 3` are nothing in HTML.
                        self.skip_past_gt();
                    }
                }
                _ => {
                    if let Some(token) = self.open_tag() {
                        return Some(token);
                    }
                }
            }
        }
    }

    /// Drops everything up to and including the next `>` (or everything).
    fn skip_past_gt(&mut self) {
        self.rest = match self.rest.find('>') {
            Some(gt) => &self.rest[gt + 1..],
            None => "",
        };
    }

    /// Parses `<name attr="v" …>` at the start of `self.rest`; `None` (and
    /// the rest of the input consumed) when the input ends inside it.
    fn open_tag(&mut self) -> Option<Token<'a>> {
        let name = tag_name(&self.rest[1..]).to_ascii_lowercase();
        let mut rest = &self.rest[1 + name.len()..];
        let mut attrs = Vec::new();
        let mut self_closing = false;
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
            match rest.as_bytes().first() {
                None => {
                    self.rest = "";
                    return None;
                }
                Some(b'>') => {
                    self.rest = &rest[1..];
                    return Some(Token::Open {
                        name,
                        attrs,
                        self_closing,
                    });
                }
                Some(b'/') => {
                    self_closing = true;
                    rest = &rest[1..];
                    continue;
                }
                Some(_) => self_closing = false,
            }
            let name_len = rest
                .find(|c: char| c.is_ascii_whitespace() || matches!(c, '/' | '>' | '='))
                .unwrap_or(rest.len());
            // An attribute name may start with `=` in HTML's error recovery;
            // taking at least one character keeps the loop moving.
            let name_len = name_len.max(rest.chars().next().map_or(0, char::len_utf8));
            let attr_name = rest[..name_len].to_ascii_lowercase();
            rest = rest[name_len..].trim_start_matches(|c: char| c.is_ascii_whitespace());
            let mut value = String::new();
            if let Some(after_eq) = rest.strip_prefix('=') {
                rest = after_eq.trim_start_matches(|c: char| c.is_ascii_whitespace());
                match rest.as_bytes().first() {
                    Some(&quote @ (b'"' | b'\'')) => {
                        let body = &rest[1..];
                        let Some(end) = body.find(char::from(quote)) else {
                            self.rest = "";
                            return None;
                        };
                        value = decode_entities(&body[..end]);
                        rest = &body[end + 1..];
                    }
                    _ => {
                        let end = rest
                            .find(|c: char| c.is_ascii_whitespace() || c == '>')
                            .unwrap_or(rest.len());
                        value = decode_entities(&rest[..end]);
                        rest = &rest[end..];
                    }
                }
            }
            attrs.push((attr_name, value));
        }
    }
}

/// The tag name at the start of `s`: up to whitespace, `/` or `>`.
fn tag_name(s: &str) -> &str {
    let end = s
        .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .unwrap_or(s.len());
    &s[..end]
}

// ---------------------------------------------------------------------------
// Rendering

#[derive(Debug)]
enum List {
    /// `<ul>`: items marked `- `.
    Bullets,
    /// `<ol>`: items numbered from `start` (default 1).
    Numbers { next: u64 },
}

#[derive(Debug)]
struct OpenLink {
    /// The address to show, if the link is one we keep.
    shown: Option<String>,
    /// Where the label starts in the output, to be rewritten at `</a>`.
    label_start: usize,
}

/// Tags whose whole content is dropped, until the matching close tag.
#[derive(Debug)]
struct Skipping {
    /// The tag being skipped; only its own open and close tags count.
    name: String,
    /// Open tags of that name not yet closed, so a nested one does not end
    /// the skip early.
    depth: usize,
    /// Whether a mention is being removed, to close up the gap it leaves.
    is_mention: bool,
}

#[derive(Debug, Default)]
struct Renderer {
    /// The text so far; trimmed and tidied only in `finish`.
    out: String,
    /// Whitespace was seen and not yet written: HTML collapses runs of it
    /// into one space, and none at all at a line start.
    pending_space: bool,
    /// Content is on the current line (not just a quote prefix or list
    /// marker): a block boundary then needs a new line, and a space between
    /// words is wanted.
    line_has_content: bool,
    /// The line holds only a no-break space, as Teams sends for an empty
    /// line the user typed (`<p>&nbsp;</p>`): it is kept as a blank line,
    /// but the space itself is not written.
    line_has_nbsp: bool,
    /// A mention was just removed: a following `,` or `.` closes up to the
    /// word before it.
    after_mention: bool,
    /// A list item's marker, written when the item's first content arrives
    /// so empty items and `<li><p>` do not leave stray markers or lines.
    pending_marker: Option<String>,
    /// The lists open around the current point, innermost last: the next
    /// `<li>`'s marker and indentation come from them.
    lists: Vec<List>,
    /// Blockquotes open around the current point: each adds a `> ` prefix.
    quote_depth: usize,
    /// Inside `<pre>` (or Teams' `<codeblock>`), whitespace is kept as typed.
    pre_depth: usize,
    /// The newline right after `<pre>` is not content, as in browsers.
    pre_just_opened: bool,
    /// The link whose label is being written, rewritten when it closes.
    link: Option<OpenLink>,
    /// Content being dropped (a mention, a quoted reply, a script).
    skipping: Option<Skipping>,
}

impl Renderer {
    fn token(&mut self, token: Token<'_>) {
        if let Some(skip) = &mut self.skipping {
            match &token {
                Token::Open {
                    name, self_closing, ..
                } if *name == skip.name && !self_closing => skip.depth += 1,
                Token::Close { name } if *name == skip.name => {
                    skip.depth -= 1;
                    if skip.depth == 0 {
                        self.after_mention = skip.is_mention;
                        self.skipping = None;
                    }
                }
                _ => {}
            }
            return;
        }
        match token {
            Token::Text(text) => self.text(text),
            Token::Open { .. } => self.open(&token),
            Token::Close { name } => self.close(&name),
        }
    }

    fn open(&mut self, token: &Token<'_>) {
        let Token::Open {
            name, self_closing, ..
        } = token
        else {
            return;
        };
        let skip = |is_mention| Skipping {
            name: name.clone(),
            depth: 1,
            is_mention,
        };
        match name.as_str() {
            // A mention's content is a person's or the bot's display name:
            // internal, so it never reaches the customer.
            "at" if !self_closing => self.skipping = Some(skip(true)),
            // How Teams' HTML rendering of a message marks a mention.
            "span" if !self_closing && is_mention_span(token) => self.skipping = Some(skip(true)),
            "script" | "style" | "template" if !self_closing => self.skipping = Some(skip(false)),
            "blockquote" if is_reply_quote(token) => self.skipping = Some(skip(false)),
            "blockquote" => {
                self.block_break();
                self.quote_depth += 1;
            }
            "br" => self.line_break(),
            "pre" | "codeblock" => {
                self.block_break();
                self.pre_depth += 1;
                self.pre_just_opened = true;
            }
            "ul" => {
                self.block_break();
                self.lists.push(List::Bullets);
            }
            "ol" => {
                self.block_break();
                let start = token
                    .attr("start")
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(1);
                self.lists.push(List::Numbers { next: start });
            }
            "li" => self.list_item(),
            "a" => self.open_link(token.attr("href")),
            "img" | "emoji" => self.image(token),
            "td" | "th" => self.pending_space = true,
            name if is_block(name) => self.block_break(),
            _ => {}
        }
    }

    fn close(&mut self, name: &str) {
        match name {
            "blockquote" => {
                self.block_break();
                self.quote_depth = self.quote_depth.saturating_sub(1);
            }
            "pre" | "codeblock" => {
                self.block_break();
                self.pre_depth = self.pre_depth.saturating_sub(1);
            }
            "ul" | "ol" => {
                self.block_break();
                self.lists.pop();
                self.pending_marker = None;
            }
            "li" => self.block_break(),
            "a" => self.close_link(),
            "td" | "th" => self.pending_space = true,
            name if is_block(name) => self.block_break(),
            _ => {}
        }
    }

    fn text(&mut self, raw: &str) {
        let text = decode_entities(raw);
        if self.pre_depth > 0 {
            for c in text.chars() {
                match c {
                    '\r' => {}
                    NBSP => self.push_content(' '),
                    '\n' if self.pre_just_opened => self.pre_just_opened = false,
                    '\n' => self.line_break(),
                    c => {
                        self.pre_just_opened = false;
                        self.push_content(c);
                    }
                }
            }
            return;
        }
        for c in text.chars() {
            if c == NBSP {
                self.pending_space = true;
                self.line_has_nbsp = true;
            } else if c.is_whitespace() {
                self.pending_space = true;
            } else {
                self.flush_space(Some(c));
                self.push_content(c);
            }
        }
    }

    /// Writes the pending space, unless at a line start or (right after a
    /// removed mention) before closing punctuation.
    fn flush_space(&mut self, next: Option<char>) {
        let before_punctuation = self.after_mention && next.is_some_and(is_closing_punctuation);
        if self.pending_space && self.line_has_content && !before_punctuation {
            self.push_content(' ');
        }
        self.pending_space = false;
        self.after_mention = false;
    }

    /// Writes one character of content, first the line's quote prefix and
    /// list marker if this is the line's first content.
    fn push_content(&mut self, c: char) {
        self.start_content();
        self.out.push(c);
        self.line_has_content = true;
    }

    fn start_content(&mut self) {
        if self.out.is_empty() || self.out.ends_with('\n') {
            for _ in 0..self.quote_depth {
                self.out.push_str("> ");
            }
        }
        if let Some(marker) = self.pending_marker.take() {
            self.out.push_str(&marker);
        }
    }

    /// `<br>`: always a new line, so `<br><br>` leaves a blank one.
    fn line_break(&mut self) {
        if self.pending_marker.is_some() {
            self.start_content();
        }
        self.out.push('\n');
        self.line_has_content = false;
        self.line_has_nbsp = false;
        self.pending_space = false;
    }

    /// A block boundary: a new line unless already at the start of one.
    fn block_break(&mut self) {
        if self.line_has_content || self.line_has_nbsp {
            self.out.push('\n');
        }
        self.line_has_content = false;
        self.line_has_nbsp = false;
        self.pending_space = false;
    }

    fn list_item(&mut self) {
        self.block_break();
        let indent = "  ".repeat(self.lists.len().saturating_sub(1));
        let marker = match self.lists.last_mut() {
            Some(List::Numbers { next }) => {
                let n = *next;
                *next = next.saturating_add(1);
                format!("{indent}{n}. ")
            }
            Some(List::Bullets) | None => format!("{indent}- "),
        };
        self.pending_marker = Some(marker);
    }

    fn open_link(&mut self, href: Option<&str>) {
        // HTML has no nested links; a new one ends the previous.
        self.close_link();
        self.flush_space(None);
        self.start_content();
        self.link = Some(OpenLink {
            shown: href.and_then(shown_address),
            label_start: self.out.len(),
        });
    }

    fn close_link(&mut self) {
        let Some(link) = self.link.take() else {
            return;
        };
        let label = self.out[link.label_start..].trim().to_owned();
        self.out.truncate(link.label_start);
        let rendered = match link.shown {
            Some(address) if label.is_empty() || same_address(&label, &address) => address,
            Some(address) => format!("{label} ({address})"),
            None => label,
        };
        self.out.push_str(&rendered);
        self.line_has_content = !(self.out.is_empty() || self.out.ends_with('\n'));
    }

    fn image(&mut self, token: &Token<'_>) {
        let alt = token.attr("alt").map(str::trim).unwrap_or_default();
        let is_emoji = matches!(token, Token::Open { name, .. } if name == "emoji")
            || token
                .attr("itemtype")
                .is_some_and(|t| t.to_ascii_lowercase().contains("schema.skype.com/emoji"));
        // Teams' emoji carry the emoji itself as alt; a long or markup-like
        // alt is not an emoji, whatever the element claims.
        let plausible_emoji =
            is_emoji && (1..=16).contains(&alt.chars().count()) && !alt.contains(['<', '>']);
        let shown = if plausible_emoji || looks_like_emoji(alt) {
            alt.to_owned()
        } else if is_emoji {
            return;
        } else {
            "[image]".to_owned()
        };
        let mut chars = shown.chars();
        if let Some(first) = chars.next() {
            self.flush_space(Some(first));
            self.push_content(first);
            for c in chars {
                self.push_content(c);
            }
        }
    }

    fn finish(mut self) -> String {
        self.close_link();
        let mut lines: Vec<&str> = Vec::new();
        for line in self.out.lines() {
            let line = line.trim_end();
            // At most one blank line in a row.
            if line.is_empty() && lines.last().is_none_or(|l| l.is_empty()) {
                continue;
            }
            lines.push(line);
        }
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        defang_mentions(&lines.join("\n"))
    }
}

/// Teams wraps a quoted reply to another message in a blockquote with this
/// item type (and the quoted author's name inside).
fn is_reply_quote(token: &Token<'_>) -> bool {
    token
        .attr("itemtype")
        .is_some_and(|t| t.to_ascii_lowercase().contains("schema.skype.com/reply"))
}

/// Teams' HTML marks a mention as a span with this item type.
fn is_mention_span(token: &Token<'_>) -> bool {
    token
        .attr("itemtype")
        .is_some_and(|t| t.to_ascii_lowercase().contains("schema.skype.com/mention"))
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "hr"
            | "table"
            | "tr"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "main"
            | "nav"
            | "aside"
            | "figure"
            | "figcaption"
            | "address"
            | "details"
            | "summary"
            | "dl"
            | "dt"
            | "dd"
    )
}

/// An image's alt that is itself an emoji (or a few): short and without
/// ASCII letters or digits, unlike a description such as "screenshot".
fn looks_like_emoji(alt: &str) -> bool {
    let count = alt.chars().count();
    (1..=8).contains(&count)
        && !alt
            .chars()
            .any(|c| c.is_ascii_alphanumeric() || c.is_whitespace())
}

/// How a kept link's address is shown: normalised by the URL parser (so an
/// international host shows as the punycode it really resolves to), and a
/// `mailto:` link as its address alone. `None` for schemes we do not relay.
fn shown_address(href: &str) -> Option<String> {
    let url = Url::parse(href.trim()).ok()?;
    match url.scheme() {
        "http" | "https" => Some(url.as_str().to_owned()),
        "mailto" => {
            let address = &url.as_str()["mailto:".len()..];
            (!address.is_empty()).then(|| address.to_owned())
        }
        _ => None,
    }
}

/// Whether a link's label already says its address, give or take the scheme,
/// a trailing `/` and case, so `https://x.example` is not repeated as
/// `https://x.example (https://x.example/)`.
fn same_address(label: &str, address: &str) -> bool {
    fn bare(s: &str) -> String {
        let lower = s.trim().to_lowercase();
        let rest = ["https://", "http://", "mailto:"]
            .iter()
            .find_map(|scheme| lower.strip_prefix(scheme))
            .unwrap_or(&lower);
        rest.trim_end_matches('/').to_owned()
    }
    bare(label) == bare(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    // -- escape_card_markdown ------------------------------------------------

    #[test]
    fn escape_makes_a_link_literal() {
        assert_eq!(
            escape_card_markdown("[your bank](https://evil.example)"),
            r"\[your bank\]\(https://evil\.example\)"
        );
    }

    #[test]
    fn escape_makes_emphasis_literal() {
        assert_eq!(escape_card_markdown("**urgent**"), r"\*\*urgent\*\*");
        assert_eq!(escape_card_markdown("_note_ ~~x~~"), r"\_note\_ \~\~x\~\~");
    }

    #[test]
    fn escape_makes_a_mention_literal() {
        let out = escape_card_markdown("<at>General</at>");
        assert_eq!(out, r"\<at\>General\</at\>");
        assert!(!out.contains("<at>"));
    }

    #[test]
    fn escape_makes_lists_and_headings_literal() {
        assert_eq!(escape_card_markdown("1. list"), r"1\. list");
        assert_eq!(escape_card_markdown("2) list"), r"2\) list");
        assert_eq!(escape_card_markdown("- item"), r"\- item");
        assert_eq!(escape_card_markdown("+ item"), r"\+ item");
        assert_eq!(escape_card_markdown("# Title"), r"\# Title");
        assert_eq!(escape_card_markdown("> quote | pipe"), r"\> quote \| pipe");
    }

    #[test]
    fn escape_keeps_entities_and_backslashes_as_typed() {
        assert_eq!(escape_card_markdown("&lt;"), r"\&lt;");
        assert_eq!(escape_card_markdown(r"a\*b"), r"a\\\*b");
        assert_eq!(escape_card_markdown("`code`"), r"\`code\`");
    }

    #[test]
    fn escape_breaks_date_substitutions() {
        assert_eq!(
            escape_card_markdown("{{DATE(2017-02-14T06:00:00Z, SHORT)}}"),
            r"\{\{DATE\(2017\-02\-14T06:00:00Z, SHORT\)\}\}"
        );
    }

    #[test]
    fn escape_turns_each_line_break_into_a_paragraph_break() {
        assert_eq!(escape_card_markdown("a\nb"), "a\n\nb");
        assert_eq!(escape_card_markdown("a\r\nb\rc"), "a\n\nb\n\nc");
    }

    #[test]
    fn escape_leaves_plain_text_and_unicode_alone() {
        let text = "Hello, I can't log in: error 42 🙂 über";
        assert_eq!(escape_card_markdown(text), text);
        assert_eq!(escape_card_markdown(""), "");
    }

    // -- html_to_text --------------------------------------------------------

    #[test]
    fn teams_message_with_mention_bold_link_and_break() {
        let html = r#"<div><div><at id="0">handoff</at>&nbsp;Hi <b>Jo</b>, see <a href="https://x.example/a?b=1&amp;c=2">the guide</a><br>thanks</div></div>"#;
        assert_eq!(
            html_to_text(html),
            "Hi Jo, see the guide (https://x.example/a?b=1&c=2)\nthanks"
        );
    }

    #[test]
    fn mention_spans_are_removed_with_their_names() {
        let html = r#"<div><div><span itemscope="" itemtype="http://schema.skype.com/Mention" itemid="0">handoff</span>&nbsp;Hi, <span itemscope="" itemtype="http://schema.skype.com/Mention" itemid="1">Jo Smith</span> will <span>call</span></div></div>"#;
        assert_eq!(html_to_text(html), "Hi, will call");
    }

    #[test]
    fn mentions_are_removed_with_their_names() {
        assert_eq!(
            html_to_text("<p>Thanks <at id=\"1\">Jo Smith</at>, I will check</p>"),
            "Thanks, I will check"
        );
        assert_eq!(
            html_to_text("<p>Ask <at id=\"1\">Jo</at> and <at id=\"2\">Al</at> please</p>"),
            "Ask and please"
        );
        assert_eq!(html_to_text("<at>handoff</at>"), "");
        assert_eq!(
            html_to_text("<p>hi <AT id=1>Jo <b>Smith</b></AT>!</p>"),
            "hi!"
        );
    }

    #[test]
    fn an_unclosed_mention_hides_the_rest() {
        assert_eq!(html_to_text("<p>hi <at>Jo Smith and more"), "hi");
    }

    #[test]
    fn links_show_where_they_go() {
        assert_eq!(
            html_to_text(r#"<a href="https://x.example/">https://x.example</a>"#),
            "https://x.example/"
        );
        assert_eq!(
            html_to_text(r#"go <a href="https://x.example">x.example</a> now"#),
            "go https://x.example/ now"
        );
        assert_eq!(
            html_to_text(r#"<a href="https://evil.example">https://bank.example</a>"#),
            "https://bank.example (https://evil.example/)"
        );
        assert_eq!(
            html_to_text(r#"<a href="https://x.example"></a>"#),
            "https://x.example/"
        );
        assert_eq!(
            html_to_text(r#"<a href="mailto:help@x.example">Mail us</a>"#),
            "Mail us (help@x.example)"
        );
        assert_eq!(
            html_to_text(r#"<a href="mailto:help@x.example">help@x.example</a>"#),
            "help@x.example"
        );
    }

    #[test]
    fn link_hosts_show_as_they_resolve() {
        assert_eq!(
            html_to_text(r#"<a href="https://bänk.example/">bank</a>"#),
            "bank (https://xn--bnk-qla.example/)"
        );
    }

    #[test]
    fn unsafe_or_relative_links_keep_only_their_label() {
        assert_eq!(
            html_to_text(r#"<a href="javascript:alert(1)">click</a> me"#),
            "click me"
        );
        assert_eq!(
            html_to_text(r#"<a href="java&#x09;script:x">click</a>"#),
            "click"
        );
        assert_eq!(html_to_text(r#"<a href="/relative">here</a>"#), "here");
        assert_eq!(html_to_text(r#"<a>no href</a>"#), "no href");
        assert_eq!(html_to_text(r#"<a href="data:text/html,x"></a>"#), "");
    }

    #[test]
    fn an_unclosed_link_still_shows_its_address() {
        assert_eq!(
            html_to_text(r#"see <a href="https://x.example/a">guide"#),
            "see guide (https://x.example/a)"
        );
        assert_eq!(
            html_to_text(r#"<a href="https://a.example">A<a href="https://b.example">B</a>"#),
            "A (https://a.example/)B (https://b.example/)"
        );
    }

    #[test]
    fn blocks_and_breaks_become_lines() {
        assert_eq!(html_to_text("<p>one</p><p>two</p>"), "one\ntwo");
        assert_eq!(html_to_text("<div>a<br>b</div><div>c</div>"), "a\nb\nc");
        assert_eq!(html_to_text("a<br><br>b"), "a\n\nb");
        assert_eq!(html_to_text("a<br><br><br><br>b"), "a\n\nb");
        assert_eq!(html_to_text("<p>&nbsp;</p><p>x</p><p>&nbsp;</p>"), "x");
        assert_eq!(html_to_text("<h1>Title</h1>body"), "Title\nbody");
        assert_eq!(
            html_to_text("<p>a</p><p>&nbsp;</p><p>&nbsp;</p><p>b</p>"),
            "a\n\nb"
        );
    }

    #[test]
    fn whitespace_collapses_like_html() {
        assert_eq!(html_to_text("  a \n\t b   c  "), "a b c");
        assert_eq!(html_to_text("<p>\n  Hello\n  world\n</p>"), "Hello world");
        assert_eq!(html_to_text("a&nbsp;&nbsp;b"), "a b");
    }

    #[test]
    fn lists_get_markers() {
        assert_eq!(
            html_to_text("<ul><li>one</li><li>two</li></ul>"),
            "- one\n- two"
        );
        assert_eq!(
            html_to_text("<p>Steps:</p><ol><li>open</li><li><p>click</p></li></ol>done"),
            "Steps:\n1. open\n2. click\ndone"
        );
        assert_eq!(
            html_to_text(r#"<ol start="3"><li>c</li><li>d</li></ol>"#),
            "3. c\n4. d"
        );
        assert_eq!(
            html_to_text("<ul><li>a<ul><li>b</li></ul></li><li></li><li>c</li></ul>"),
            "- a\n  - b\n- c"
        );
        assert_eq!(html_to_text("<li>loose</li>"), "- loose");
    }

    #[test]
    fn quotes_get_prefixes_and_reply_quotes_are_dropped() {
        assert_eq!(
            html_to_text("<blockquote>quoted<br>twice</blockquote><p>mine</p>"),
            "> quoted\n> twice\nmine"
        );
        let reply = r#"<blockquote itemscope="" itemtype="http://schema.skype.com/Reply" itemid="1"><strong itemprop="mri" itemid="8:orgid:x">Jo Smith</strong><span itemprop="time" itemid="1">10:00</span><p itemprop="preview">internal note</p></blockquote><p>Here is the answer</p>"#;
        assert_eq!(html_to_text(reply), "Here is the answer");
    }

    #[test]
    fn pre_keeps_its_lines() {
        assert_eq!(
            html_to_text("<p>Run:</p><pre><code>cd app\n  make  run\n</code></pre><p>ok</p>"),
            "Run:\ncd app\n  make  run\nok"
        );
        assert_eq!(html_to_text("<pre>\nx &lt; y\n</pre>"), "x < y");
        assert_eq!(
            html_to_text("<codeblock><code>a  b<br>c</code></codeblock>"),
            "a  b\nc"
        );
    }

    #[test]
    fn emoji_images_become_emoji_and_other_images_a_placeholder() {
        let html = r#"thanks <img alt="🙂" itemtype="http://schema.skype.com/Emoji" src="https://statics.teams.cdn.office.net/x.png" style="width:20px"> bye"#;
        assert_eq!(html_to_text(html), "thanks 🙂 bye");
        assert_eq!(
            html_to_text(r#"<emoji id="smile" alt="😄" title="Smile"></emoji>"#),
            "😄"
        );
        assert_eq!(html_to_text(r#"<img alt="👍🏽" src="x">"#), "👍🏽");
        assert_eq!(
            html_to_text(r#"see <img alt="screenshot of the admin page" src="https://x/y.png">"#),
            "see [image]"
        );
        assert_eq!(html_to_text(r#"<img src="https://x/y.png">"#), "[image]");
        assert_eq!(
            html_to_text(r#"<img alt="" itemtype="http://schema.skype.com/Emoji">ok"#),
            "ok"
        );
    }

    #[test]
    fn other_tags_are_dropped_and_their_text_kept() {
        assert_eq!(
            html_to_text("<span>a</span> <strong>b</strong> <em>c</em> <s>d</s> <u>e</u> <i>f</i>"),
            "a b c d e f"
        );
        assert_eq!(html_to_text("a<!-- hidden -->b<!DOCTYPE html>c"), "abc");
        assert_eq!(html_to_text("<script>alert(1)</script>ok"), "ok");
        assert_eq!(
            html_to_text("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>"),
            "a b\nc"
        );
    }

    #[test]
    fn entities_are_decoded() {
        assert_eq!(
            html_to_text("&amp; &lt;b&gt; &quot;q&quot; &apos;s &#65;&#x42;&#X43; &#x1F642;"),
            "& <b> \"q\" 's ABC 🙂"
        );
        assert_eq!(
            html_to_text("&#0; &#xD800; &#99999999999;"),
            "\u{FFFD} \u{FFFD} \u{FFFD}"
        );
        assert_eq!(
            html_to_text("&copy; &unknown; & a &amp b &#; &#x;"),
            "&copy; &unknown; & a &amp b &#; &#x;"
        );
    }

    #[test]
    fn malformed_html_is_handled() {
        assert_eq!(html_to_text("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
        assert_eq!(html_to_text("a<3 b"), "a<3 b");
        assert_eq!(html_to_text("text <b"), "text");
        assert_eq!(html_to_text("text <a href=\"https://x"), "text");
        assert_eq!(html_to_text("<p>unclosed <b>bold"), "unclosed bold");
        assert_eq!(html_to_text("</p></div>x</li></ol>"), "x");
        assert_eq!(html_to_text("a</>b< /p>c"), "ab< /p>c");
        assert_eq!(html_to_text("<a href='x' title=>y</a>"), "y");
        assert_eq!(html_to_text("<p =x>ok</p>"), "ok");
        assert_eq!(html_to_text("x<!-- never closed"), "x");
        assert_eq!(html_to_text(""), "");
    }

    #[test]
    fn literal_at_tags_cannot_come_back_out() {
        assert_eq!(
            html_to_text("type &lt;at&gt;x&lt;/at&gt;"),
            "type < at>x</at>"
        );
    }

    /// A deterministic pseudo-random generator, so the soup is the same on
    /// every run and a failure can be reproduced.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn tag_soup(rng: &mut XorShift) -> String {
        const FRAGMENTS: &[&str] = &[
            "<at>",
            "</at>",
            "<at id=\"0\">",
            "<at id=\"1\">Jo Smith</at>",
            "<AT>",
            "</AT>",
            "<at",
            "at",
            "At",
            "<",
            ">",
            "</",
            "/>",
            "<a href=\"",
            "https://x.example",
            "javascript:alert(1)",
            "\">",
            "</a>",
            "<a>",
            "<b>",
            "</b>",
            "<p>",
            "</p>",
            "<div>",
            "</div>",
            "<br>",
            "<br/>",
            "<li>",
            "</li>",
            "<ol>",
            "</ol>",
            "<ul>",
            "</ul>",
            "<pre>",
            "</pre>",
            "<blockquote>",
            "</blockquote>",
            "<blockquote itemtype=\"http://schema.skype.com/Reply\">",
            "<img alt=\"🙂\">",
            "<img",
            "<emoji alt=\"",
            "&",
            "&amp;",
            "&nbsp;",
            "&#",
            "&#x",
            "x",
            "1",
            "9",
            ";",
            "&#x1F642;",
            "&#99999999999;",
            "&quot;",
            "\"",
            "'",
            "=",
            " ",
            "\n",
            "\t",
            "a",
            "é",
            "🙂",
            "<!--",
            "-->",
            "<!",
            "<?",
            ",",
            ".",
            "<script>",
            "</script>",
            "<codeblock>",
        ];
        let len = rng.below(40);
        (0..len)
            .map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())])
            .collect()
    }

    #[test]
    fn tag_soup_never_panics_and_never_leaks_a_mention() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for _ in 0..5000 {
            let html = tag_soup(&mut rng);
            let text = html_to_text(&html);
            // `<at` followed by anything else (`<atom>`, or a literal `<`
            // left next to the word "at" by dropped markup) is not a mention.
            assert!(find_mention_tag(&text).is_none(), "{html:?} -> {text:?}");
            assert!(!text.contains("\n\n\n"), "{html:?} -> {text:?}");
            assert_eq!(text.trim_end(), text, "{html:?}");
            let plain = plain_mentions_stripped(&html);
            assert!(find_mention_tag(&plain).is_none(), "{html:?} -> {plain:?}");
        }
    }

    #[test]
    fn tag_soup_with_random_bytes_never_panics() {
        const ALPHABET: &[u8] = b"<>/&;#x\"'= atpbrli\n\xc3\xa9\xf0\x9f\x99\x82";
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let bytes: Vec<u8> = (0..rng.below(64))
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect();
            let soup = String::from_utf8_lossy(&bytes);
            let _ = html_to_text(&soup);
            let _ = plain_mentions_stripped(&soup);
        }
    }

    /// Well-formed HTML of the kinds Teams sends, nested at random, with
    /// mentions of "Jo Smith" anywhere.
    fn teams_like_html(rng: &mut XorShift, depth: usize, out: &mut String) {
        const LEAVES: &[&str] = &[
            "hi",
            " ",
            "&nbsp;",
            ",",
            "&amp;",
            "🙂",
            "<br>",
            "ok.",
            "\n",
            "<at id=\"0\">Jo Smith</at>",
            "<at id=\"1\">Jo</at>",
            "<img alt=\"🙂\" itemtype=\"http://schema.skype.com/Emoji\">",
        ];
        const ELEMENTS: &[(&str, &str)] = &[
            ("<p>", "</p>"),
            ("<div>", "</div>"),
            ("<b>", "</b>"),
            ("<ul><li>", "</li></ul>"),
            ("<ol><li>", "</li><li>x</li></ol>"),
            ("<blockquote>", "</blockquote>"),
            ("<pre><code>", "</code></pre>"),
            ("<a href=\"https://x.example/\">", "</a>"),
            ("<a href=\"javascript:void(0)\">", "</a>"),
            ("<span style=\"color:red\">", "</span>"),
        ];
        for _ in 0..rng.below(4) + 1 {
            if depth < 4 && rng.below(2) == 0 {
                let (open, close) = ELEMENTS[rng.below(ELEMENTS.len())];
                out.push_str(open);
                teams_like_html(rng, depth + 1, out);
                out.push_str(close);
            } else {
                out.push_str(LEAVES[rng.below(LEAVES.len())]);
            }
        }
    }

    #[test]
    fn mentioned_names_never_reach_the_customer() {
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        for _ in 0..3000 {
            let mut html = String::new();
            teams_like_html(&mut rng, 0, &mut html);
            let text = html_to_text(&html);
            assert!(!text.contains("Jo"), "{html:?} -> {text:?}");
            assert!(!text.contains('<'), "{html:?} -> {text:?}");
            assert!(!text.contains("\n\n\n"), "{html:?} -> {text:?}");
            let plain = plain_mentions_stripped(&html);
            assert!(!plain.contains("Jo"), "{html:?} -> {plain:?}");
        }
    }

    // -- plain_mentions_stripped --------------------------------------------

    #[test]
    fn plain_text_loses_its_mentions() {
        assert_eq!(
            plain_mentions_stripped("<at>handoff</at> Hi there"),
            "Hi there"
        );
        assert_eq!(
            plain_mentions_stripped("Thanks <at>Jo Smith</at>, on it &amp; done"),
            "Thanks, on it & done"
        );
        assert_eq!(
            plain_mentions_stripped("Ask <at id=\"1\">Jo</at> or <AT>Al</AT> now"),
            "Ask or now"
        );
        assert_eq!(
            plain_mentions_stripped("<at>handoff</at>&nbsp;hello"),
            "hello"
        );
        assert_eq!(plain_mentions_stripped("  <at>handoff</at>  "), "");
        assert_eq!(
            plain_mentions_stripped("line<at>x</at>\nnext"),
            "line\nnext"
        );
    }

    #[test]
    fn plain_text_keeps_lookalikes_and_decodes_entities() {
        assert_eq!(plain_mentions_stripped("<atom> &lt;3 &#65;"), "<atom> <3 A");
        assert_eq!(plain_mentions_stripped("&lt;at&gt;x"), "< at>x");
        assert_eq!(
            plain_mentions_stripped("&lt;attribute/&gt;"),
            "<attribute/>"
        );
        assert_eq!(plain_mentions_stripped("hi <at>Jo and the rest"), "hi");
        assert_eq!(plain_mentions_stripped("a & b &c"), "a & b &c");
    }
}
