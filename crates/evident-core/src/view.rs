//! An event borrowed rather than owned: what exports, the CSV layout and the
//! catalog's display templates read. A store hands an export its events as
//! stored (columns and a JSON document), and a view of each borrows its text
//! from there, so that writing millions of rows allocates per page rather
//! than per field. [`Event::view`] gives the same view of an owned event.
//!
//! A view serialises exactly as the [`Event`] it shows does.

use std::borrow::Cow;
use std::net::IpAddr;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::event::{Actor, ActorType, Context, Event, Outcome, Target};

/// [`Event`], borrowed.
#[derive(Debug, Clone, Serialize)]
pub struct EventView<'a> {
    pub id: Uuid,
    pub tenant: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_name: Option<&'a str>,
    pub seq: u64,
    pub recorded_at: Timestamp,
    pub occurred_at: Timestamp,
    pub action: &'a str,
    pub category: &'a str,
    pub actor: ActorView<'a>,
    pub targets: Vec<TargetView<'a>>,
    #[serde(skip_serializing_if = "ContextView::is_empty")]
    pub context: ContextView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'a str>,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Cow<'a, str>>,
    pub metadata: Metadata<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<Cow<'a, str>>,
}

/// [`Actor`], borrowed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActorView<'a> {
    #[serde(rename = "type")]
    pub actor_type: ActorType,
    #[serde(
        default,
        borrow,
        deserialize_with = "optional_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<Cow<'a, str>>,
    #[serde(
        default,
        borrow,
        deserialize_with = "optional_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<Cow<'a, str>>,
    #[serde(
        default,
        borrow,
        deserialize_with = "optional_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<Cow<'a, str>>,
}

/// [`Target`], borrowed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetView<'a> {
    #[serde(rename = "type", borrow, deserialize_with = "text")]
    pub target_type: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub id: Cow<'a, str>,
    #[serde(
        default,
        borrow,
        deserialize_with = "optional_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<Cow<'a, str>>,
    #[serde(
        default,
        borrow,
        deserialize_with = "optional_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<Cow<'a, str>>,
}

/// [`Context`], borrowed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ContextView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<Cow<'a, str>>,
}

impl ContextView<'_> {
    pub fn is_empty(&self) -> bool {
        self.ip.is_none() && self.user_agent.is_none()
    }
}

/// An event's metadata: as stored (JSON text, parsed only when a field of it
/// is asked for), or an owned event's map.
#[derive(Debug, Clone, Copy)]
pub enum Metadata<'a> {
    Stored(Option<&'a RawValue>),
    Map(&'a Map<String, Value>),
}

impl Metadata<'_> {
    pub fn is_empty(&self) -> bool {
        match self {
            Metadata::Stored(raw) => raw.is_none_or(|raw| raw.get() == "{}"),
            Metadata::Map(map) => map.is_empty(),
        }
    }

    /// Compact JSON of the map, as `serde_json::to_string` writes it.
    pub fn write_json(&self, out: &mut String) {
        match self {
            Metadata::Stored(Some(raw)) => out.push_str(raw.get()),
            Metadata::Stored(None) => out.push_str("{}"),
            Metadata::Map(map) => {
                out.push_str(&serde_json::to_string(map).expect("a JSON map always serialises"))
            }
        }
    }

    /// The map's RFC 8785 form, as [`crate::canonical::write_object`] writes
    /// it: stored text is canonicalised as read, without building the map.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            Metadata::Map(map) => crate::canonical::write_object(out, map),
            Metadata::Stored(None) => out.extend_from_slice(b"{}"),
            Metadata::Stored(Some(raw)) => {
                if crate::canonical::write_raw_object(out, raw.get()).is_err() {
                    // A RawValue is JSON: only a mistake of ours gets here.
                    out.extend_from_slice(b"{}");
                }
            }
        }
    }

    /// The value at `path` (object keys), or null.
    pub fn lookup(&self, path: &[&str]) -> Value {
        fn walk(mut value: &Value, path: &[&str]) -> Value {
            for key in path {
                match value.get(*key) {
                    Some(inner) => value = inner,
                    None => return Value::Null,
                }
            }
            value.clone()
        }
        match self {
            Metadata::Map(map) => match path.split_first() {
                None => Value::Object(Map::clone(map)),
                Some((first, rest)) => map
                    .get(*first)
                    .map_or(Value::Null, |value| walk(value, rest)),
            },
            Metadata::Stored(raw) => {
                let value = raw
                    .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
                    .unwrap_or_else(|| Value::Object(Map::new()));
                walk(&value, path)
            }
        }
    }

    /// An owned copy of the map.
    pub fn to_map(&self) -> Map<String, Value> {
        match self.lookup(&[]) {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

impl Serialize for Metadata<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Metadata::Stored(Some(raw)) => raw.serialize(serializer),
            Metadata::Stored(None) => Map::new().serialize(serializer),
            Metadata::Map(map) => map.serialize(serializer),
        }
    }
}

/// A JSON string, borrowed from the input unless it holds escapes.
pub(crate) fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Cow<'de, str>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Cow<'de, str>;
        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a string")
        }
        fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(text))
        }
        fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(text.to_owned()))
        }
        fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(text))
        }
    }
    deserializer.deserialize_str(Visitor)
}

/// [`text`] or null.
pub fn optional_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow, deserialize_with = "text")] Cow<'a, str>);
    Ok(Option::<Text>::deserialize(deserializer)?.map(|Text(text)| text))
}

impl Event {
    /// This event as a view, borrowing every field.
    pub fn view(&self) -> EventView<'_> {
        EventView {
            id: self.id,
            tenant: &self.tenant,
            tenant_name: self.tenant_name.as_deref(),
            seq: self.seq,
            recorded_at: self.recorded_at,
            occurred_at: self.occurred_at,
            action: &self.action,
            category: &self.category,
            actor: self.actor.view(),
            targets: self.targets.iter().map(Target::view).collect(),
            context: self.context.view(),
            channel: self.channel.as_deref(),
            outcome: self.outcome,
            description: self.description.as_deref().map(Cow::Borrowed),
            metadata: Metadata::Map(&self.metadata),
            display: self.display.as_deref().map(Cow::Borrowed),
        }
    }
}

impl crate::event::NewEvent {
    /// This event as it is stored, with what the store assigns it: the view
    /// its leaf is hashed from as it is appended.
    pub fn view_as<'a>(
        &'a self,
        id: Uuid,
        tenant: &'a str,
        seq: u64,
        recorded_at: Timestamp,
    ) -> EventView<'a> {
        EventView {
            id,
            tenant,
            tenant_name: None,
            seq,
            recorded_at,
            occurred_at: self.occurred_at,
            action: &self.action,
            category: &self.category,
            actor: self.actor.view(),
            targets: self.targets.iter().map(Target::view).collect(),
            context: self.context.view(),
            channel: self.channel.as_deref(),
            outcome: self.outcome,
            description: self.description.as_deref().map(Cow::Borrowed),
            metadata: Metadata::Map(&self.metadata),
            display: None,
        }
    }
}

impl Actor {
    pub fn view(&self) -> ActorView<'_> {
        ActorView {
            actor_type: self.actor_type,
            id: self.id.as_deref().map(Cow::Borrowed),
            name: self.name.as_deref().map(Cow::Borrowed),
            email: self.email.as_deref().map(Cow::Borrowed),
        }
    }
}

impl Target {
    pub fn view(&self) -> TargetView<'_> {
        TargetView {
            target_type: Cow::Borrowed(&self.target_type),
            id: Cow::Borrowed(&self.id),
            name: self.name.as_deref().map(Cow::Borrowed),
            email: self.email.as_deref().map(Cow::Borrowed),
        }
    }
}

impl Context {
    pub fn view(&self) -> ContextView<'_> {
        ContextView {
            ip: self.ip,
            user_agent: self.user_agent.as_deref().map(Cow::Borrowed),
        }
    }
}

impl EventView<'_> {
    /// The owned event this view shows.
    pub fn to_event(&self) -> Event {
        let owned = |text: &Option<Cow<'_, str>>| text.as_deref().map(str::to_owned);
        Event {
            id: self.id,
            tenant: self.tenant.to_owned(),
            tenant_name: self.tenant_name.map(str::to_owned),
            seq: self.seq,
            recorded_at: self.recorded_at,
            occurred_at: self.occurred_at,
            action: self.action.to_owned(),
            category: self.category.to_owned(),
            actor: Actor {
                actor_type: self.actor.actor_type,
                id: owned(&self.actor.id),
                name: owned(&self.actor.name),
                email: owned(&self.actor.email),
            },
            targets: self
                .targets
                .iter()
                .map(|target| Target {
                    target_type: target.target_type.clone().into_owned(),
                    id: target.id.clone().into_owned(),
                    name: owned(&target.name),
                    email: owned(&target.email),
                })
                .collect(),
            context: Context {
                ip: self.context.ip,
                user_agent: owned(&self.context.user_agent),
            },
            channel: self.channel.map(str::to_owned),
            outcome: self.outcome,
            description: owned(&self.description),
            metadata: self.metadata.to_map(),
            display: owned(&self.display),
        }
    }
}
