//! The event catalog: what a product's events are (docs/catalog.md).
//!
//! A catalog file (TOML, or the same shape as JSON) lists event types: each
//! action's category, description, display template, expected target types,
//! allowed channels, a JSON Schema (draft 2020-12) for its metadata and JSON
//! pointers to redact. [`Catalog::apply`] checks an event against it and
//! categorises it; [`Catalog::render`] writes an event's display text.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{NewEvent, UNCATEGORIZED, Violation, is_valid_action};
use crate::view::{EventView, TargetView};

/// What happens to an action the catalog does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refused with 422, naming the closest known action.
    Strict,
    /// Accepted, categorised `uncategorized`.
    Open,
}

/// A catalog as written in a file or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `strict` (the default for a catalog file) or `open`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Channel names with their labels, e.g. `portal = "Portal UI"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, String>,
    /// Category names with a description each.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub categories: BTreeMap<String, CategorySpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventTypeSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategorySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTypeSpec {
    pub action: String,
    pub category: String,
    pub description: String,
    /// e.g. `{actor} revoked a license from {target}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Target types an event of this type may name (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Channels this event may come through (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// JSON Schema (draft 2020-12) for `metadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// JSON pointers into `metadata` whose values are redacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redact: Vec<String>,
}

/// A catalog that does not load: every problem found, each with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the catalog is invalid:\n  {}", problems.join("\n  "))]
pub struct CatalogError {
    pub problems: Vec<String>,
}

impl CatalogError {
    fn one(problem: impl Into<String>) -> CatalogError {
        CatalogError {
            problems: vec![problem.into()],
        }
    }
}

/// A compiled event type.
#[derive(Debug, Clone)]
pub struct EventType {
    pub spec: EventTypeSpec,
    display: Option<Template>,
    schema: Option<Arc<jsonschema::Validator>>,
}

/// A loaded, checked catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub name: Option<String>,
    pub mode: Mode,
    pub channels: BTreeMap<String, String>,
    pub categories: BTreeMap<String, CategorySpec>,
    events: BTreeMap<String, EventType>,
}

impl Default for Catalog {
    /// No catalog: every action accepted, uncategorized.
    fn default() -> Self {
        Catalog {
            name: None,
            mode: Mode::Open,
            channels: BTreeMap::new(),
            categories: BTreeMap::new(),
            events: BTreeMap::new(),
        }
    }
}

impl Catalog {
    /// Parses and checks a TOML catalog.
    pub fn from_toml(text: &str) -> Result<Catalog, CatalogError> {
        let file: CatalogFile =
            toml::from_str(text).map_err(|error| CatalogError::one(error.to_string()))?;
        Catalog::compile(file)
    }

    /// Checks a catalog, reporting every problem at once.
    pub fn compile(file: CatalogFile) -> Result<Catalog, CatalogError> {
        let mut problems = Vec::new();
        let mut events = BTreeMap::new();
        for (index, spec) in file.events.into_iter().enumerate() {
            let at = format!("events[{index}] ({})", spec.action);
            if !is_valid_action(&spec.action) {
                problems.push(format!(
                    "{at}: action must be 1–128 characters of A-Z a-z 0-9 _ . : / -"
                ));
            }
            if spec.category.trim().is_empty() {
                problems.push(format!("{at}: category must not be empty"));
            }
            let display = match spec.display.as_deref().map(Template::parse) {
                Some(Ok(template)) => Some(template),
                Some(Err(problem)) => {
                    problems.push(format!("{at}: display: {problem}"));
                    None
                }
                None => None,
            };
            let schema = match &spec.metadata {
                Some(schema) => match jsonschema::draft202012::new(schema) {
                    Ok(validator) => Some(Arc::new(validator)),
                    Err(error) => {
                        problems.push(format!("{at}: metadata schema: {error}"));
                        None
                    }
                },
                None => None,
            };
            for pointer in &spec.redact {
                if !pointer.starts_with('/') {
                    problems.push(format!(
                        "{at}: redact: {pointer:?} is not a JSON pointer (it starts with /)"
                    ));
                }
            }
            for channel in &spec.channels {
                if !file.channels.is_empty() && !file.channels.contains_key(channel) {
                    problems.push(format!("{at}: channel {channel:?} is not in [channels]"));
                }
            }
            if events.contains_key(&spec.action) {
                problems.push(format!("{at}: action listed twice"));
            }
            events.insert(
                spec.action.clone(),
                EventType {
                    spec,
                    display,
                    schema,
                },
            );
        }
        if !problems.is_empty() {
            return Err(CatalogError { problems });
        }
        Ok(Catalog {
            name: file.name,
            mode: file.mode.unwrap_or(Mode::Strict),
            channels: file.channels,
            categories: file.categories,
            events,
        })
    }

    /// This catalog with `addition`'s event types (a tenant's); `addition` may
    /// set the mode but not redefine an action.
    pub fn extend(&self, addition: &CatalogFile) -> Result<Catalog, CatalogError> {
        let added = Catalog::compile(addition.clone())?;
        let mut merged = self.clone();
        let mut problems = Vec::new();
        for (action, event_type) in added.events {
            match merged.events.entry(action) {
                std::collections::btree_map::Entry::Occupied(existing) => problems.push(format!(
                    "{}: already defined by the catalog this one extends",
                    existing.key()
                )),
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(event_type);
                }
            }
        }
        if !problems.is_empty() {
            return Err(CatalogError { problems });
        }
        if let Some(mode) = addition.mode {
            merged.mode = mode;
        }
        if merged.name.is_none() {
            merged.name = added.name;
        }
        merged.channels.extend(added.channels);
        merged.categories.extend(added.categories);
        Ok(merged)
    }

    pub fn event_type(&self, action: &str) -> Option<&EventType> {
        self.events.get(action)
    }

    pub fn event_types(&self) -> impl Iterator<Item = &EventType> {
        self.events.values()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The known action closest to `action` (by edit distance, ignoring case).
    pub fn closest_action(&self, action: &str) -> Option<&str> {
        let wanted = action.to_lowercase();
        self.events
            .keys()
            .map(|known| {
                (
                    strsim::damerau_levenshtein(&wanted, &known.to_lowercase()),
                    known,
                )
            })
            .min()
            .map(|(_, known)| known.as_str())
    }

    /// Checks `event` against its event type and sets its category; in
    /// strict mode an unknown action is refused. Metadata is checked before
    /// redaction; the caller redacts afterwards with [`Catalog::redact_pointers`].
    pub fn apply(&self, event: &mut NewEvent, index: Option<usize>) -> Result<(), Vec<Violation>> {
        let violation = |field: String, rule: &str, detail: String| Violation {
            index,
            field,
            rule: rule.to_owned(),
            detail,
        };
        let Some(event_type) = self.events.get(&event.action) else {
            event.category = UNCATEGORIZED.to_owned();
            if self.mode == Mode::Open {
                return Ok(());
            }
            let hint = self
                .closest_action(&event.action)
                .map(|known| format!("; did you mean {known:?}?"))
                .unwrap_or_default();
            return Err(vec![violation(
                "action".to_owned(),
                "unknown_action",
                format!("{:?} is not in the catalog{hint}", event.action),
            )]);
        };
        let spec = &event_type.spec;
        event.category = spec.category.clone();
        let mut violations = Vec::new();
        if !spec.targets.is_empty() {
            for (position, target) in event.targets.iter().enumerate() {
                if !spec.targets.contains(&target.target_type) {
                    violations.push(violation(
                        format!("targets[{position}].type"),
                        "target_type",
                        format!(
                            "{} names targets of type {}, not {:?}",
                            spec.action,
                            spec.targets.join(", "),
                            target.target_type
                        ),
                    ));
                }
            }
        }
        if let Some(channel) = &event.channel
            && !spec.channels.is_empty()
            && !spec.channels.contains(channel)
        {
            violations.push(violation(
                "channel".to_owned(),
                "channel",
                format!(
                    "{} comes through {}, not {channel:?}",
                    spec.action,
                    spec.channels.join(", ")
                ),
            ));
        }
        if let Some(schema) = &event_type.schema {
            let metadata = Value::Object(event.metadata.clone());
            for error in schema.iter_errors(&metadata) {
                violations.push(violation(
                    format!("metadata{}", error.instance_path()),
                    error.kind().keyword(),
                    format!("{error} (schema rule at {})", error.schema_path()),
                ));
            }
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }

    /// The catalog's redaction pointers for an action.
    pub fn redact_pointers(&self, action: &str) -> &[String] {
        self.events
            .get(action)
            .map(|event_type| event_type.spec.redact.as_slice())
            .unwrap_or(&[])
    }

    /// The event's display text from its event type's template, if it has one.
    pub fn render(&self, event: &EventView<'_>) -> Option<String> {
        self.events
            .get(event.action)?
            .display
            .as_ref()
            .map(|template| template.render(event))
    }
}

/// A display template: text with `{placeholder}`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Vec<String>),
}

/// The placeholders a template may use; `metadata.` may be followed by any path.
pub const PLACEHOLDERS: [&str; 14] = [
    "actor",
    "actor.name",
    "actor.email",
    "actor.id",
    "actor.type",
    "target",
    "target.name",
    "target.email",
    "target.id",
    "target.type",
    "targets",
    "action",
    "channel",
    "outcome",
];

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("unclosed {{ at {:?}", &rest[open..]))?;
            let name = &rest[open + 1..open + close];
            let known = PLACEHOLDERS.contains(&name)
                || name
                    .strip_prefix("metadata.")
                    .is_some_and(|path| !path.is_empty());
            if !known {
                return Err(format!(
                    "unknown placeholder {{{name}}}; use one of {}, or metadata.<field>",
                    PLACEHOLDERS.join(", ")
                ));
            }
            parts.push(Part::Field(name.split('.').map(str::to_owned).collect()));
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            return Err("a } without its {".to_owned());
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    pub fn render(&self, event: &EventView<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(path) => write_field(event, path, &mut out),
            }
        }
        out
    }
}

fn target_label<'a>(target: &'a TargetView<'_>) -> &'a str {
    target
        .name
        .as_deref()
        .or(target.email.as_deref())
        .unwrap_or(&target.id)
}

fn write_field(event: &EventView<'_>, path: &[String], out: &mut String) {
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    let first = event.targets.first();
    let actor = &event.actor;
    fn text<'a>(part: &'a Option<std::borrow::Cow<'_, str>>) -> &'a str {
        part.as_deref().unwrap_or("")
    }
    match names.as_slice() {
        ["actor"] => out.push_str(
            actor
                .name
                .as_deref()
                .or(actor.email.as_deref())
                .or(actor.id.as_deref())
                .unwrap_or("The system"),
        ),
        ["actor", "name"] => out.push_str(text(&actor.name)),
        ["actor", "email"] => out.push_str(text(&actor.email)),
        ["actor", "id"] => out.push_str(text(&actor.id)),
        ["actor", "type"] => out.push_str(actor.actor_type.as_str()),
        ["target"] => out.push_str(first.map(target_label).unwrap_or("")),
        ["target", "name"] => out.push_str(first.map_or("", |target| text(&target.name))),
        ["target", "email"] => out.push_str(first.map_or("", |target| text(&target.email))),
        ["target", "id"] => out.push_str(first.map_or("", |target| &target.id)),
        ["target", "type"] => out.push_str(first.map_or("", |target| &target.target_type)),
        ["targets"] => {
            for (number, target) in event.targets.iter().enumerate() {
                if number > 0 {
                    out.push_str(", ");
                }
                out.push_str(target_label(target));
            }
        }
        ["action"] => out.push_str(event.action),
        ["channel"] => out.push_str(event.channel.unwrap_or("")),
        ["outcome"] => out.push_str(event.outcome.as_str()),
        ["metadata", rest @ ..] => match event.metadata.lookup(rest) {
            Value::String(text) => out.push_str(&text),
            Value::Null => {}
            other => out.push_str(&other.to_string()),
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::validate_event;
    use crate::{Event, EventLimits};
    use serde_json::json;

    const CATALOG: &str = r#"
name = "Reseller console"
mode = "strict"

[channels]
portal = "Portal UI"
api = "Admin API"

[categories.license]
description = "License pool changes"

[[events]]
action = "license.revoked"
category = "license"
description = "A slot was reclaimed from a client and returned to the pool."
display = "{actor} revoked a license from {target} ({metadata.pool})"
targets = ["client", "license"]
channels = ["portal", "api"]
redact = ["/reclaim_token"]
metadata = { type = "object", required = ["pool"], properties = { pool = { enum = ["enterprise", "standard"] } } }

[[events]]
action = "license.allocated"
category = "license"
description = "A slot in a pool was assigned to a client."
"#;

    fn event(value: Value) -> NewEvent {
        validate_event(
            &value,
            Some(0),
            "2026-05-02T10:00:00Z".parse().unwrap(),
            &EventLimits::default(),
        )
        .unwrap()
    }

    fn revoked() -> Value {
        json!({
            "action": "license.revoked",
            "actor": {"type": "user", "id": "u1", "name": "Ada Lovelace"},
            "targets": [{"type": "client", "id": "c1", "email": "it@globex.example"}],
            "channel": "portal",
            "metadata": {"pool": "enterprise", "reclaim_token": "abc"}
        })
    }

    #[test]
    fn a_known_event_is_categorised() {
        let catalog = Catalog::from_toml(CATALOG).unwrap();
        let mut new = event(revoked());
        catalog.apply(&mut new, Some(0)).unwrap();
        assert_eq!(new.category, "license");
        assert_eq!(
            catalog.redact_pointers("license.revoked"),
            ["/reclaim_token".to_owned()]
        );
    }

    #[test]
    fn strict_mode_suggests_the_closest_action() {
        let catalog = Catalog::from_toml(CATALOG).unwrap();
        let mut misspelt = event(json!({"action": "license.revokd", "actor": {"type": "system"}}));
        let violations = catalog.apply(&mut misspelt, Some(0)).unwrap_err();
        assert_eq!(violations[0].rule, "unknown_action");
        assert!(
            violations[0]
                .detail
                .contains("did you mean \"license.revoked\""),
            "{}",
            violations[0].detail
        );
        let open = Catalog::default();
        let mut unknown = event(json!({"action": "anything.at_all", "actor": {"type": "system"}}));
        open.apply(&mut unknown, None).unwrap();
        assert_eq!(unknown.category, UNCATEGORIZED);
    }

    #[test]
    fn schema_targets_and_channels_are_checked() {
        let catalog = Catalog::from_toml(CATALOG).unwrap();
        let mut bad = revoked();
        bad["metadata"]["pool"] = json!("gold");
        bad["targets"][0]["type"] = json!("user");
        bad["channel"] = json!("mcp");
        let mut new = event(bad);
        let violations = catalog.apply(&mut new, Some(0)).unwrap_err();
        let found: Vec<(&str, &str)> = violations
            .iter()
            .map(|violation| (violation.field.as_str(), violation.rule.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("targets[0].type", "target_type"),
                ("channel", "channel"),
                ("metadata/pool", "enum")
            ]
        );
        let mut missing = revoked();
        missing["metadata"] = json!({});
        let violations = catalog.apply(&mut event(missing), Some(0)).unwrap_err();
        assert_eq!(
            (violations[0].field.as_str(), violations[0].rule.as_str()),
            ("metadata", "required")
        );
    }

    #[test]
    fn broken_catalogs_list_every_problem() {
        let broken = r#"
[[events]]
action = "bad action"
category = ""
description = "x"
display = "{actor} did {nothing}"
redact = ["no_slash"]
metadata = { type = "not-a-type" }
"#;
        let error = Catalog::from_toml(broken).unwrap_err();
        assert_eq!(error.problems.len(), 5, "{error}");
        assert!(Catalog::from_toml("mode = \"sometimes\"").is_err());
        assert!(Catalog::from_toml("[[events]]\naction = \"a\"\ncategory = \"c\"\ndescription = \"d\"\n[[events]]\naction = \"a\"\ncategory = \"c\"\ndescription = \"d\"").is_err());
    }

    #[test]
    fn display_templates_render_fields() {
        let catalog = Catalog::from_toml(CATALOG).unwrap();
        let new = event(revoked());
        let stored = Event {
            id: uuid::Uuid::nil(),
            tenant: "t".into(),
            tenant_name: None,
            seq: 0,
            recorded_at: new.occurred_at,
            occurred_at: new.occurred_at,
            action: new.action.clone(),
            category: "license".into(),
            actor: new.actor.clone(),
            targets: new.targets.clone(),
            context: new.context.clone(),
            channel: new.channel.clone(),
            outcome: new.outcome,
            description: None,
            metadata: new.metadata.clone(),
            display: None,
        };
        assert_eq!(
            catalog.render(&stored.view()).unwrap(),
            "Ada Lovelace revoked a license from it@globex.example (enterprise)"
        );
        assert!(Template::parse("{actor").is_err());
        assert!(Template::parse("a } b").is_err());
    }

    #[test]
    fn tenant_additions_extend_but_do_not_redefine() {
        let base = Catalog::from_toml(CATALOG).unwrap();
        let addition: CatalogFile = toml::from_str("mode = \"open\"\n[[events]]\naction = \"client.created\"\ncategory = \"client\"\ndescription = \"A new client was onboarded.\"").unwrap();
        let merged = base.extend(&addition).unwrap();
        assert!(
            merged.event_type("client.created").is_some()
                && merged.event_type("license.revoked").is_some()
        );
        assert_eq!(merged.mode, Mode::Open);
        let clash: CatalogFile = toml::from_str(
            "[[events]]\naction = \"license.revoked\"\ncategory = \"x\"\ndescription = \"x\"",
        )
        .unwrap();
        assert!(base.extend(&clash).is_err());
    }
}
