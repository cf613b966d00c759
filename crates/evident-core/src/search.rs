//! What free text searches: the words of an event that `q` and text clauses match.

use serde_json::Value;

use crate::event::{Actor, Event, NewEvent, Target};

/// The searchable text of an event: its action (also split at case changes,
/// so `KeysetConfigChanged` is found by `config`), its actor, its targets, its
/// description and the values (not the keys) of its metadata.
pub fn searchable_text(event: &NewEvent) -> String {
    text_of(
        &event.action,
        &event.actor,
        &event.targets,
        event.description.as_deref(),
        &event.metadata,
    )
}

/// The same text for a stored event (to rebuild the search index).
pub fn stored_searchable_text(event: &Event) -> String {
    text_of(
        &event.action,
        &event.actor,
        &event.targets,
        event.description.as_deref(),
        &event.metadata,
    )
}

fn text_of(
    action: &str,
    actor: &Actor,
    targets: &[Target],
    description: Option<&str>,
    metadata: &serde_json::Map<String, Value>,
) -> String {
    let mut text = String::with_capacity(256);
    push(&mut text, action);
    let split = split_case_changes(action);
    if split != action {
        push(&mut text, &split);
    }
    for part in [&actor.id, &actor.name, &actor.email].into_iter().flatten() {
        push(&mut text, part);
    }
    for target in targets {
        push(&mut text, &target.target_type);
        push(&mut text, &target.id);
        for part in [&target.name, &target.email].into_iter().flatten() {
            push(&mut text, part);
        }
    }
    if let Some(description) = description {
        push(&mut text, description);
    }
    for value in metadata.values() {
        push_values(&mut text, value);
    }
    text
}

fn push(text: &mut String, part: &str) {
    if !text.is_empty() {
        text.push(' ');
    }
    text.push_str(part);
}

fn push_values(text: &mut String, value: &Value) {
    match value {
        Value::String(string) => push(text, string),
        Value::Number(number) => push(text, &number.to_string()),
        Value::Bool(flag) => push(text, if *flag { "true" } else { "false" }),
        Value::Array(items) => items.iter().for_each(|item| push_values(text, item)),
        Value::Object(map) => map.values().for_each(|item| push_values(text, item)),
        Value::Null => {}
    }
}

/// `KeysetConfigChanged` → `Keyset Config Changed`; other text unchanged.
fn split_case_changes(action: &str) -> String {
    let mut out = String::with_capacity(action.len() + 8);
    let mut previous_lower = false;
    for character in action.chars() {
        if character.is_uppercase() && previous_lower {
            out.push(' ');
        }
        previous_lower = character.is_lowercase() || character.is_ascii_digit();
        out.push(character);
    }
    out
}

/// Whether a free-text term has anything to match: at least one letter or digit.
pub fn has_words(term: &str) -> bool {
    term.chars().any(char::is_alphanumeric)
}

/// The words free text matches, as the embedded store's search index
/// (SQLite FTS5's `unicode61` tokenizer with `remove_diacritics 2`) cuts them:
/// runs of letters and digits, lower-cased, with diacritics removed, so
/// `José Müller <jose@acme.example>` holds `jose`, `muller`, `jose`, `acme`,
/// `example`. A backend that indexes the words itself uses this to give the
/// same answers.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    use unicode_normalization::char::is_combining_mark;
    // A combining mark belongs to its word (text may arrive decomposed): it is removed, not a break.
    text.split(|character: char| !(character.is_alphanumeric() || is_combining_mark(character)))
        .filter(|word| !word.is_empty())
        .map(fold_word)
}

/// The most words an identifier term joins: a longer identifier is indexed
/// as terms of this many words from each of its words, and a free-text word
/// of more is searched as the phrase of its words.
pub const MOST_IDENTIFIER_WORDS: usize = 8;

/// The identifier terms of a text, each once: every run of ASCII letters and
/// digits joined by single underscores (`tok_f585b4b17`,
/// `user_password_changed`), lower-cased and joined by `joiner`, from each of
/// its words but the last (so that `password_changed` is found as well as
/// `user_password_changed`, and any run of its words as a prefix of one of
/// them), at most [`MOST_IDENTIFIER_WORDS`] words long. A
/// free-text word that is an identifier ([`identifier_term`]) is searched as
/// one of these terms, or a prefix of one, instead of as the phrase of its
/// words: the phrase reads the whole posting list of a common first word
/// such as `tok`, a term only its own.
pub fn identifier_terms(text: &str, joiner: char) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for run in identifier_runs(text) {
        for words in run.split(|word: &&str| word.is_empty()) {
            for start in 0..words.len().saturating_sub(1) {
                let end = words.len().min(start + MOST_IDENTIFIER_WORDS);
                let term = join_lowercase(&words[start..end], joiner);
                // An event holds a handful: a scan costs less than a hash set.
                if !terms.contains(&term) {
                    terms.push(term);
                }
            }
        }
    }
    terms
}

/// The identifier term a free-text word is searched as (its last word a
/// prefix), when the word is one identifier of two to
/// [`MOST_IDENTIFIER_WORDS`] words, as [`identifier_terms`] finds them in
/// text: `tok_f585b4b17`, or `(tok_f585b4b17)`, but not `tok_f585b4b17.pdf`.
pub fn identifier_term(word: &str, joiner: char) -> Option<String> {
    let run = identifier_runs(word).next()?;
    let start = run.iter().position(|word| !word.is_empty())?;
    let end = run.iter().rposition(|word| !word.is_empty())? + 1;
    let words = &run[start..end];
    // The word holds nothing else: no other run, no underscores twice in a row.
    if words.len() < 2
        || words.len() > MOST_IDENTIFIER_WORDS
        || words.contains(&"")
        || self::words(word).count() != words.len()
    {
        return None;
    }
    Some(join_lowercase(words, joiner))
}

/// The runs of letters, digits and underscores of a text that hold anything
/// but underscores, each split at its underscores, when they are all ASCII
/// (a run with other letters holds no identifier: `naïve_x` is not `ve_x`);
/// other runs are left out.
fn identifier_runs(text: &str) -> impl Iterator<Item = Vec<&str>> {
    // Text without an underscore holds none: one search for the byte, no scan.
    let underscores = text.as_bytes().contains(&b'_');
    let mut runs = Runs {
        text: if underscores { text } else { "" },
        at: 0,
    };
    std::iter::from_fn(move || runs.next_identifier()).map(|run| run.split('_').collect())
}

/// The runs of letters, digits, underscores and combining marks of a text,
/// read a byte at a time where the text is ASCII (the searchable text
/// nearly always is: ids, emails, names), a character at a time elsewhere.
struct Runs<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Runs<'t> {
    /// The next run that holds an underscore and only ASCII letters, digits
    /// and underscores.
    fn next_identifier(&mut self) -> Option<&'t str> {
        use unicode_normalization::char::is_combining_mark;
        let bytes = self.text.as_bytes();
        while self.at < bytes.len() {
            let start = self.at;
            let (mut ascii, mut underscore) = (true, false);
            while self.at < bytes.len() {
                let byte = bytes[self.at];
                if byte.is_ascii() {
                    if !(byte.is_ascii_alphanumeric() || byte == b'_') {
                        break;
                    }
                    underscore |= byte == b'_';
                    self.at += 1;
                } else {
                    let character = self.text[self.at..].chars().next()?;
                    if !(character.is_alphanumeric() || is_combining_mark(character)) {
                        break;
                    }
                    ascii = false;
                    self.at += character.len_utf8();
                }
            }
            let run = &self.text[start..self.at];
            // Past the character that ended the run.
            self.at += self.text[self.at..]
                .chars()
                .next()
                .map_or(0, char::len_utf8);
            if ascii && underscore {
                return Some(run);
            }
        }
        None
    }
}

fn join_lowercase(words: &[&str], joiner: char) -> String {
    let mut term = String::with_capacity(words.iter().map(|word| word.len() + 1).sum());
    for (index, word) in words.iter().enumerate() {
        if index > 0 {
            term.push(joiner);
        }
        term.extend(word.chars().map(|character| character.to_ascii_lowercase()));
    }
    term
}

/// A word lower-cased with its combining marks (diacritics) removed.
fn fold_word(word: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    if word.is_ascii() {
        return word.to_ascii_lowercase();
    }
    word.nfd()
        .filter(|character| !is_combining_mark(*character))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, ActorType, Context, Outcome, Target};
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn words_are_folded_runs_of_letters_and_digits() {
        let found: Vec<String> =
            words("José Mu\u{308}ller <jose@ACME.example>, usr_42 Çà-va").collect();
        assert_eq!(
            found,
            [
                "jose", "muller", "jose", "acme", "example", "usr", "42", "ca", "va"
            ]
        );
        assert_eq!(words("--- ... ").count(), 0);
    }

    #[test]
    fn holds_every_searchable_field_and_no_keys() {
        let event = NewEvent {
            action: "KeysetConfigChanged".into(),
            category: "keyset".into(),
            occurred_at: jiff::Timestamp::UNIX_EPOCH,
            actor: Actor {
                actor_type: ActorType::User,
                id: Some("usr_1".into()),
                name: Some("Ada Lovelace".into()),
                email: Some("ada@acme.example".into()),
            },
            targets: vec![Target {
                target_type: "keyset".into(),
                id: "ks_9".into(),
                name: Some("prod-eu".into()),
                email: None,
            }],
            context: Context::default(),
            channel: None,
            outcome: Outcome::Success,
            description: Some("changed persistence".into()),
            metadata: json!({"changes": {"storage": "enabled"}, "count": 3})
                .as_object()
                .cloned()
                .unwrap(),
            idempotency_key: None,
        };
        let text = searchable_text(&event);
        for word in [
            "KeysetConfigChanged",
            "Keyset Config Changed",
            "usr_1",
            "Ada Lovelace",
            "ada@acme.example",
            "ks_9",
            "prod-eu",
            "changed persistence",
            "enabled",
            "3",
        ] {
            assert!(text.contains(word), "{word} in {text}");
        }
        assert!(
            !text.contains("changes"),
            "metadata keys are not searched: {text}"
        );
    }

    #[test]
    fn identifiers_are_runs_joined_by_underscores_from_each_of_their_words() {
        let text = "Revoked tok_F585b4b17. subaccount.user_password_changed req_1 tok_f585b4b17 \
                    a__b _c_d_ naïve_x_y x-y_z usr_42é";
        assert_eq!(
            identifier_terms(text, '·'),
            [
                "tok·f585b4b17",
                "user·password·changed",
                "password·changed",
                "req·1",
                "c·d",
                "y·z",
            ]
        );
        // A longer identifier: terms of at most eight words from each word.
        let long = "a_b_c_d_e_f_g_h_i_j";
        let terms = identifier_terms(long, '_');
        assert_eq!(terms.len(), 9);
        assert_eq!(terms[0], "a_b_c_d_e_f_g_h");
        assert_eq!(terms[2], "c_d_e_f_g_h_i_j");
        assert_eq!(terms[8], "i_j");
        assert!(identifier_terms("no identifiers here, ada@acme.example", '_').is_empty());
    }

    #[test]
    fn a_word_is_an_identifier_when_it_is_one_run_of_two_to_eight_words() {
        for (word, term) in [
            ("tok_f585b4b17", Some("tok·f585b4b17")),
            ("TOK_F585", Some("tok·f585")),
            ("(tok_f585b4b17),", Some("tok·f585b4b17")),
            ("_tok_f585_", Some("tok·f585")),
            ("a_b_c_d_e_f_g_h", Some("a·b·c·d·e·f·g·h")),
            ("a_b_c_d_e_f_g_h_i", None),
            ("tok", None),
            ("tok_", None),
            ("a__b", None),
            ("tok_f585b4b17.pdf", None),
            ("ada@acme.example", None),
            ("josé_m", None),
            ("", None),
        ] {
            assert_eq!(identifier_term(word, '·').as_deref(), term, "{word}");
        }
        // Every identifier word is found among the terms of a text holding it.
        for word in ["tok_f585b4b17", "password_changed", "user_password"] {
            let term = identifier_term(word, '·').unwrap();
            assert!(
                identifier_terms("x subaccount.user_password_changed tok_f585b4b17", '·')
                    .iter()
                    .any(|found| found.starts_with(&term)),
                "{word}"
            );
        }
    }

    /// The runs as a split at each character that is not a letter, digit,
    /// underscore or combining mark: what [`identifier_runs`] reads faster.
    fn identifier_runs_split_at_characters(text: &str) -> Vec<Vec<&str>> {
        use unicode_normalization::char::is_combining_mark;
        text.split(|character: char| {
            !(character.is_alphanumeric() || character == '_' || is_combining_mark(character))
        })
        .filter(|run| {
            run.contains('_')
                && run
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
        })
        .map(|run| run.split('_').collect())
        .collect()
    }

    proptest! {
        #[test]
        fn runs_read_a_byte_at_a_time_are_the_runs_split_at_characters(
            text in "([a-zA-Z0-9_ .@()-]|é|e\u{301}|ß|\u{E000}|漢|١|\u{2003}){0,40}"
        ) {
            prop_assert_eq!(
                identifier_runs(&text).collect::<Vec<_>>(),
                identifier_runs_split_at_characters(&text)
            );
        }
    }

    #[test]
    fn splits_only_at_case_changes() {
        assert_eq!(
            split_case_changes("KeysetConfigChanged"),
            "Keyset Config Changed"
        );
        assert_eq!(split_case_changes("USER_LOGIN"), "USER_LOGIN");
        assert_eq!(split_case_changes("license.revoked"), "license.revoked");
    }
}
