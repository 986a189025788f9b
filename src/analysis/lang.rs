//! A cheap guess of a conversation's language, for routing ("Spanish
//! conversations go to the Madrid team").
//!
//! Counting the most frequent function words of each language is reliable
//! on a few sentences and costs nothing; a conversation whose language the
//! customer's metadata states (`language`) does not need a guess at all.

/// Function words per language (ISO 639-1 code first).
const LANGUAGES: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "the", "and", "is", "my", "i", "you", "to", "it", "not", "have", "with", "this", "of",
            "for", "was", "can", "what", "please",
        ],
    ),
    (
        "es",
        &[
            "el", "la", "de", "que", "y", "en", "los", "mi", "por", "con", "no", "es", "una",
            "para", "pero", "las", "del", "hola",
        ],
    ),
    (
        "fr",
        &[
            "le", "la", "de", "et", "les", "des", "est", "je", "pas", "mon", "une", "que", "pour",
            "vous", "avec", "ne", "bonjour", "merci",
        ],
    ),
    (
        "de",
        &[
            "der", "die", "und", "ist", "ich", "nicht", "das", "mein", "ein", "eine", "zu", "mit",
            "sie", "den", "bitte", "habe", "hallo", "danke",
        ],
    ),
    (
        "pt",
        &[
            "o", "a", "de", "que", "e", "não", "do", "da", "meu", "minha", "um", "uma", "para",
            "com", "os", "obrigado", "olá", "está",
        ],
    ),
    (
        "it",
        &[
            "il", "di", "che", "e", "non", "la", "un", "una", "per", "mio", "mia", "sono", "ho",
            "con", "grazie", "ciao", "è", "del",
        ],
    ),
    (
        "nl",
        &[
            "de", "het", "een", "en", "ik", "niet", "van", "is", "mijn", "dat", "op", "met",
            "voor", "je", "bedankt", "hallo", "graag", "zijn",
        ],
    ),
];

/// The likeliest language of `text`, or `None` when too few function words
/// say so.
pub fn guess(text: &str) -> Option<&'static str> {
    let mut counts = [0usize; LANGUAGES.len()];
    let mut words = 0;
    for word in text
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
    {
        words += 1;
        let lower = word.to_lowercase();
        for (i, (_, list)) in LANGUAGES.iter().enumerate() {
            if list.contains(&lower.as_str()) {
                counts[i] += 1;
            }
        }
    }
    let (best, &count) = counts
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| (**c, usize::MAX - i))?;
    let runner_up = counts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .map(|(_, c)| *c)
        .max()
        .unwrap_or(0);
    (words > 0 && count >= 2 && count > runner_up).then_some(LANGUAGES[best].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_languages() {
        assert_eq!(
            guess("I have not received my order and it is late"),
            Some("en")
        );
        assert_eq!(
            guess("Hola, no he recibido mi pedido y es para hoy"),
            Some("es")
        );
        assert_eq!(
            guess("Bonjour, je n'ai pas reçu ma commande, merci"),
            Some("fr")
        );
        assert_eq!(
            guess("Hallo, ich habe meine Bestellung nicht bekommen, bitte"),
            Some("de")
        );
    }

    #[test]
    fn too_little_to_say() {
        assert_eq!(guess("ok"), None);
        assert_eq!(guess(""), None);
        assert_eq!(guess("12345"), None);
    }
}
