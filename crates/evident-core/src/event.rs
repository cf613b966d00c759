//! Events: the ingest shape, its validation, and the stored event.
//!
//! Validation works on the raw JSON value rather than on a serde struct so
//! that every problem is reported with its field path and the rule it broke,
//! and so that all problems of a batch are reported at once. A body whose
//! events keep every rule is read straight into [`NewEvent`]s by [`wire`]
//! instead, and the same body read here only when it does not.

use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

pub mod wire;

/// Who did it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "type")]
    pub actor_type: ActorType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorType {
    User,
    Service,
    System,
}

impl ActorType {
    pub const ALL: [ActorType; 3] = [ActorType::User, ActorType::Service, ActorType::System];

    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::Service => "service",
            ActorType::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<ActorType> {
        ActorType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// A resource acted on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    #[serde(rename = "type")]
    pub target_type: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Where the request came from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "203.0.113.7"))]
    pub ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl Context {
    pub fn is_empty(&self) -> bool {
        self.ip.is_none() && self.user_agent.is_none()
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub const ALL: [Outcome; 2] = [Outcome::Success, Outcome::Failure];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
    }
}

/// A validated event, ready to be appended: everything but what the store assigns.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub action: String,
    /// From the catalog; `uncategorized` until [`crate::catalog::Catalog::apply`] says otherwise.
    pub category: String,
    /// UTC, truncated to microseconds.
    pub occurred_at: Timestamp,
    pub actor: Actor,
    pub targets: Vec<Target>,
    pub context: Context,
    pub channel: Option<String>,
    pub outcome: Outcome,
    pub description: Option<String>,
    pub metadata: Map<String, Value>,
    pub idempotency_key: Option<String>,
}

/// A stored event, as queries return it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    pub tenant: String,
    /// The tenant's display name; filled in when a query spans several tenants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_name: Option<String>,
    pub seq: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub recorded_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub occurred_at: Timestamp,
    pub action: String,
    pub category: String,
    pub actor: Actor,
    pub targets: Vec<Target>,
    #[serde(default, skip_serializing_if = "Context::is_empty")]
    pub context: Context,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Map<String, Value>,
    /// The catalog's display text for this event, rendered when it is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// Category of actions before a catalog says otherwise.
pub const UNCATEGORIZED: &str = "uncategorized";

/// Configurable limits on what one event may hold.
#[derive(Debug, Clone, PartialEq)]
pub struct EventLimits {
    /// How far in the future `occurred_at` may lie (clock skew allowance).
    pub max_future: SignedDuration,
    pub max_metadata_bytes: usize,
    pub max_targets: usize,
}

impl Default for EventLimits {
    fn default() -> Self {
        EventLimits {
            max_future: SignedDuration::from_hours(24),
            max_metadata_bytes: 32 * 1024,
            max_targets: 32,
        }
    }
}

/// The bytes `metadata` takes serialised (the limit's measure), counted
/// without writing them anywhere.
fn serialized_size(metadata: &Map<String, Value>) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, metadata) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// One broken rule: which event, which field, which rule, in words.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The event's index in the request (absent for a request-level problem).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Path of the field, e.g. `actor.type` or `targets[3].id`.
    pub field: String,
    /// Short machine-readable rule name, e.g. `required`, `max_length`.
    pub rule: String,
    pub detail: String,
}

const ACTION_MAX: usize = 128;
const NAME_MAX: usize = 256;
const EMAIL_MAX: usize = 320;
const ACTOR_ID_MAX: usize = 256;
const TARGET_TYPE_MAX: usize = 64;
const TARGET_ID_MAX: usize = 256;
const USER_AGENT_MAX: usize = 1024;
const CHANNEL_MAX: usize = 64;
const DESCRIPTION_MAX: usize = 2048;
const IDEMPOTENCY_KEY_MAX: usize = 256;

const EVENT_FIELDS: &[&str] = &[
    "action",
    "occurred_at",
    "actor",
    "targets",
    "context",
    "channel",
    "outcome",
    "description",
    "metadata",
    "idempotency_key",
];
const ACTOR_FIELDS: &[&str] = &["type", "id", "name", "email"];
const TARGET_FIELDS: &[&str] = &["type", "id", "name", "email"];
const CONTEXT_FIELDS: &[&str] = &["ip", "user_agent"];

/// Whether `action` is 1–128 characters of `[A-Za-z0-9_.:/-]`.
pub fn is_valid_action(action: &str) -> bool {
    !action.is_empty()
        && action.len() <= ACTION_MAX
        && action
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"_.:/-".contains(&byte))
}

/// Collects the violations of one event while it is being read.
struct Checker {
    index: Option<usize>,
    violations: Vec<Violation>,
}

impl Checker {
    fn fail(&mut self, field: impl Into<String>, rule: &str, detail: impl Into<String>) {
        self.violations.push(Violation {
            index: self.index,
            field: field.into(),
            rule: rule.to_owned(),
            detail: detail.into(),
        });
    }

    fn object<'v>(
        &mut self,
        value: &'v Value,
        field: &str,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(object) = value.as_object() else {
            self.fail(
                field,
                "type",
                format!("{} must be a JSON object", name_of(field)),
            );
            return None;
        };
        for key in object.keys() {
            if !allowed.contains(&key.as_str()) {
                let path = join(field, key);
                self.fail(
                    path,
                    "unknown_field",
                    format!(
                        "unknown field {key:?}; expected one of {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
        Some(object)
    }

    /// A string field that may be absent (or null); `max` counts characters.
    fn optional_string(
        &mut self,
        object: &Map<String, Value>,
        parent: &str,
        key: &str,
        max: usize,
    ) -> Option<String> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => {
                let length = text.chars().count();
                if length > max {
                    self.fail(
                        join(parent, key),
                        "max_length",
                        format!("at most {max} characters, got {length}"),
                    );
                    None
                } else {
                    Some(text.clone())
                }
            }
            Some(_) => {
                self.fail(join(parent, key), "type", format!("{key} must be a string"));
                None
            }
        }
    }

    /// A string field that must be one of `choices`; absent, it takes `default` or is required.
    fn one_of<T: Copy>(
        &mut self,
        object: &Map<String, Value>,
        parent: &str,
        key: &str,
        choices: &[(&str, T)],
        default: Option<T>,
    ) -> Option<T> {
        // Named only in a violation.
        let path = || join(parent, key);
        let names = || {
            let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
            names.join(", ")
        };
        match object.get(key) {
            None | Some(Value::Null) => {
                if default.is_none() {
                    let (path, names) = (path(), names());
                    self.fail(&path, "required", format!("{path} is required ({names})"));
                }
                default
            }
            Some(Value::String(text)) => {
                let found = choices
                    .iter()
                    .find(|(name, _)| name == text)
                    .map(|(_, value)| *value);
                if found.is_none() {
                    let names = names();
                    self.fail(path(), "one_of", format!("{text:?} is not one of {names}"));
                }
                found
            }
            Some(_) => {
                let (path, names) = (path(), names());
                self.fail(
                    &path,
                    "type",
                    format!("{path} must be one of the strings {names}"),
                );
                None
            }
        }
    }

    fn required_string(
        &mut self,
        object: &Map<String, Value>,
        parent: &str,
        key: &str,
        max: usize,
    ) -> Option<String> {
        let present = matches!(object.get(key), Some(value) if !value.is_null());
        if !present {
            self.fail(join(parent, key), "required", format!("{key} is required"));
            return None;
        }
        let text = self.optional_string(object, parent, key, max)?;
        if text.is_empty() {
            self.fail(
                join(parent, key),
                "min_length",
                format!("{key} must not be empty"),
            );
            return None;
        }
        Some(text)
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

fn name_of(field: &str) -> &str {
    if field.is_empty() { "an event" } else { field }
}

/// Whether a string or a key anywhere in `value` holds U+0000.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, item)| key.contains('\0') || holds_nul(item)),
        _ => false,
    }
}

/// The fields (`actor.id`, `targets[0].name`, `metadata.note`) whose string,
/// or whose key, holds U+0000.
fn nul_fields(value: &Value, path: &str, out: &mut Vec<String>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(text) if text.contains('\0') => out.push(path.to_owned()),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                nul_fields(item, &format!("{path}[{index}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let field = join(key);
                if key.contains('\0') {
                    out.push(field.clone());
                }
                nul_fields(item, &field, out);
            }
        }
        _ => {}
    }
}

/// Validates one event of a request and normalises it.
///
/// `index` is the event's position in a batch (None for a single-event
/// request); `now` is the receipt time, the default for `occurred_at` and the
/// reference for the future limit.
pub fn validate_event(
    value: &Value,
    index: Option<usize>,
    now: Timestamp,
    limits: &EventLimits,
) -> Result<NewEvent, Vec<Violation>> {
    let mut check = Checker {
        index,
        violations: Vec::new(),
    };
    let Some(object) = check.object(value, "", EVENT_FIELDS) else {
        return Err(check.violations);
    };
    // No store keeps U+0000 in text (PostgreSQL refuses it): refused everywhere, for every backend alike.
    // Names are built only for an event that holds one (nearly none does).
    let mut with_nul = Vec::new();
    if holds_nul(value) {
        nul_fields(value, "", &mut with_nul);
    }
    for field in with_nul {
        check.fail(field, "nul", "must not contain the NUL character (U+0000)");
    }

    let action = check.required_string(object, "", "action", ACTION_MAX);
    if let Some(action) = &action
        && !is_valid_action(action)
    {
        check.fail(
            "action",
            "pattern",
            "action may hold only letters, digits and _ . : / -".to_owned(),
        );
    }

    let occurred_at = match object.get("occurred_at") {
        None | Some(Value::Null) => Some(truncate_to_micros(now)),
        Some(Value::String(text)) => match text.parse::<Timestamp>() {
            Ok(instant) if instant > now + limits.max_future => {
                check.fail(
                    "occurred_at",
                    "max_future",
                    format!(
                        "{text} lies more than {} in the future",
                        describe_duration(limits.max_future)
                    ),
                );
                None
            }
            Ok(instant) => Some(truncate_to_micros(instant)),
            Err(_) => {
                check.fail(
                    "occurred_at",
                    "format",
                    format!("{text:?} is not an RFC 3339 date-time with an offset, e.g. 2026-05-02T10:11:12Z"),
                );
                None
            }
        },
        Some(_) => {
            check.fail(
                "occurred_at",
                "type",
                "occurred_at must be an RFC 3339 string",
            );
            None
        }
    };

    let actor = read_actor(&mut check, object.get("actor"));
    let targets = read_targets(&mut check, object.get("targets"), limits.max_targets);
    let context = read_context(&mut check, object.get("context"));
    let channel = check.optional_string(object, "", "channel", CHANNEL_MAX);
    let outcomes = Outcome::ALL.map(|outcome| (outcome.as_str(), outcome));
    let outcome = check.one_of(object, "", "outcome", &outcomes, Some(Outcome::Success));
    let description = check.optional_string(object, "", "description", DESCRIPTION_MAX);
    let metadata = match object.get("metadata") {
        None | Some(Value::Null) => Some(Map::new()),
        Some(Value::Object(map)) => {
            let size = serialized_size(map);
            if size > limits.max_metadata_bytes {
                check.fail(
                    "metadata",
                    "max_size",
                    format!(
                        "at most {} bytes serialised, got {size}",
                        limits.max_metadata_bytes
                    ),
                );
                None
            } else {
                Some(map.clone())
            }
        }
        Some(_) => {
            check.fail("metadata", "type", "metadata must be a JSON object");
            None
        }
    };
    let idempotency_key = check.optional_string(object, "", "idempotency_key", IDEMPOTENCY_KEY_MAX);

    if !check.violations.is_empty() {
        return Err(check.violations);
    }
    match (action, occurred_at, actor, targets, outcome, metadata) {
        (
            Some(action),
            Some(occurred_at),
            Some(actor),
            Some(targets),
            Some(outcome),
            Some(metadata),
        ) => Ok(NewEvent {
            action,
            category: UNCATEGORIZED.to_owned(),
            occurred_at,
            actor,
            targets,
            context: context.unwrap_or_default(),
            channel,
            outcome,
            description,
            metadata,
            idempotency_key,
        }),
        // Every None above was recorded as a violation, so this arm is unreachable in practice;
        // report it rather than panic.
        _ => Err(vec![Violation {
            index,
            field: String::new(),
            rule: "invalid".to_owned(),
            detail: "the event is invalid".to_owned(),
        }]),
    }
}

fn read_actor(check: &mut Checker, value: Option<&Value>) -> Option<Actor> {
    let Some(value) = value.filter(|value| !value.is_null()) else {
        check.fail("actor", "required", "actor is required");
        return None;
    };
    let object = check.object(value, "actor", ACTOR_FIELDS)?;
    let kinds = ActorType::ALL.map(|kind| (kind.as_str(), kind));
    let actor_type = check.one_of(object, "actor", "type", &kinds, None);
    let id = check.optional_string(object, "actor", "id", ACTOR_ID_MAX);
    let name = check.optional_string(object, "actor", "name", NAME_MAX);
    let email = check.optional_string(object, "actor", "email", EMAIL_MAX);
    let actor_type = actor_type?;
    if actor_type != ActorType::System && id.as_deref().is_none_or(str::is_empty) {
        check.fail(
            "actor.id",
            "required",
            format!("actor.id is required for a {} actor", actor_type.as_str()),
        );
        return None;
    }
    Some(Actor {
        actor_type,
        id: id.filter(|id| !id.is_empty()),
        name,
        email,
    })
}

fn read_targets(
    check: &mut Checker,
    value: Option<&Value>,
    max_targets: usize,
) -> Option<Vec<Target>> {
    let items = match value {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            check.fail("targets", "type", "targets must be an array");
            return None;
        }
    };
    if items.len() > max_targets {
        check.fail(
            "targets",
            "max_items",
            format!("at most {max_targets} targets, got {}", items.len()),
        );
        return None;
    }
    let mut targets = Vec::with_capacity(items.len());
    let mut complete = true;
    for (position, item) in items.iter().enumerate() {
        let path = format!("targets[{position}]");
        let Some(object) = check.object(item, &path, TARGET_FIELDS) else {
            complete = false;
            continue;
        };
        let target_type = check.required_string(object, &path, "type", TARGET_TYPE_MAX);
        let id = check.required_string(object, &path, "id", TARGET_ID_MAX);
        let name = check.optional_string(object, &path, "name", NAME_MAX);
        let email = check.optional_string(object, &path, "email", EMAIL_MAX);
        match (target_type, id) {
            (Some(target_type), Some(id)) => targets.push(Target {
                target_type,
                id,
                name,
                email,
            }),
            _ => complete = false,
        }
    }
    complete.then_some(targets)
}

fn read_context(check: &mut Checker, value: Option<&Value>) -> Option<Context> {
    let value = value.filter(|value| !value.is_null())?;
    let object = check.object(value, "context", CONTEXT_FIELDS)?;
    let ip = match object.get("ip") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match text.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                check.fail(
                    "context.ip",
                    "ip_address",
                    format!("{text:?} is not an IPv4 or IPv6 address"),
                );
                None
            }
        },
        Some(_) => {
            check.fail("context.ip", "type", "context.ip must be a string");
            None
        }
    };
    let user_agent = check.optional_string(object, "context", "user_agent", USER_AGENT_MAX);
    Some(Context { ip, user_agent })
}

/// Drops precision below a microsecond: the stored resolution.
pub fn truncate_to_micros(instant: Timestamp) -> Timestamp {
    Timestamp::from_microsecond(instant.as_microsecond()).unwrap_or(instant)
}

fn describe_duration(duration: SignedDuration) -> String {
    let seconds = duration.as_secs();
    if seconds % 86_400 == 0 {
        format!("{} day(s)", seconds / 86_400)
    } else if seconds % 3_600 == 0 {
        format!("{} hour(s)", seconds / 3_600)
    } else {
        format!("{seconds} second(s)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-05-02T10:00:00Z".parse().unwrap()
    }

    fn valid() -> Value {
        json!({
            "action": "license.revoked",
            "occurred_at": "2026-05-02T10:11:12.123456789Z",
            "actor": {"type": "user", "id": "usr_1", "name": "Ada Lovelace", "email": "ada@acme.example"},
            "targets": [{"type": "license", "id": "lic_1"}],
            "context": {"ip": "2001:db8::7", "user_agent": "curl/8"},
            "channel": "portal",
            "metadata": {"pool": "enterprise"}
        })
    }

    fn violations_of(mut event: Value, change: impl FnOnce(&mut Value)) -> Vec<(String, String)> {
        change(&mut event);
        match validate_event(&event, Some(3), now(), &EventLimits::default()) {
            Ok(_) => Vec::new(),
            Err(violations) => {
                assert!(
                    violations
                        .iter()
                        .all(|violation| violation.index == Some(3))
                );
                violations
                    .into_iter()
                    .map(|violation| (violation.field, violation.rule))
                    .collect()
            }
        }
    }

    #[test]
    fn the_nul_character_is_refused_in_every_string_and_key() {
        let found = violations_of(valid(), |event| {
            event["actor"]["id"] = json!("usr\u{0}1");
            event["targets"][0]["id"] = json!("lic\u{0}");
            event["metadata"] = json!({"note": ["ok", "a\u{0}b"], "k\u{0}": 1});
        });
        let nul: Vec<&str> = found
            .iter()
            .filter(|(_, rule)| rule == "nul")
            .map(|(field, _)| field.as_str())
            .collect();
        assert_eq!(
            nul,
            [
                "actor.id",
                "targets[0].id",
                "metadata.note[1]",
                "metadata.k\u{0}"
            ]
        );
    }

    #[test]
    fn a_valid_event_is_normalised() {
        let event = validate_event(&valid(), None, now(), &EventLimits::default()).unwrap();
        assert_eq!(event.occurred_at.to_string(), "2026-05-02T10:11:12.123456Z");
        assert_eq!(event.outcome, Outcome::Success);
        assert_eq!(event.context.ip, Some("2001:db8::7".parse().unwrap()));
    }

    #[test]
    fn occurred_at_defaults_to_receipt_time() {
        let event = validate_event(
            &json!({"action": "a", "actor": {"type": "system"}}),
            None,
            now(),
            &EventLimits::default(),
        )
        .unwrap();
        assert_eq!(event.occurred_at, now());
        assert_eq!(event.actor.id, None);
    }

    #[test]
    fn each_rule_names_its_field() {
        type Change = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(&str, Change, &str, &str)> = vec![
            (
                "missing action",
                Box::new(|event| {
                    event.as_object_mut().unwrap().remove("action");
                }),
                "action",
                "required",
            ),
            (
                "bad action",
                Box::new(|event| event["action"] = json!("user login")),
                "action",
                "pattern",
            ),
            (
                "long action",
                Box::new(|event| event["action"] = json!("a".repeat(129))),
                "action",
                "max_length",
            ),
            (
                "bad time",
                Box::new(|event| event["occurred_at"] = json!("yesterday")),
                "occurred_at",
                "format",
            ),
            (
                "future time",
                Box::new(|event| event["occurred_at"] = json!("2026-05-04T10:00:00Z")),
                "occurred_at",
                "max_future",
            ),
            (
                "missing actor",
                Box::new(|event| {
                    event.as_object_mut().unwrap().remove("actor");
                }),
                "actor",
                "required",
            ),
            (
                "unknown actor type",
                Box::new(|event| event["actor"]["type"] = json!("robot")),
                "actor.type",
                "one_of",
            ),
            (
                "user without id",
                Box::new(|event| {
                    event["actor"].as_object_mut().unwrap().remove("id");
                }),
                "actor.id",
                "required",
            ),
            (
                "long email",
                Box::new(|event| event["actor"]["email"] = json!("a".repeat(321))),
                "actor.email",
                "max_length",
            ),
            (
                "too many targets",
                Box::new(|event| {
                    event["targets"] = json!(vec![json!({"type": "t", "id": "i"}); 33])
                }),
                "targets",
                "max_items",
            ),
            (
                "target without id",
                Box::new(|event| event["targets"] = json!([{"type": "t"}])),
                "targets[0].id",
                "required",
            ),
            (
                "bad ip",
                Box::new(|event| event["context"]["ip"] = json!("300.1.1.1")),
                "context.ip",
                "ip_address",
            ),
            (
                "bad outcome",
                Box::new(|event| event["outcome"] = json!("maybe")),
                "outcome",
                "one_of",
            ),
            (
                "metadata not an object",
                Box::new(|event| event["metadata"] = json!([1, 2])),
                "metadata",
                "type",
            ),
            (
                "metadata too large",
                Box::new(|event| event["metadata"] = json!({"blob": "x".repeat(33 * 1024)})),
                "metadata",
                "max_size",
            ),
            (
                "unknown field",
                Box::new(|event| event["ocurred_at"] = json!("2026-05-02T10:00:00Z")),
                "ocurred_at",
                "unknown_field",
            ),
            (
                "long description",
                Box::new(|event| event["description"] = json!("d".repeat(2049))),
                "description",
                "max_length",
            ),
        ];
        for (name, change, field, rule) in cases {
            let found = violations_of(valid(), change);
            assert_eq!(found, vec![(field.to_owned(), rule.to_owned())], "{name}");
        }
    }

    #[test]
    fn all_problems_are_reported_together() {
        let found = violations_of(valid(), |event| {
            event["action"] = json!("");
            event["context"]["ip"] = json!("nope");
        });
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn an_event_must_be_an_object() {
        let found = violations_of(json!("text"), |_| {});
        assert_eq!(found, vec![(String::new(), "type".to_owned())]);
    }

    #[test]
    fn seed_actions_are_valid() {
        for action in [
            "user.login",
            "license_revoked",
            "USER_LOGIN",
            "KeysetConfigChanged",
            "a/b:c-d",
        ] {
            assert!(is_valid_action(action), "{action}");
        }
        assert!(!is_valid_action("a b"));
        assert!(!is_valid_action(""));
    }
}
