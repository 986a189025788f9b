//! Slack's markup, both ways. Customer text going into Slack is escaped
//! ([`handoff_core::markup::escape_mrkdwn`]); an agent's Slack message going
//! to a customer is turned into plain text here, so `<@U…>`, `<url|label>`,
//! `&lt;` and `:emoji:` never reach a customer as markup.

/// The user ids an agent's message mentions (`<@U123>`), so their names can
/// be looked up before [`to_plain`] needs them.
pub fn mentioned_users(text: &str) -> Vec<String> {
    let mut users = Vec::new();
    for token in tokens(text) {
        if let Token::Markup(inner) = token
            && let Some(rest) = inner.strip_prefix('@')
        {
            let id = rest.split('|').next().unwrap_or(rest).to_owned();
            if !users.contains(&id) {
                users.push(id);
            }
        }
    }
    users
}

/// `text` in Slack markup as a customer should read it: mentions become
/// `@name` (from `names`, else the label Slack sent), links show their
/// address next to their label (a label can never disguise where a link
/// goes), entities are decoded and known emoji codes become emoji.
pub fn to_plain(text: &str, names: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    for token in tokens(text) {
        match token {
            Token::Text(t) => out.push_str(&emoji(&decode_entities(t))),
            Token::Markup(inner) => out.push_str(&markup(inner, names)),
        }
    }
    out
}

enum Token<'a> {
    Text(&'a str),
    /// What was between `<` and `>`.
    Markup(&'a str),
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        if open > 0 {
            out.push(Token::Text(&rest[..open]));
        }
        out.push(Token::Markup(&rest[open + 1..open + close]));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        out.push(Token::Text(rest));
    }
    out
}

fn markup(inner: &str, names: &dyn Fn(&str) -> Option<String>) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((t, l)) => (t, Some(decode_entities(l))),
        None => (inner, None),
    };
    if let Some(user) = target.strip_prefix('@') {
        let name = names(user)
            .or_else(|| label.map(|l| l.trim_start_matches('@').to_owned()))
            .unwrap_or_else(|| "a colleague".to_owned());
        return format!("@{name}");
    }
    if target.starts_with('#') {
        return format!("#{}", label.unwrap_or_else(|| "a channel".to_owned()));
    }
    if let Some(special) = target.strip_prefix('!') {
        return match special.split('^').next().unwrap_or(special) {
            "here" | "channel" | "everyone" => format!("@{special}"),
            "subteam" => label.unwrap_or_else(|| "@team".to_owned()),
            // `<!date^…|fallback>` and anything newer: its readable form.
            _ => label.unwrap_or_default(),
        };
    }
    let url = decode_entities(target);
    let shown = url.strip_prefix("mailto:").unwrap_or(&url).to_owned();
    match label {
        Some(l) if l != shown && l != url && !l.is_empty() => format!("{l} ({shown})"),
        _ => shown,
    }
}

fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Replaces `:code:` with the emoji for the codes Slack users type most;
/// skin tones are dropped, unknown codes stay as written.
fn emoji(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(':') {
        let after = &rest[start + 1..];
        let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || "_+-".contains(c)));
        match end {
            Some(len) if len > 0 && after[len..].starts_with(':') => {
                let code = &after[..len];
                out.push_str(&rest[..start]);
                if code.starts_with("skin-tone-") {
                    // Nothing: it only modifies the emoji before it.
                } else if let Some(e) = EMOJI.iter().find(|(c, _)| *c == code) {
                    out.push_str(e.1);
                } else {
                    out.push(':');
                    out.push_str(code);
                    out.push(':');
                }
                rest = &after[len + 1..];
            }
            _ => {
                out.push_str(&rest[..=start]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

const EMOJI: [(&str, &str); 52] = [
    ("smile", "😄"),
    ("smiley", "😃"),
    ("grinning", "😀"),
    ("slightly_smiling_face", "🙂"),
    ("wink", "😉"),
    ("blush", "😊"),
    ("joy", "😂"),
    ("sweat_smile", "😅"),
    ("heart_eyes", "😍"),
    ("hugging_face", "🤗"),
    ("thinking_face", "🤔"),
    ("sunglasses", "😎"),
    ("disappointed", "😞"),
    ("slightly_frowning_face", "🙁"),
    ("cry", "😢"),
    ("sob", "😭"),
    ("+1", "👍"),
    ("thumbsup", "👍"),
    ("-1", "👎"),
    ("thumbsdown", "👎"),
    ("wave", "👋"),
    ("pray", "🙏"),
    ("clap", "👏"),
    ("raised_hands", "🙌"),
    ("ok_hand", "👌"),
    ("muscle", "💪"),
    ("point_right", "👉"),
    ("eyes", "👀"),
    ("tada", "🎉"),
    ("heart", "❤️"),
    ("sparkles", "✨"),
    ("star", "⭐"),
    ("fire", "🔥"),
    ("rocket", "🚀"),
    ("100", "💯"),
    ("white_check_mark", "✅"),
    ("heavy_check_mark", "✔️"),
    ("x", "❌"),
    ("warning", "⚠️"),
    ("information_source", "ℹ️"),
    ("question", "❓"),
    ("exclamation", "❗"),
    ("bulb", "💡"),
    ("memo", "📝"),
    ("calendar", "📅"),
    ("package", "📦"),
    ("truck", "🚚"),
    ("credit_card", "💳"),
    ("lock", "🔒"),
    ("key", "🔑"),
    ("email", "✉️"),
    ("phone", "📞"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn names(id: &str) -> Option<String> {
        (id == "U1").then(|| "Alice".to_owned())
    }

    #[test]
    fn mentions_become_names() {
        assert_eq!(to_plain("thanks <@U1>!", &names), "thanks @Alice!");
        assert_eq!(to_plain("ask <@U2|bob>", &names), "ask @bob");
        assert_eq!(to_plain("ask <@U3>", &names), "ask @a colleague");
        assert_eq!(
            mentioned_users("<@U1> and <@U2|bob> and <@U1>"),
            ["U1", "U2"]
        );
    }

    #[test]
    fn links_show_where_they_go() {
        assert_eq!(
            to_plain("see <https://ex.com/a?b=1&amp;c=2|the guide>", &names),
            "see the guide (https://ex.com/a?b=1&c=2)"
        );
        assert_eq!(to_plain("<https://ex.com>", &names), "https://ex.com");
        assert_eq!(
            to_plain("<mailto:help@ex.com|help@ex.com>", &names),
            "help@ex.com"
        );
    }

    #[test]
    fn specials_channels_and_dates_are_words() {
        assert_eq!(
            to_plain(
                "<!here> in <#C1|billing> at <!date^1700000000^{time}|10:00>",
                &names
            ),
            "@here in #billing at 10:00"
        );
        assert_eq!(to_plain("<!subteam^S1|@support>", &names), "@support");
    }

    #[test]
    fn entities_and_emoji_are_decoded() {
        assert_eq!(
            to_plain(
                "1 &lt; 2 &amp;&amp; 3 &gt; 2 :tada::+1::skin-tone-3: :custom_thing:",
                &names
            ),
            "1 < 2 && 3 > 2 🎉👍 :custom_thing:"
        );
        assert_eq!(to_plain("at 10:30: ok", &names), "at 10:30: ok");
        // Decoding happens once: an escaped entity stays an entity.
        assert_eq!(to_plain("&amp;lt;", &names), "&lt;");
    }

    #[test]
    fn an_unclosed_bracket_is_text() {
        assert_eq!(to_plain("a &lt;b <c", &names), "a <b <c");
    }
}
