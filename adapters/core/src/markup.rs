//! Escaping customer text for the markups it is shown in.

/// Text made safe to place in HTML text or a quoted attribute value.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text made safe for Slack mrkdwn: `&`, `<` and `>` become entities, so
/// customer text can never form `<!channel>`, `<!here>`, a `<@U…>` mention
/// or a `<https://…|disguised>` link. Slack shows the entities as the
/// characters they stand for.
pub fn escape_mrkdwn(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
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
