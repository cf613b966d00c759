//! An ingest body read straight into [`NewEvent`]s, for bodies that keep
//! every rule: a typed parse that borrows the body's strings, where
//! [`validate_event`](super::validate_event) reads a `serde_json::Value` tree
//! first (a map per object, a copy of every string: most of the HTTP
//! workers' 8 µs of the server's 33–48 µs an event under batch ingest).
//!
//! It only ever accepts: a body it cannot read, or an event that breaks a
//! rule, gives `None`, and the caller reads the body again through
//! `validate_event`, which names every violation. What it accepts is what
//! `validate_event` makes of the same body (`tests` check both ways).

use std::borrow::Cow;
use std::net::IpAddr;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    ACTION_MAX, ACTOR_ID_MAX, Actor, ActorType, CHANNEL_MAX, Context, DESCRIPTION_MAX, EMAIL_MAX,
    EventLimits, IDEMPOTENCY_KEY_MAX, NAME_MAX, NewEvent, Outcome, TARGET_ID_MAX, TARGET_TYPE_MAX,
    Target, UNCATEGORIZED, USER_AGENT_MAX, is_valid_action, truncate_to_micros,
};

/// A body's events, when every one keeps every rule.
#[derive(Debug, PartialEq)]
pub enum WireBody {
    /// A body that is one event.
    Single(Box<NewEvent>),
    /// `{"events": [...]}`, with 1 to `max_events` events.
    Batch(Vec<NewEvent>),
}

/// The events of an ingest body that keeps every rule, or `None` (read it
/// with `validate_event` then).
pub fn read_valid(
    body: &[u8],
    now: Timestamp,
    limits: &EventLimits,
    max_events: usize,
) -> Option<WireBody> {
    // JSON can hold U+0000 only escaped; an event that does is refused, by
    // `validate_event`, which names the field.
    if memchr::memmem::find(body, br"\u0000").is_some() {
        return None;
    }
    if let Ok(batch) = serde_json::from_slice::<WireBatch>(body) {
        if batch.events.is_empty() || batch.events.len() > max_events {
            return None;
        }
        let events = batch
            .events
            .into_iter()
            .map(|event| event.valid(now, limits))
            .collect::<Option<Vec<_>>>()?;
        return Some(WireBody::Batch(events));
    }
    let event = serde_json::from_slice::<WireEvent>(body).ok()?;
    Some(WireBody::Single(Box::new(event.valid(now, limits)?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBatch<'a> {
    #[serde(borrow)]
    events: Vec<WireEvent<'a>>,
}

/// A string, borrowed from the body unless it holds an escape (serde
/// borrows a `Cow` only as a field of its own, not inside an `Option`).
#[derive(Deserialize)]
struct Str<'a>(#[serde(borrow)] Cow<'a, str>);

/// A string field that may be absent or null.
type Text<'a> = Option<Str<'a>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEvent<'a> {
    #[serde(borrow)]
    action: Text<'a>,
    #[serde(borrow)]
    occurred_at: Text<'a>,
    #[serde(borrow)]
    actor: Option<WireParty<'a>>,
    #[serde(borrow)]
    targets: Option<Vec<WireParty<'a>>>,
    #[serde(borrow)]
    context: Option<WireContext<'a>>,
    #[serde(borrow)]
    channel: Text<'a>,
    #[serde(borrow)]
    outcome: Text<'a>,
    #[serde(borrow)]
    description: Text<'a>,
    metadata: Option<Map<String, Value>>,
    #[serde(borrow)]
    idempotency_key: Text<'a>,
}

/// An actor or a target: the two have the same four fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireParty<'a> {
    #[serde(borrow, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    email: Text<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireContext<'a> {
    #[serde(borrow)]
    ip: Text<'a>,
    #[serde(borrow)]
    user_agent: Text<'a>,
}

/// `text` when it has at most `max` characters (the rule of `validate_event`'s strings).
fn within(text: Text<'_>, max: usize) -> Option<Option<String>> {
    match text {
        None => Some(None),
        // Bytes bound characters: the count only where it could be over.
        Some(Str(text)) if text.len() <= max || text.chars().count() <= max => {
            Some(Some(text.into_owned()))
        }
        Some(_) => None,
    }
}

/// `text` when it is present, not empty and at most `max` characters.
fn required(text: Text<'_>, max: usize) -> Option<String> {
    within(text, max)?.filter(|text| !text.is_empty())
}

impl WireEvent<'_> {
    fn valid(self, now: Timestamp, limits: &EventLimits) -> Option<NewEvent> {
        let action = required(self.action, ACTION_MAX).filter(|action| is_valid_action(action))?;
        let occurred_at = match self.occurred_at {
            None => truncate_to_micros(now),
            Some(Str(text)) => {
                let instant = text.parse::<Timestamp>().ok()?;
                if instant > now + limits.max_future {
                    return None;
                }
                truncate_to_micros(instant)
            }
        };
        let actor = self.actor?.actor()?;
        let targets = match self.targets {
            None => Vec::new(),
            Some(targets) if targets.len() <= limits.max_targets => targets
                .into_iter()
                .map(WireParty::target)
                .collect::<Option<Vec<_>>>()?,
            Some(_) => return None,
        };
        let context = match self.context {
            None => Context::default(),
            Some(context) => Context {
                ip: match context.ip {
                    None => None,
                    Some(Str(ip)) => Some(ip.parse::<IpAddr>().ok()?),
                },
                user_agent: within(context.user_agent, USER_AGENT_MAX)?,
            },
        };
        let outcome = match self.outcome {
            None => Outcome::Success,
            Some(Str(text)) => Outcome::parse(&text)?,
        };
        let metadata = self.metadata.unwrap_or_default();
        if super::serialized_size(&metadata) > limits.max_metadata_bytes {
            return None;
        }
        Some(NewEvent {
            action,
            category: UNCATEGORIZED.to_owned(),
            occurred_at,
            actor,
            targets,
            context,
            channel: within(self.channel, CHANNEL_MAX)?,
            outcome,
            description: within(self.description, DESCRIPTION_MAX)?,
            metadata,
            idempotency_key: within(self.idempotency_key, IDEMPOTENCY_KEY_MAX)?,
        })
    }
}

impl WireParty<'_> {
    fn actor(self) -> Option<Actor> {
        let Str(actor_type) = self.kind?;
        let actor_type = ActorType::parse(&actor_type)?;
        let id = within(self.id, ACTOR_ID_MAX)?.filter(|id| !id.is_empty());
        if actor_type != ActorType::System && id.is_none() {
            return None;
        }
        Some(Actor {
            actor_type,
            id,
            name: within(self.name, NAME_MAX)?,
            email: within(self.email, EMAIL_MAX)?,
        })
    }

    fn target(self) -> Option<Target> {
        Some(Target {
            target_type: required(self.kind, TARGET_TYPE_MAX)?,
            id: required(self.id, TARGET_ID_MAX)?,
            name: within(self.name, NAME_MAX)?,
            email: within(self.email, EMAIL_MAX)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::event::validate_event;

    fn now() -> Timestamp {
        "2026-12-06T10:00:00Z".parse().unwrap()
    }

    fn read(body: &Value) -> Option<WireBody> {
        read_valid(
            body.to_string().as_bytes(),
            now(),
            &EventLimits::default(),
            1_000,
        )
    }

    /// What `validate_event` makes of one event.
    fn validated(event: &Value) -> Result<NewEvent, Vec<crate::Violation>> {
        validate_event(event, None, now(), &EventLimits::default())
    }

    #[test]
    fn events_that_keep_every_rule_are_read_as_validation_reads_them() {
        let events = [
            json!({"action": "user.login", "actor": {"type": "user", "id": "u_1"}}),
            json!({
                "action": "license.revoked",
                "occurred_at": "2026-12-05T09:08:07.123456789+02:00",
                "actor": {"type": "user", "id": "u_42", "name": "Zoë Ångström \"ZA\"", "email": "Zoe@Example.com"},
                "targets": [
                    {"type": "license", "id": "lic_9", "name": "Pro — 25 seats"},
                    {"type": "user", "id": "u_7", "email": "ada@example.com", "name": null}
                ],
                "context": {"ip": "2001:db8::7", "user_agent": "Mozilla/5.0 (X11)\tline\nbreak"},
                "channel": "portal",
                "outcome": "failure",
                "description": "Revoked by an admin \\ after a refund",
                "metadata": {"seats": 25, "reason": {"code": "refund", "notes": ["a", 1, null, true]}},
                "idempotency_key": "evt-42"
            }),
            json!({"action": "system.sweep", "actor": {"type": "system"}, "targets": null,
                   "context": null, "channel": null, "outcome": null, "metadata": null}),
            json!({"action": "a", "actor": {"type": "service", "id": "svc", "email": ""},
                   "context": {"ip": "203.0.113.7"}, "idempotency_key": ""}),
        ];
        for event in &events {
            let expected = validated(event).expect("a valid event");
            assert_eq!(
                read(event),
                Some(WireBody::Single(Box::new(expected.clone()))),
                "{event}"
            );
        }
        let batch = json!({"events": events});
        let expected: Vec<NewEvent> = events
            .iter()
            .map(|event| validated(event).unwrap())
            .collect();
        assert_eq!(read(&batch), Some(WireBody::Batch(expected)));
    }

    #[test]
    fn a_body_that_breaks_any_rule_is_left_to_validation() {
        let valid = json!({"action": "user.login", "actor": {"type": "user", "id": "u_1"}});
        let broken = [
            json!({"actor": {"type": "user", "id": "u_1"}}),
            json!({"action": "", "actor": {"type": "user", "id": "u_1"}}),
            json!({"action": "user login", "actor": {"type": "user", "id": "u_1"}}),
            json!({"action": "x".repeat(129), "actor": {"type": "user", "id": "u_1"}}),
            json!({"action": "a", "actor": {"type": "user"}}),
            json!({"action": "a", "actor": {"type": "user", "id": ""}}),
            json!({"action": "a", "actor": {"type": "robot", "id": "r"}}),
            json!({"action": "a", "actor": {"type": "user", "id": "u", "role": "x"}}),
            json!({"action": "a", "actor": {"type": "user", "id": "é".repeat(257)}}),
            json!({"action": "a", "actor": null}),
            json!({"action": "a", "actor": {"type": "user", "id": 7}}),
            json!({"action": "a", "actor": {"type": "user", "id": "u"}, "occurred_at": "yesterday"}),
            json!({"action": "a", "actor": {"type": "user", "id": "u"}, "occurred_at": "2026-12-08T10:00:00Z"}),
            json!({"action": "a", "actor": {"type": "user", "id": "u"}, "targets": [{"type": "t"}]}),
            json!({"action": "a", "actor": {"type": "user", "id": "u"}, "targets": [null]}),
            json!({"action": "a", "actor": {"type": "user", "id": "u"}, "targets": vec![json!({"type": "t", "id": "i"}); 33]}),
            json!({"action": "a", "actor": {"type": "user", "id": "u"}, "context": {"ip": "300.1.1.1"}}),
            json!({"action": "a", "actor": {"type": "user", "id": "u"}, "outcome": "maybe"}),
            json!({"action": "a", "actor": {"type": "user", "id": "u"}, "metadata": [1]}),
            json!({"action": "a", "actor": {"type": "user", "id": "u"}, "metadata": {"big": "x".repeat(33 * 1024)}}),
            json!({"action": "a", "actor": {"type": "user", "id": "u"}, "tenant": "acme"}),
            json!({"action": "a", "actor": {"type": "user", "id": "u", "name": "nul\u{0}"}}),
            json!({"action": "a", "actor": {"type": "user", "id": "u"}, "metadata": {"k\u{0}": 1}}),
        ];
        for event in &broken {
            assert!(validated(event).is_err(), "{event} is not broken");
            assert_eq!(read(event), None, "{event}");
            assert_eq!(read(&json!({"events": [valid, event]})), None, "{event}");
        }
        for body in [
            json!({"events": []}),
            json!({"events": [valid], "extra": 1}),
            json!({"events": valid}),
            json!([valid]),
            json!("user.login"),
        ] {
            assert_eq!(read(&body), None, "{body}");
        }
        let too_many = json!({"events": vec![valid.clone(); 3]});
        let limits = EventLimits::default();
        assert_eq!(
            read_valid(too_many.to_string().as_bytes(), now(), &limits, 2),
            None
        );
        // A key given twice is read by validation (which takes the last).
        let twice = br#"{"action": "a", "action": "b", "actor": {"type": "system"}}"#;
        assert_eq!(read_valid(twice, now(), &limits, 1_000), None);
        assert_eq!(read_valid(b"{\"action\": ", now(), &limits, 1_000), None);
    }

    #[test]
    fn strings_without_escapes_are_borrowed_from_the_body() {
        let body = br#"{"action": "user.login", "actor": {"type": "user", "id": "u\u00e9"}}"#;
        let event: WireEvent = serde_json::from_slice(body).unwrap();
        assert!(matches!(
            event.action,
            Some(Str(Cow::Borrowed("user.login")))
        ));
        let actor = event.actor.unwrap();
        assert!(matches!(actor.id, Some(Str(Cow::Owned(ref id))) if id == "u\u{e9}"));
    }

    /// A field's value: absent, null, one of `values` (mostly), or one of `edges`.
    fn field((values, edges): (Vec<Value>, Vec<Value>)) -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            1 => Just(None),
            1 => Just(Some(Value::Null)),
            30 => proptest::sample::select(values).prop_map(Some),
            2 => proptest::sample::select(edges).prop_map(Some),
        ]
    }

    /// A field no event may have, now and then.
    fn rarely(value: Value) -> impl Strategy<Value = Option<Value>> {
        prop_oneof![30 => Just(None), 1 => Just(Some(value))]
    }

    /// An object field: absent, null, or one `value` makes.
    fn maybe(value: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            1 => Just(None),
            1 => Just(Some(Value::Null)),
            30 => value.prop_map(Some),
        ]
    }

    fn object(fields: Vec<(&'static str, Option<Value>)>) -> Value {
        Value::Object(
            fields
                .into_iter()
                .filter_map(|(key, value)| Some((key.to_owned(), value?)))
                .collect(),
        )
    }

    /// `texts` as JSON strings, with the edges of a string of at most `max` characters.
    fn texts(texts: &[&str], max: usize) -> (Vec<Value>, Vec<Value>) {
        (
            texts.iter().map(|text| json!(text)).collect(),
            vec![
                json!(""),
                json!("é".repeat(max)),
                json!("é".repeat(max + 1)),
                json!(1),
            ],
        )
    }

    fn actor() -> impl Strategy<Value = Value> {
        (
            field(texts(&["user", "service", "system"], 8)),
            field(texts(&["u_1", "svc-\"quoted\""], ACTOR_ID_MAX)),
            field(texts(&["Ada Lovelace", "Zoë\\n"], NAME_MAX)),
            field(texts(&["ada@example.com"], EMAIL_MAX)),
            rarely(json!("extra")),
        )
            .prop_map(|(actor_type, id, name, email, extra)| {
                object(vec![
                    ("type", actor_type),
                    ("id", id),
                    ("name", name),
                    ("email", email),
                    ("extra", extra),
                ])
            })
    }

    fn target() -> impl Strategy<Value = Value> {
        (
            field(texts(&["license", "user"], TARGET_TYPE_MAX)),
            field(texts(&["lic_1", "ü/2"], TARGET_ID_MAX)),
            field(texts(&["Pro plan"], NAME_MAX)),
            field(texts(&["ops@example.com"], EMAIL_MAX)),
        )
            .prop_map(|(target_type, id, name, email)| {
                object(vec![
                    ("type", target_type),
                    ("id", id),
                    ("name", name),
                    ("email", email),
                ])
            })
    }

    fn event() -> impl Strategy<Value = Value> {
        let occurred_at = field((
            vec![
                json!("2026-12-05T09:08:07.123456789Z"),
                json!("2026-12-06T11:00:00+01:00"),
                json!("2026-12-07T10:00:00.000001Z"),
            ],
            vec![
                json!("2026-12-07T10:00:00.000002Z"),
                json!("2026-12-05"),
                json!(17),
            ],
        ));
        let context = (
            field(texts(&["203.0.113.9", "::1", "2001:db8::1"], 8)),
            field(texts(&["curl/8"], USER_AGENT_MAX)),
        )
            .prop_map(|(ip, user_agent)| object(vec![("ip", ip), ("user_agent", user_agent)]));
        (
            (
                field(texts(&["user.login", "license.revoked"], ACTION_MAX)),
                occurred_at,
                maybe(actor()),
                maybe(prop::collection::vec(target(), 0..3).prop_map(|targets| json!(targets))),
                maybe(context),
            ),
            (
                field(texts(&["portal", "api"], CHANNEL_MAX)),
                field(texts(&["success", "failure"], 8)),
                field(texts(&["a line\twith \"quotes\""], DESCRIPTION_MAX)),
                field((
                    vec![json!({}), json!({"a": [1, {"b": "é"}]})],
                    vec![json!([1]), json!("x")],
                )),
                field(texts(&["key-1"], IDEMPOTENCY_KEY_MAX)),
                rarely(json!("unknown")),
            ),
        )
            .prop_map(
                |(
                    (action, occurred_at, actor, targets, context),
                    (channel, outcome, description, metadata, key, extra),
                )| {
                    object(vec![
                        ("action", action),
                        ("occurred_at", occurred_at),
                        ("actor", actor),
                        ("targets", targets),
                        ("context", context),
                        ("channel", channel),
                        ("outcome", outcome),
                        ("description", description),
                        ("metadata", metadata),
                        ("idempotency_key", key),
                        ("extra", extra),
                    ])
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// An event is read when, and only when, validation accepts it, and as validation reads it.
        #[test]
        fn an_event_is_read_exactly_when_validation_accepts_it(event in event()) {
            let expected = validated(&event).ok();
            prop_assert_eq!(read(&event), expected.clone().map(|event| WireBody::Single(Box::new(event))));
            prop_assert_eq!(
                read(&json!({"events": [event]})),
                expected.map(|event| WireBody::Batch(vec![event]))
            );
        }

        /// A batch is read when every event keeps every rule, each as validation reads it.
        #[test]
        fn a_batch_is_read_only_when_every_event_is_valid(events in prop::collection::vec(event(), 1..5)) {
            let expected: Option<Vec<NewEvent>> =
                events.iter().map(|event| validated(event).ok()).collect();
            prop_assert_eq!(read(&json!({"events": events})), expected.map(WireBody::Batch));
        }
    }
}
