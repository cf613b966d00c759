//! Turns a `Filter` into a SQL condition over the `events` table whose every
//! structured clause an index can serve.

use std::collections::HashMap;

use evident_core::search::has_words;
use evident_core::{ActorMatch, BoundSide, Condition, Filter, TextTerm};
use ipnet::IpNet;
use jiff::Timestamp;
use rusqlite::types::Value as SqlValue;

use super::ip_bytes;
use crate::Result;

/// A SQL condition with its positional parameters.
#[derive(Default)]
pub(super) struct Conditions {
    parts: Vec<String>,
    params: Vec<SqlValue>,
}

impl Conditions {
    pub(super) fn push_sql(&mut self, sql: &str) {
        self.parts.push(sql.to_owned());
    }

    pub(super) fn push_param(&mut self, value: impl Into<SqlValue>) {
        self.params.push(value.into());
    }

    pub(super) fn sql(&self) -> String {
        if self.parts.is_empty() {
            "1".to_owned()
        } else {
            self.parts.join(" AND ")
        }
    }

    pub(super) fn params(&self) -> &[SqlValue] {
        &self.params
    }
}

fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

/// Escapes GLOB's own special characters, keeping `*` as the wildcard.
fn glob_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for character in pattern.chars() {
        match character {
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            _ => out.push(character),
        }
    }
    out
}

/// An FTS5 query for one free-text term: a word matches as a (word-prefix)
/// phrase of its tokens, so `ada@example.com` finds the email; a phrase matches whole words in order.
fn fts_expression(term: &TextTerm) -> String {
    let quoted = format!("\"{}\"", term.text().replace('"', "\"\""));
    match term {
        TextTerm::Word(_) => format!("{quoted} *"),
        TextTerm::Phrase(_) => quoted,
    }
}

/// The condition for `tenants` (non-empty, tenant numbers) and `filter`.
pub(super) fn build(
    tenants: &[i64],
    tenant_ids: &HashMap<i64, (String, String)>,
    filter: &Filter,
    now: Timestamp,
) -> Result<Conditions> {
    let mut conditions = Conditions::default();
    conditions.push_sql(&format!("tenant_no IN ({})", placeholders(tenants.len())));
    for tenant in tenants {
        conditions.push_param(*tenant);
    }
    let mut positive_text = Vec::new();
    for clause in &filter.clauses {
        let mut params: Vec<SqlValue> = Vec::new();
        let sql = match &clause.condition {
            Condition::Action(patterns) => {
                let mut alternatives = Vec::new();
                let exact: Vec<&String> = patterns
                    .iter()
                    .filter(|pattern| !pattern.contains('*'))
                    .collect();
                if !exact.is_empty() {
                    alternatives.push(format!("action IN ({})", placeholders(exact.len())));
                    params.extend(
                        exact
                            .into_iter()
                            .map(|action| SqlValue::Text(action.clone())),
                    );
                }
                for pattern in patterns.iter().filter(|pattern| pattern.contains('*')) {
                    alternatives.push("action GLOB ?".to_owned());
                    params.push(SqlValue::Text(glob_pattern(pattern)));
                }
                any_of(alternatives)
            }
            Condition::Category(categories) => in_list("category", categories, &mut params),
            Condition::Channel(channels) => in_list("channel", channels, &mut params),
            Condition::Outcome(outcomes) => {
                let names: Vec<String> = outcomes
                    .iter()
                    .map(|outcome| outcome.as_str().to_owned())
                    .collect();
                in_list("outcome", &names, &mut params)
            }
            Condition::Actor(matches) => {
                let alternatives = matches
                    .iter()
                    .map(|actor| match actor {
                        ActorMatch::Exact(value) => {
                            params.push(SqlValue::Text(value.clone()));
                            params.push(SqlValue::Text(value.to_lowercase()));
                            "(actor_id = ? OR actor_email = ?)".to_owned()
                        }
                        ActorMatch::EmailPrefix(prefix) => {
                            let prefix = prefix.to_lowercase();
                            params.push(SqlValue::Text(prefix.clone()));
                            params.push(SqlValue::Text(format!("{prefix}{}", char::MAX)));
                            "(actor_email >= ? AND actor_email < ?)".to_owned()
                        }
                    })
                    .collect();
                any_of(alternatives)
            }
            Condition::Target(targets) => {
                let alternatives = targets
                    .iter()
                    .map(|target| {
                        params.push(SqlValue::Text(target.id.clone()));
                        match &target.target_type {
                            Some(target_type) => {
                                params.push(SqlValue::Text(target_type.clone()));
                                "(target_id = ? AND target_type = ?)".to_owned()
                            }
                            None => "target_id = ?".to_owned(),
                        }
                    })
                    .collect();
                let scope = format!("tenant_no IN ({})", placeholders(tenants.len()));
                let mut scoped: Vec<SqlValue> = tenants
                    .iter()
                    .map(|tenant| SqlValue::Integer(*tenant))
                    .collect();
                scoped.append(&mut params);
                params = scoped;
                format!(
                    "rowid IN (SELECT event_rowid FROM event_targets WHERE {scope} AND {})",
                    any_of(alternatives)
                )
            }
            Condition::Ip(networks) => {
                let alternatives = networks
                    .iter()
                    .map(|network| {
                        let (low, high) = ip_range(network);
                        params.push(SqlValue::Blob(low.to_vec()));
                        params.push(SqlValue::Blob(high.to_vec()));
                        "ip BETWEEN ? AND ?".to_owned()
                    })
                    .collect();
                any_of(alternatives)
            }
            Condition::Tenant(ids) => {
                let numbers: Vec<i64> = tenant_ids
                    .iter()
                    .filter(|(_, (id, _))| ids.contains(id))
                    .map(|(number, _)| *number)
                    .collect();
                if numbers.is_empty() {
                    "0".to_owned()
                } else {
                    params.extend(numbers.iter().map(|number| SqlValue::Integer(*number)));
                    format!("tenant_no IN ({})", placeholders(numbers.len()))
                }
            }
            Condition::From(bound) => {
                params.push(SqlValue::Integer(
                    bound.resolve_micros(BoundSide::From, now),
                ));
                "occurred_at >= ?".to_owned()
            }
            Condition::To(bound) => {
                params.push(SqlValue::Integer(bound.resolve_micros(BoundSide::To, now)));
                "occurred_at <= ?".to_owned()
            }
            Condition::Text(term) => {
                if !has_words(term.text()) {
                    // Nothing to search for: the term constrains nothing.
                    continue;
                }
                if !clause.negated {
                    positive_text.push(fts_expression(term));
                    continue;
                }
                params.push(SqlValue::Text(fts_expression(term)));
                "rowid IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)".to_owned()
            }
        };
        if clause.negated {
            // coalesce: a clause on a missing value (no email, no ip) is false, so its negation holds.
            conditions.push_sql(&format!("NOT coalesce(({sql}), 0)"));
        } else {
            conditions.push_sql(&sql);
        }
        conditions.params.extend(params);
    }
    if !positive_text.is_empty() {
        conditions.push_sql("rowid IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)");
        conditions.push_param(positive_text.join(" AND "));
    }
    Ok(conditions)
}

fn in_list(column: &str, values: &[String], params: &mut Vec<SqlValue>) -> String {
    params.extend(values.iter().map(|value| SqlValue::Text(value.clone())));
    format!("{column} IN ({})", placeholders(values.len()))
}

fn any_of(alternatives: Vec<String>) -> String {
    match alternatives.len() {
        0 => "0".to_owned(),
        1 => alternatives.into_iter().next().unwrap_or_default(),
        _ => format!("({})", alternatives.join(" OR ")),
    }
}

/// The first and last stored 16-byte forms of a network.
fn ip_range(network: &IpNet) -> ([u8; 16], [u8; 16]) {
    (ip_bytes(network.network()), ip_bytes(network.broadcast()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_keeps_star_and_escapes_the_rest() {
        assert_eq!(glob_pattern("user.*"), "user.*");
        assert_eq!(glob_pattern("a?[b"), "a[?][[]b");
    }

    #[test]
    fn words_are_prefix_phrases_and_phrases_are_exact() {
        assert_eq!(
            fts_expression(&TextTerm::Word("ada@example.com".into())),
            "\"ada@example.com\" *"
        );
        assert_eq!(
            fts_expression(&TextTerm::Phrase("secret \"key\"".into())),
            "\"secret \"\"key\"\"\""
        );
    }
}
