//! Redaction: secrets in `metadata` become `"[REDACTED]"` before anything is
//! stored, hashed, logged or counted.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Key names redacted wherever they occur in metadata, unless configured otherwise.
pub const DEFAULT_KEYS: [&str; 12] = [
    "password",
    "passwd",
    "secret",
    "secret_key",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "api_key",
    "authorization",
    "private_key",
    "cookie",
];

/// Redacts metadata by key name (anywhere, any depth, case-insensitively)
/// and by JSON pointer (from the catalog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redactor {
    keys: BTreeSet<String>,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(DEFAULT_KEYS)
    }
}

impl Redactor {
    pub fn new<S: AsRef<str>>(keys: impl IntoIterator<Item = S>) -> Redactor {
        Redactor {
            keys: keys
                .into_iter()
                .map(|key| key.as_ref().to_lowercase())
                .collect(),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(String::as_str)
    }

    /// Replaces the values at `pointers` (JSON pointers into `metadata`) and
    /// under every key named like a secret.
    pub fn redact(&self, metadata: &mut Map<String, Value>, pointers: &[String]) {
        let mut root = Value::Object(std::mem::take(metadata));
        for pointer in pointers {
            if let Some(value) = root.pointer_mut(pointer) {
                *value = Value::String(REDACTED.to_owned());
            }
        }
        self.redact_keys(&mut root);
        if let Value::Object(map) = root {
            *metadata = map;
        }
    }

    fn redact_keys(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    if self.keys.contains(&key.to_lowercase()) {
                        *item = Value::String(REDACTED.to_owned());
                    } else {
                        self.redact_keys(item);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_keys(item)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redacted(metadata: Value, pointers: &[&str]) -> Value {
        let mut map = metadata.as_object().unwrap().clone();
        let pointers: Vec<String> = pointers.iter().map(|pointer| pointer.to_string()).collect();
        Redactor::default().redact(&mut map, &pointers);
        Value::Object(map)
    }

    #[test]
    fn default_keys_anywhere_any_case() {
        let out = redacted(
            json!({"Password": "hunter2", "nested": {"deep": [{"api_key": "k", "keep": 1}]}, "client_secret": {"a": 1}, "plain": "ok"}),
            &[],
        );
        assert_eq!(
            out,
            json!({"Password": REDACTED, "nested": {"deep": [{"api_key": REDACTED, "keep": 1}]}, "client_secret": REDACTED, "plain": "ok"})
        );
    }

    #[test]
    fn pointers_from_the_catalog() {
        let out = redacted(
            json!({"changes": {"new_value": "s3cr3t", "field": "key"}, "list": ["a", "b"]}),
            &["/changes/new_value", "/list/1", "/missing"],
        );
        assert_eq!(
            out,
            json!({"changes": {"new_value": REDACTED, "field": "key"}, "list": ["a", REDACTED]})
        );
    }

    #[test]
    fn configurable_keys() {
        let mut map = json!({"ssn": "123", "password": "p"})
            .as_object()
            .unwrap()
            .clone();
        Redactor::new(["SSN"]).redact(&mut map, &[]);
        assert_eq!(
            Value::Object(map),
            json!({"ssn": REDACTED, "password": "p"})
        );
    }
}
