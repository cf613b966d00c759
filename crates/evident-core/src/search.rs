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
    fn splits_only_at_case_changes() {
        assert_eq!(
            split_case_changes("KeysetConfigChanged"),
            "Keyset Config Changed"
        );
        assert_eq!(split_case_changes("USER_LOGIN"), "USER_LOGIN");
        assert_eq!(split_case_changes("license.revoked"), "license.revoked");
    }
}
