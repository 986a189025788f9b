//! Escaping customer text for the markups it is shown in.

/// Text made safe to place in HTML text or a quoted attribute value.
pub fn escape_html(text: &str) -> String {
    escape(text, |c| match c {
        '"' => Some("&quot;"),
        '\'' => Some("&#39;"),
        _ => None,
    })
}

/// `text` with `&`, `<` and `>` (the controls both markups share) and
/// whatever `more` names replaced by entities.
fn escape(text: &str, more: impl Fn(char) -> Option<&'static str>) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match (c, more(c)) {
            ('&', _) => out.push_str("&amp;"),
            ('<', _) => out.push_str("&lt;"),
            ('>', _) => out.push_str("&gt;"),
            (_, Some(entity)) => out.push_str(entity),
            (c, None) => out.push(c),
        }
    }
    out
}

/// Text made safe for Slack mrkdwn: `&`, `<` and `>` become entities, so
/// customer text can never form `<!channel>`, `<!here>`, a `<@U…>` mention
/// or a `<https://…|disguised>` link. Slack shows the entities as the
/// characters they stand for.
pub fn escape_mrkdwn(text: &str) -> String {
    escape(text, |_| None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_controls_are_escaped() {
        assert_eq!(
            escape_mrkdwn("<!channel> <@U1> <https://evil|bank> & co"),
            "&lt;!channel&gt; &lt;@U1&gt; &lt;https://evil|bank&gt; &amp; co"
        );
    }

    #[test]
    fn html_specials_are_escaped() {
        assert_eq!(escape_html("<b>&\"'x"), "&lt;b&gt;&amp;&quot;&#39;x");
    }
}
