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
use crate::canonical::write_str;
use crate::event::Event;
use crate::view::EventView;

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
    crate::canonical::to_vec(value)
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

/// Writes `"name":value` members in the order given (callers give JCS order), skipping absent ones.
struct Members<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Members<'o> {
    fn open(out: &'o mut Vec<u8>) -> Members<'o> {
        out.push(b'{');
        Members { out, first: true }
    }

    fn name(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        // Names are the layout's own, none with a character to escape.
        debug_assert!(
            name.bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte == b'_')
        );
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn text(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            let out = self.name(name);
            write_str(out, value);
        }
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// The leaf hash of an event, written straight from its fields: the same
/// bytes as `canonical(&split(event, salt).object)` (a property test holds
/// them equal), without building either JSON tree. Ingest hashes each event
/// this way as it appends it, and `verify --store` each stored row, viewed
/// in place (a stored event's metadata is canonicalised from its JSON text).
pub fn leaf_hash_of(event: &EventView, salt: [u8; 16]) -> Hash {
    let mut out = Vec::with_capacity(1024);
    write_pii(&mut out, event, salt);
    let mut digest = [0u8; 44];
    let digest = base64_of(&Sha256::digest(&out), &mut digest);
    out.clear();
    let mut leaf = Members::open(&mut out);
    leaf.text("action", Some(event.action));
    {
        let out = leaf.name("actor");
        let mut actor = Members::open(out);
        actor.text("id", event.actor.id.as_deref());
        actor.text("type", Some(event.actor.actor_type.as_str()));
        actor.close();
    }
    leaf.text("category", Some(event.category));
    leaf.text("channel", event.channel);
    leaf.text("description", event.description.as_deref());
    leaf.text(
        "id",
        Some(
            event
                .id
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        ),
    );
    event.metadata.write_canonical(leaf.name("metadata"));
    write_micros(leaf.name("occurred_at"), event.occurred_at);
    leaf.text("outcome", Some(event.outcome.as_str()));
    leaf.text("pii_digest", Some(digest));
    write_micros(leaf.name("recorded_at"), event.recorded_at);
    // Through the number rule, so that a seq past 2^53 would print as JCS prints it.
    crate::canonical::write_value(leaf.name("seq"), &Value::from(event.seq));
    {
        let out = leaf.name("targets");
        out.push(b'[');
        for (position, target) in event.targets.iter().enumerate() {
            if position > 0 {
                out.push(b',');
            }
            let mut member = Members::open(out);
            member.text("id", Some(&target.id));
            member.text("type", Some(&target.target_type));
            member.close();
        }
        out.push(b']');
    }
    leaf.text("tenant", Some(event.tenant));
    crate::canonical::write_integer(leaf.name("v"), LEAF_VERSION);
    leaf.close();
    leaf_hash(&out)
}

/// Base64 of `bytes`, written into `buffer` (which must hold it).
fn base64_of<'b>(bytes: &[u8], buffer: &'b mut [u8]) -> &'b str {
    let written = BASE64
        .encode_slice(bytes, buffer)
        .expect("the buffer holds the base64 of the bytes");
    std::str::from_utf8(&buffer[..written]).expect("base64 is ASCII")
}

/// The side-car's canonical bytes (members in JCS order: actor, context, salt, targets).
fn write_pii(out: &mut Vec<u8>, event: &EventView, salt: [u8; 16]) {
    let mut pii = Members::open(out);
    let actor = &event.actor;
    if actor.name.is_some() || actor.email.is_some() {
        let mut personal = Members::open(pii.name("actor"));
        personal.text("email", actor.email.as_deref());
        personal.text("name", actor.name.as_deref());
        personal.close();
    }
    let context = &event.context;
    if context.ip.is_some() || context.user_agent.is_some() {
        let mut personal = Members::open(pii.name("context"));
        if let Some(ip) = context.ip {
            // An address's text needs no escape.
            let out = personal.name("ip");
            out.push(b'"');
            let mut text = [0; crate::time_text::IP_TEXT_BYTES];
            out.extend_from_slice(crate::time_text::ip_text(ip, &mut text).as_bytes());
            out.push(b'"');
        }
        personal.text("user_agent", context.user_agent.as_deref());
        personal.close();
    }
    pii.text("salt", Some(base64_of(&salt, &mut [0u8; 24])));
    if event
        .targets
        .iter()
        .any(|target| target.name.is_some() || target.email.is_some())
    {
        let out = pii.name("targets");
        out.push(b'[');
        for (position, target) in event.targets.iter().enumerate() {
            if position > 0 {
                out.push(b',');
            }
            let mut personal = Members::open(out);
            personal.text("email", target.email.as_deref());
            personal.text("name", target.name.as_deref());
            personal.close();
        }
        out.push(b']');
    }
    pii.close();
}

/// A timestamp of a leaf as its JSON string: [`micros_text`], written in place.
fn write_micros(out: &mut Vec<u8>, instant: jiff::Timestamp) {
    match micros_digits(instant) {
        Some(text) => {
            out.push(b'"');
            out.extend_from_slice(&text);
            out.push(b'"');
        }
        None => write_str(out, &micros_text(instant)),
    }
}

/// Timestamps in leaves: RFC 3339, UTC, always six fractional digits.
fn micros_text(instant: jiff::Timestamp) -> String {
    match micros_digits(instant) {
        Some(text) => text.iter().map(|&byte| char::from(byte)).collect(),
        None => instant.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string(),
    }
}

/// [`micros_text`] of years 0–9999, the common case, written by hand.
fn micros_digits(instant: jiff::Timestamp) -> Option<[u8; 27]> {
    let civil = jiff::tz::Offset::UTC.to_datetime(instant);
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    text[..19].copy_from_slice(&crate::time_text::date_time(civil)?);
    crate::time_text::put_digits(&mut text[20..26], (civil.subsec_nanosecond() / 1000) as u32);
    Some(text)
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
    use proptest::prelude::*;

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

    fn text() -> impl Strategy<Value = String> {
        "[a-z \u{e9}\u{1f600}\u{0}-\u{1f}\"\\\\]{0,12}"
    }

    fn some_event() -> impl Strategy<Value = Event> {
        let actor = (
            prop_oneof![
                Just(ActorType::User),
                Just(ActorType::Service),
                Just(ActorType::System)
            ],
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
        )
            .prop_map(|(actor_type, id, name, email)| Actor {
                actor_type,
                id,
                name,
                email,
            });
        let target = (
            text(),
            text(),
            proptest::option::of(text()),
            proptest::option::of(text()),
        )
            .prop_map(|(target_type, id, name, email)| Target {
                target_type,
                id,
                name,
                email,
            });
        let ip = proptest::option::of(prop_oneof![
            any::<[u8; 4]>().prop_map(std::net::IpAddr::from),
            any::<[u8; 16]>().prop_map(std::net::IpAddr::from),
        ]);
        let metadata = proptest::collection::btree_map(
            text(),
            prop_oneof![
                text().prop_map(Value::String),
                any::<i64>().prop_map(|number| json!(number)),
                any::<f64>()
                    .prop_filter("finite", |n| n.is_finite())
                    .prop_map(|number| json!(number)),
                proptest::collection::vec(text().prop_map(Value::String), 0..3)
                    .prop_map(Value::Array),
            ],
            0..4,
        );
        (
            (
                any::<u128>(),
                text(),
                any::<u64>(),
                0i64..4_000_000_000_000_000,
                0i64..4_000_000_000_000_000,
            ),
            (
                text(),
                text(),
                actor,
                proptest::collection::vec(target, 0..3),
            ),
            (
                ip,
                proptest::option::of(text()),
                proptest::option::of(text()),
                any::<bool>(),
            ),
            (proptest::option::of(text()), metadata),
        )
            .prop_map(
                |(
                    (id, tenant, seq, recorded, occurred),
                    (action, category, actor, targets),
                    (ip, user_agent, channel, ok),
                    (description, metadata),
                )| Event {
                    id: uuid::Uuid::from_u128(id),
                    tenant,
                    tenant_name: None,
                    seq,
                    recorded_at: jiff::Timestamp::from_microsecond(recorded).unwrap(),
                    occurred_at: jiff::Timestamp::from_microsecond(occurred).unwrap(),
                    action,
                    category,
                    actor,
                    targets,
                    context: Context { ip, user_agent },
                    channel,
                    outcome: if ok {
                        Outcome::Success
                    } else {
                        Outcome::Failure
                    },
                    description,
                    metadata: metadata.into_iter().collect(),
                    display: None,
                },
            )
    }

    #[test]
    fn leaf_timestamps_have_six_digits_at_every_year() {
        for (micros, text) in [
            (0, "1970-01-01T00:00:00.000000Z"),
            (1_777_777_777_123_456, "2026-05-03T03:09:37.123456Z"),
            (-62_135_596_800_000_000, "0001-01-01T00:00:00.000000Z"),
            (253_402_207_199_999_999, "9999-12-30T21:59:59.999999Z"),
        ] {
            let instant = jiff::Timestamp::from_microsecond(micros).unwrap();
            assert_eq!(micros_text(instant), text);
            assert_eq!(
                micros_text(instant),
                instant.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
            );
        }
        // Before year 0, the general formatter.
        let ancient = jiff::Timestamp::from_microsecond(-377_705_023_201_000_000).unwrap();
        assert_eq!(
            micros_text(ancient),
            ancient.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
        );
        // Written in place, each is the JSON string of its text.
        for micros in [0, 1_777_777_777_123_456, -377_705_023_201_000_000] {
            let instant = jiff::Timestamp::from_microsecond(micros).unwrap();
            let (mut written, mut expected) = (Vec::new(), Vec::new());
            write_micros(&mut written, instant);
            write_str(&mut expected, &micros_text(instant));
            assert_eq!(written, expected);
        }
    }

    #[test]
    fn the_direct_leaf_hash_equals_the_tree_built_one_for_the_fixed_event() {
        let event = event();
        assert_eq!(
            leaf_hash_of(&event.view(), [3; 16]),
            split(&event, [3; 16]).hash()
        );
    }

    /// A stored event's view keeps its metadata as the JSON text it was
    /// stored as (members in the order they came in); its leaf is the same.
    fn stored_leaf_hash(event: &Event, salt: [u8; 16]) -> Hash {
        let text = serde_json::to_string(&event.metadata).unwrap();
        let raw = serde_json::value::RawValue::from_string(text).unwrap();
        let mut view = event.view();
        view.metadata = crate::view::Metadata::Stored(Some(&raw));
        leaf_hash_of(&view, salt)
    }

    proptest! {
        #[test]
        fn the_direct_leaf_hash_equals_the_tree_built_one(event in some_event(), salt in any::<[u8; 16]>()) {
            let expected = split(&event, salt).hash();
            prop_assert_eq!(leaf_hash_of(&event.view(), salt), expected);
            prop_assert_eq!(stored_leaf_hash(&event, salt), expected);
        }
    }
}
