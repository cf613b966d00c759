//! The leaf of an event, with personal data committed apart (docs/integrity.md).
//!
//! An event splits into a *leaf object*, which is hashed into the tenant's
//! log, and a personal-data *side-car* (`pii`), which the leaf commits to by
//! digest only. Erasing a person's data later removes the side-car; the leaf
//! and every proof stay valid.
//!
//! - side-car: `{"actor": {"name", "email"}, "context": {"ip", "user_agent"},
//!   "targets": [{"name", "email"}, …], "salt"}`, each field only when present
//!   (`targets` when any target has a name or email: one object per target, in order);
//!   `salt` is 16 random bytes, base64, so that a digest does not reveal guessable data;
//! - leaf object: `{"v": 1, "id", "tenant", "seq", "recorded_at", "occurred_at",
//!   "action", "category", "actor": {"type", "id"}, "targets": [{"type", "id"}, …],
//!   "channel", "outcome", "description", "metadata", "pii_digest"}`, absent
//!   optional fields left out; `pii_digest` = base64 SHA-256 of the side-car's RFC 8785 form;
//! - the leaf is the RFC 8785 (JCS) form of the leaf object; its hash is
//!   SHA-256(0x00 ‖ leaf).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::merkle::{Hash, leaf_hash};
use crate::event::Event;

/// The version of the leaf layout.
pub const LEAF_VERSION: u64 = 1;

/// An event split for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    /// Exactly what is hashed (in its JCS form).
    pub object: Value,
    pub pii: Value,
}

fn insert_some(map: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), value.into());
    }
}

/// RFC 8785 canonical bytes of a JSON value.
pub fn canonical(value: &Value) -> Vec<u8> {
    // Serialising a serde_json::Value cannot fail: every map key is a string.
    serde_json_canonicalizer::to_vec(value).unwrap_or_default()
}

/// Base64 SHA-256 of a side-car's canonical form.
pub fn pii_digest(pii: &Value) -> String {
    BASE64.encode(Sha256::digest(canonical(pii)))
}

/// Splits a stored event into its leaf object and side-car; `salt` is 16 random bytes.
pub fn split(event: &Event, salt: [u8; 16]) -> Leaf {
    let mut pii = Map::new();
    let mut actor_pii = Map::new();
    insert_some(&mut actor_pii, "name", event.actor.name.clone());
    insert_some(&mut actor_pii, "email", event.actor.email.clone());
    if !actor_pii.is_empty() {
        pii.insert("actor".into(), Value::Object(actor_pii));
    }
    let mut context = Map::new();
    insert_some(
        &mut context,
        "ip",
        event.context.ip.map(|ip| ip.to_string()),
    );
    insert_some(&mut context, "user_agent", event.context.user_agent.clone());
    if !context.is_empty() {
        pii.insert("context".into(), Value::Object(context));
    }
    if event
        .targets
        .iter()
        .any(|target| target.name.is_some() || target.email.is_some())
    {
        let targets: Vec<Value> = event
            .targets
            .iter()
            .map(|target| {
                let mut personal = Map::new();
                insert_some(&mut personal, "name", target.name.clone());
                insert_some(&mut personal, "email", target.email.clone());
                Value::Object(personal)
            })
            .collect();
        pii.insert("targets".into(), Value::Array(targets));
    }
    pii.insert("salt".into(), json!(BASE64.encode(salt)));
    let pii = Value::Object(pii);

    let mut object = Map::new();
    object.insert("v".into(), json!(LEAF_VERSION));
    object.insert("id".into(), json!(event.id.to_string()));
    object.insert("tenant".into(), json!(event.tenant));
    object.insert("seq".into(), json!(event.seq));
    object.insert("recorded_at".into(), json!(micros_text(event.recorded_at)));
    object.insert("occurred_at".into(), json!(micros_text(event.occurred_at)));
    object.insert("action".into(), json!(event.action));
    object.insert("category".into(), json!(event.category));
    let mut actor = Map::new();
    actor.insert("type".into(), json!(event.actor.actor_type.as_str()));
    insert_some(&mut actor, "id", event.actor.id.clone());
    object.insert("actor".into(), Value::Object(actor));
    let targets: Vec<Value> = event
        .targets
        .iter()
        .map(|target| json!({"type": target.target_type, "id": target.id}))
        .collect();
    object.insert("targets".into(), Value::Array(targets));
    insert_some(&mut object, "channel", event.channel.clone());
    object.insert("outcome".into(), json!(event.outcome.as_str()));
    insert_some(&mut object, "description", event.description.clone());
    object.insert("metadata".into(), Value::Object(event.metadata.clone()));
    object.insert("pii_digest".into(), json!(pii_digest(&pii)));
    Leaf {
        object: Value::Object(object),
        pii,
    }
}

/// Timestamps in leaves: RFC 3339, UTC, always six fractional digits.
fn micros_text(instant: jiff::Timestamp) -> String {
    instant.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

impl Leaf {
    /// The leaf hash: SHA-256(0x00 ‖ JCS(leaf object)).
    pub fn hash(&self) -> Hash {
        leaf_hash(&canonical(&self.object))
    }
}

/// Checks that a side-car belongs to a leaf object (its digest matches).
pub fn pii_matches(object: &Value, pii: &Value) -> bool {
    object.get("pii_digest").and_then(Value::as_str) == Some(pii_digest(pii).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, ActorType, Context, Outcome, Target};

    fn event() -> Event {
        Event {
            id: uuid::Uuid::nil(),
            tenant: "acme".into(),
            tenant_name: None,
            seq: 7,
            recorded_at: "2026-05-02T10:11:12.5Z".parse().unwrap(),
            occurred_at: "2026-05-02T10:11:12.123456Z".parse().unwrap(),
            action: "license.revoked".into(),
            category: "Licenses".into(),
            actor: Actor {
                actor_type: ActorType::User,
                id: Some("usr_1".into()),
                name: Some("Ada Lovelace".into()),
                email: Some("ada@acme.example".into()),
            },
            targets: vec![
                Target {
                    target_type: "license".into(),
                    id: "lic_1".into(),
                    name: None,
                    email: None,
                },
                Target {
                    target_type: "client".into(),
                    id: "cli_1".into(),
                    name: None,
                    email: Some("it@globex.example".into()),
                },
            ],
            context: Context {
                ip: Some("203.0.113.7".parse().unwrap()),
                user_agent: None,
            },
            channel: Some("portal".into()),
            outcome: Outcome::Success,
            description: None,
            metadata: json!({"pool": "enterprise", "seats": 3})
                .as_object()
                .unwrap()
                .clone(),
            display: Some("never in a leaf".into()),
        }
    }

    #[test]
    fn personal_fields_live_in_the_side_car_only() {
        let leaf = split(&event(), [0; 16]);
        let text = String::from_utf8(canonical(&leaf.object)).unwrap();
        for personal in [
            "Ada Lovelace",
            "ada@acme.example",
            "203.0.113.7",
            "it@globex.example",
            "never in a leaf",
        ] {
            assert!(!text.contains(personal), "{personal} in {text}");
        }
        assert_eq!(
            leaf.pii,
            json!({"actor": {"name": "Ada Lovelace", "email": "ada@acme.example"}, "context": {"ip": "203.0.113.7"},
                   "targets": [{}, {"email": "it@globex.example"}], "salt": "AAAAAAAAAAAAAAAAAAAAAA=="})
        );
        assert!(pii_matches(&leaf.object, &leaf.pii));
        let mut forged = leaf.pii.clone();
        forged["actor"]["name"] = json!("Grace Hopper");
        assert!(!pii_matches(&leaf.object, &forged));
    }

    #[test]
    fn the_leaf_is_canonical_and_stable() {
        let leaf = split(&event(), [0; 16]);
        let text = String::from_utf8(canonical(&leaf.object)).unwrap();
        // Keys sorted, no white space, timestamps with six digits.
        assert!(text.starts_with("{\"action\":\"license.revoked\",\"actor\":{\"id\":\"usr_1\",\"type\":\"user\"},\"category\":\"Licenses\",\"channel\":\"portal\",\"id\":\"00000000-0000-0000-0000-000000000000\",\"metadata\":{\"pool\":\"enterprise\",\"seats\":3},\"occurred_at\":\"2026-05-02T10:11:12.123456Z\",\"outcome\":\"success\",\"pii_digest\":"), "{text}");
        assert!(text.ends_with("\"recorded_at\":\"2026-05-02T10:11:12.500000Z\",\"seq\":7,\"targets\":[{\"id\":\"lic_1\",\"type\":\"license\"},{\"id\":\"cli_1\",\"type\":\"client\"}],\"tenant\":\"acme\",\"v\":1}"), "{text}");
        assert_eq!(leaf.hash(), leaf_hash(text.as_bytes()));
        // A different salt changes the digest, not the rest.
        let salted = split(&event(), [1; 16]);
        assert_ne!(salted.object["pii_digest"], leaf.object["pii_digest"]);
        // Any change to a committed field changes the hash.
        let mut altered = event();
        altered.metadata.insert("seats".into(), json!(4));
        assert_ne!(split(&altered, [0; 16]).hash(), leaf.hash());
    }

    #[test]
    fn jcs_orders_keys_and_formats_numbers() {
        let value = json!({"b": [1.0, 1e21, -0.0, 0.000001], "a": "\u{20ac}\n", "é": true});
        assert_eq!(
            String::from_utf8(canonical(&value)).unwrap(),
            "{\"a\":\"\u{20ac}\\n\",\"b\":[1,1e+21,0,0.000001],\"é\":true}"
        );
    }
}
