//! Turns a `Filter` into a SQL condition over the `events` table whose every
//! structured clause an index can serve.

use std::collections::HashMap;

use evident_core::search::has_words;
use evident_core::{ActorMatch, BoundSide, Condition, Filter, TargetMatch, TextTerm};
use jiff::Timestamp;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params};

use super::search;
use crate::Result;
use crate::record::compact_ip_ranges;

/// A SQL condition with its positional parameters.
#[derive(Clone, Default)]
pub(super) struct Conditions {
    parts: Vec<String>,
    params: Vec<SqlValue>,
    /// Clauses whose matches a subquery lists (free text, actors, targets). Each can
    /// drive a page (its rowids fetched, then sorted by time) or only filter
    /// it (the time index drives, the list is checked): which is cheaper
    /// depends on how many events match, which SQLite's planner cannot see.
    pub(super) drivers: Vec<Driver>,
    /// The positive free-text driver, if any: its number among the drivers,
    /// and for each tenant the place in `params` of the first rowid its
    /// search reads (the last follows it), which a page may narrow.
    pub(super) text: Option<TextRanges>,
}

/// Where a free-text driver's rowid ranges sit in its condition's parameters.
#[derive(Clone)]
pub(super) struct TextRanges {
    pub(super) driver: usize,
    /// (tenant, index of its range's first rowid in the parameters).
    pub(super) firsts: Vec<(i64, usize)>,
}

/// A clause that can drive a page: counting its matches, at most up to a bound.
#[derive(Clone)]
pub(super) struct Driver {
    /// The subquery listing its matches, and its parameters.
    subquery_sql: String,
    pub(super) params: Vec<SqlValue>,
    /// Counts the events the subquery lists, each once.
    pub(super) total_sql: String,
}

impl Driver {
    /// Counts its matches up to `bound`. The bound is written into the
    /// statement, not bound: SQLite plans with a bound LIMIT's value and
    /// would prepare the statement again for every new binding of it.
    pub(super) fn count_sql(&self, bound: i64) -> String {
        format!("SELECT count(*) FROM ({} LIMIT {bound})", self.subquery_sql)
    }
}

/// Stands for the `rowid` of driver N in a condition until [`Conditions::sql_driven_by`] renders it.
fn driver_marker(number: usize) -> String {
    format!("{{rowid:{number}}}")
}

impl Conditions {
    pub(super) fn push_sql(&mut self, sql: &str) {
        self.parts.push(sql.to_owned());
    }

    pub(super) fn push_param(&mut self, value: impl Into<SqlValue>) {
        self.params.push(value.into());
    }

    /// The condition with every driver clause free to drive (SQLite decides).
    pub(super) fn sql(&self) -> String {
        self.render(|_| "rowid")
    }

    /// The condition driven by driver `driver`, or by the time index when None:
    /// the other drivers' `rowid` is written `+rowid`, which no index serves.
    pub(super) fn sql_driven_by(&self, driver: Option<usize>) -> String {
        self.render(|number| {
            if Some(number) == driver {
                "rowid"
            } else {
                "+rowid"
            }
        })
    }

    fn render(&self, rowid: impl Fn(usize) -> &'static str) -> String {
        if self.parts.is_empty() {
            return "1".to_owned();
        }
        let mut sql = self.parts.join(" AND ");
        for number in 0..self.drivers.len() {
            sql = sql.replace(&driver_marker(number), rowid(number));
        }
        sql
    }

    /// Adds `sql` (rows matching a clause, listed by a subquery over `subquery_sql`) as a driver.
    /// `distinct`: the subquery lists each event once; otherwise its parts are united (deduplicated) for totals.
    fn push_driver(&mut self, subquery_sql: &str, params: Vec<SqlValue>, distinct: bool) {
        let number = self.drivers.len();
        self.parts
            .push(format!("{} IN ({subquery_sql})", driver_marker(number)));
        self.params.extend(params.iter().cloned());
        self.drivers.push(Driver {
            subquery_sql: subquery_sql.to_owned(),
            total_sql: if distinct {
                format!("SELECT count(*) FROM ({subquery_sql})")
            } else {
                format!(
                    "SELECT count(*) FROM ({})",
                    subquery_sql.replace(" UNION ALL ", " UNION ")
                )
            },
            params,
        });
    }

    /// The driver whose matches are exactly the condition's (the tenants and it, nothing else).
    pub(super) fn sole_driver(&self) -> Option<&Driver> {
        match (self.parts.len(), self.drivers.as_slice()) {
            (2, [driver]) => Some(driver),
            _ => None,
        }
    }

    pub(super) fn params(&self) -> &[SqlValue] {
        &self.params
    }
}

pub(super) fn placeholders(count: usize) -> String {
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
/// phrase of its tokens, so `ada@example.com` finds the email, or, when it
/// is an identifier (`tok_f585b4b17`), as a prefix of its term; a phrase
/// matches whole words in order.
fn fts_expression(term: &TextTerm) -> String {
    match term {
        TextTerm::Word(word) => match search::identifier_of_word(word) {
            Some(identifier) => format!("{} *", quote(&identifier)),
            None => format!("{} *", quote(word)),
        },
        TextTerm::Phrase(phrase) => quote(phrase),
    }
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The FTS5 terms that one word is searched as, past which it stays a
/// prefix query.
const MOST_WORD_TERMS: usize = 16;

/// What a filter's words and actors are in this store, looked up before its
/// SQL is written.
///
/// Words: a prefix query (`"word" *`) reads the whole doclist of every term
/// with the prefix, in every tenant, before it keeps the rowids asked for:
/// 4.1 ms for a common word in a window of one tenant at 1M events, where
/// the same word as an exact term, whose doclist FTS5 seeks into, takes
/// 0.22 ms. A word that is one token (ASCII letters and digits, which
/// FTS5's tokenizer only lower-cases), or an identifier's term, is therefore
/// searched as the terms the index holds that start with it, when they are
/// few: the word itself `OR` each longer one, listed from the index's
/// vocabulary (`temp.events_fts_terms`, which reads only the longer terms'
/// entries). The matches are the prefix query's.
///
/// Actors: the numbers (`actors`) of every actor whose id or email an exact
/// actor clause names, so that a page reads each one's entries of the
/// actor index in time order.
#[derive(Default)]
pub(super) struct Lookups {
    /// Each word searched as terms: its FTS5 expression.
    words: HashMap<String, String>,
    /// Each exact actor value: the tenant and number of every actor it names.
    actors: HashMap<String, Vec<(i64, i64)>>,
}

impl Lookups {
    /// Looks up `filter`'s words that can be searched as terms and its exact actors.
    pub(super) fn of(connection: &Connection, filter: &Filter) -> Result<Lookups> {
        let mut lookups = Lookups::default();
        for clause in &filter.clauses {
            match &clause.condition {
                Condition::Text(TextTerm::Word(word)) => lookups.add_word(connection, word)?,
                // Only a positive clause reads the actor index by number.
                Condition::Actor(matches) if !clause.negated => {
                    for actor in matches {
                        if let ActorMatch::Exact(value) = actor {
                            lookups.add_actor(connection, value)?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(lookups)
    }

    fn add_word(&mut self, connection: &Connection, word: &str) -> Result<()> {
        if self.words.contains_key(word) {
            return Ok(());
        }
        let token = match search::identifier_of_word(word) {
            Some(identifier) => identifier,
            None if !word.is_empty() && word.bytes().all(|byte| byte.is_ascii_alphanumeric()) => {
                word.to_ascii_lowercase()
            }
            None => return Ok(()),
        };
        let mut longer = connection.prepare_cached(&format!(
            "SELECT term FROM temp.events_fts_terms WHERE term >= ?1 AND term < ?2 LIMIT {}",
            MOST_WORD_TERMS
        ))?;
        // Every term that starts with the token, without the token itself
        // (the smallest string after it is the token and a NUL byte).
        let terms: Vec<String> = longer
            .query_map(
                [format!("{token}\0"), format!("{token}{}", char::MAX)],
                |row| row.get(0),
            )?
            .collect::<rusqlite::Result<_>>()?;
        if terms.len() < MOST_WORD_TERMS {
            let alternatives: Vec<String> = std::iter::once(&token)
                .chain(&terms)
                .map(|term| quote(term))
                .collect();
            self.words
                .insert(word.to_owned(), format!("({})", alternatives.join(" OR ")));
        }
        Ok(())
    }

    fn add_actor(&mut self, connection: &Connection, value: &str) -> Result<()> {
        if self.actors.contains_key(value) {
            return Ok(());
        }
        let numbers = connection
            .prepare_cached(
                "SELECT tenant_no, no FROM actors WHERE id = ?1
                 UNION SELECT tenant_no, no FROM actors WHERE email = ?2",
            )?
            .query_map(params![value, value.to_lowercase()], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        self.actors.insert(value.to_owned(), numbers);
        Ok(())
    }

    /// Whether `word` is searched as the terms it prefixes.
    #[cfg(test)]
    pub(super) fn has(&self, word: &str) -> bool {
        self.words.contains_key(word)
    }

    fn expression(&self, term: &TextTerm) -> String {
        match term {
            TextTerm::Word(word) => self
                .words
                .get(word)
                .cloned()
                .unwrap_or_else(|| fts_expression(term)),
            TextTerm::Phrase(_) => fts_expression(term),
        }
    }

    /// The numbers of the actors of `tenants` that `value` names.
    fn actor_numbers<'l>(
        &'l self,
        tenants: &'l [i64],
        value: &str,
    ) -> impl Iterator<Item = i64> + 'l {
        self.actors
            .get(value)
            .into_iter()
            .flatten()
            .filter(|(tenant, _)| tenants.contains(tenant))
            .map(|(_, number)| *number)
    }
}

/// Makes the vocabulary [`Lookups`] reads on a connection: a table of its
/// own, which stores nothing.
pub(super) fn add_vocabulary(connection: &Connection) -> Result<()> {
    connection.execute_batch(&format!(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.events_fts_terms USING fts5vocab({}, events_fts, 'row')",
        super::search::SCHEMA
    ))?;
    Ok(())
}

/// One source of a page's rows that can yield them already in sort order
/// (time, then position), with the condition its rows must meet. A page is
/// the sorted union of its arms, which SQLite merges lazily: each arm reads
/// only as far down its index as the page needs.
pub(super) struct Arm {
    /// The `FROM` clause, its parameters bound before the condition's.
    pub(super) source: String,
    pub(super) source_params: Vec<SqlValue>,
    /// The sort key of its rows: the event's time and position.
    pub(super) time: &'static str,
    pub(super) position: &'static str,
    pub(super) conditions: Conditions,
}

impl Arm {
    fn events(conditions: Conditions) -> Arm {
        Arm {
            source: "events".to_owned(),
            source_params: Vec::new(),
            time: "occurred_at",
            position: "rowid",
            conditions,
        }
    }
}

/// The arms of a page of `tenants` and `filter`. A positive clause on exact
/// actors or typed targets becomes one arm per index range it reads (each
/// actor number the values name, each target), each in time order within
/// one tenant; one `actor_no IN (…)` would instead read every match and
/// sort them, or walk the time index until enough turn up. The
/// arms may overlap (an event with two of the targets): their union is
/// deduplicated. Any other filter is one arm over the events.
pub(super) fn arms(
    tenants: &[i64],
    tenant_ids: &HashMap<i64, (String, String)>,
    filter: &Filter,
    lookups: &Lookups,
    now: Timestamp,
) -> Result<Vec<Arm>> {
    let ordered = filter.clauses.iter().position(|clause| {
        !clause.negated
            && match &clause.condition {
                Condition::Actor(matches) => matches
                    .iter()
                    .all(|actor| matches!(actor, ActorMatch::Exact(_))),
                Condition::Target(targets) => {
                    targets.iter().all(|target| target.target_type.is_some())
                }
                _ => false,
            }
    });
    let Some(position) = ordered else {
        return Ok(vec![Arm::events(build(
            tenants, tenant_ids, filter, lookups, now,
        )?)]);
    };
    let mut rest = filter.clone();
    let clause = rest.clauses.remove(position);
    let base = build(tenants, tenant_ids, &rest, lookups, now)?;
    let mut arms = Vec::new();
    match &clause.condition {
        Condition::Actor(matches) => {
            // Each number once: an actor's id and its email name the same one.
            let numbers: std::collections::BTreeSet<i64> = matches
                .iter()
                .filter_map(|actor| match actor {
                    ActorMatch::Exact(value) => Some(value),
                    ActorMatch::EmailPrefix(_) => None,
                })
                .flat_map(|value| lookups.actor_numbers(tenants, value))
                .collect();
            for number in numbers {
                let mut conditions = base.clone();
                conditions.push_sql("actor_no = ?");
                conditions.push_param(number);
                arms.push(Arm::events(conditions));
            }
        }
        Condition::Target(targets) => {
            for target in targets {
                let mut source_params: Vec<SqlValue> = tenants
                    .iter()
                    .map(|tenant| SqlValue::Integer(*tenant))
                    .collect();
                source_params.push(SqlValue::Text(target.id.clone()));
                source_params.push(SqlValue::Text(
                    target.target_type.clone().unwrap_or_default(),
                ));
                arms.push(Arm {
                    // Only the subquery's own names are visible outside it,
                    // so the condition's unqualified names are the event's.
                    source: format!(
                        "(SELECT event_rowid AS target_event, occurred_at AS target_time FROM event_targets \
                         WHERE tenant_no IN ({}) AND target_id = ? AND target_type = ?) \
                         JOIN events ON events.rowid = target_event",
                        placeholders(tenants.len())
                    ),
                    source_params,
                    time: "target_time",
                    position: "target_event",
                    conditions: base.clone(),
                });
            }
        }
        _ => {}
    }
    if arms.is_empty() {
        // No alternative at all: the clause matches nothing.
        let mut conditions = base;
        conditions.push_sql("0");
        arms.push(Arm::events(conditions));
    }
    Ok(arms)
}

/// The condition for `tenants` (non-empty, tenant numbers) and `filter`.
pub(super) fn build(
    tenants: &[i64],
    tenant_ids: &HashMap<i64, (String, String)>,
    filter: &Filter,
    lookups: &Lookups,
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
        if let (Condition::Actor(matches), false) = (&clause.condition, clause.negated) {
            let (searches, params) = actor_searches(tenants, matches);
            conditions.push_driver(&searches, params, true);
            continue;
        }
        if let (Condition::Target(targets), false) = (&clause.condition, clause.negated) {
            // A total of events with a target is counted in the target index
            // alone, never reading the events (a target of thousands of
            // events at 10M: tens of ms of row reads, hundreds when not cached).
            let (searches, params) = target_searches(tenants, targets);
            conditions.push_driver(&searches, params, targets.len() == 1);
            continue;
        }
        let sql = match &clause.condition {
            Condition::Action(patterns) if clause.negated => {
                action_alternatives(patterns, &mut params)
            }
            Condition::Action(patterns) => action_numbers(tenants, patterns, &mut params),
            Condition::Category(categories) => in_list("category", categories, &mut params),
            Condition::Channel(channels) => in_list("channel", channels, &mut params),
            Condition::Outcome(outcomes) => {
                let names: Vec<String> = outcomes
                    .iter()
                    .map(|outcome| outcome.as_str().to_owned())
                    .collect();
                in_list("outcome", &names, &mut params)
            }
            Condition::Actor(matches) => actor_alternatives(matches, &mut params),
            // Positive target clauses drive (above); a negated one is checked.
            Condition::Target(targets) => {
                let (searches, searched) = target_searches(tenants, targets);
                params = searched;
                format!("rowid IN ({searches})")
            }
            Condition::Ip(networks) => {
                // IPv4 addresses are kept as 4 bytes, IPv6 as 16: a range of
                // one length also holds values of the other (a shorter value
                // sorts before every longer one it begins), hence the length.
                let alternatives = networks
                    .iter()
                    .flat_map(compact_ip_ranges)
                    .map(|(low, high)| {
                        let length = low.len();
                        params.push(SqlValue::Blob(low));
                        params.push(SqlValue::Blob(high));
                        format!("(ip BETWEEN ? AND ? AND length(ip) = {length})")
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
                    positive_text.push(lookups.expression(term));
                    continue;
                }
                text_match(tenants, &lookups.expression(term), &mut params)
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
        let mut params = Vec::new();
        let (searches, firsts) = text_searches(tenants, &positive_text.join(" AND "), &mut params);
        let start = conditions.params.len();
        conditions.text = Some(TextRanges {
            driver: conditions.drivers.len(),
            firsts: firsts
                .into_iter()
                .map(|(tenant, index)| (tenant, start + index))
                .collect(),
        });
        // One search per tenant over its own rowid range: each event at most once.
        conditions.push_driver(&searches, params, true);
    }
    Ok(conditions)
}

/// Events matching a free-text expression, searched within each tenant's
/// rowid range: FTS5 seeks into the matches of that range, so a common word
/// costs what it costs in the tenants asked for, not across the whole store.
fn text_match(tenants: &[i64], expression: &str, params: &mut Vec<SqlValue>) -> String {
    format!(
        "rowid IN ({})",
        text_searches(tenants, expression, params).0
    )
}

/// One tenant's free-text matches: the rowids matching an FTS5 expression
/// (parameter 1) from a first rowid (2) to the lesser of a last rowid (3)
/// and the end of the tenant's log: its first rowid (4) plus the `next_seq`
/// of the tenant (5) in `evident.db`. The search index commits apart from
/// the events, and a search whose snapshot holds a commit the events'
/// snapshot has not seen would otherwise list events that no row of the
/// read stands for. The bound is worked out once in its subquery (`min`
/// outside it was evaluated again for every match: a quarter of a common
/// word's total).
pub(super) const TENANT_TEXT_SEARCH: &str = "SELECT rowid FROM events_fts WHERE events_fts MATCH ?
     AND rowid BETWEEN ? AND (SELECT min(?, ? + next_seq - 1) FROM tenants WHERE no = ?)";

/// The subquery of [`text_match`]: the matching rowids, one search per tenant
/// over its rowid range; and where in `params` each tenant's first rowid went.
fn text_searches(
    tenants: &[i64],
    expression: &str,
    params: &mut Vec<SqlValue>,
) -> (String, Vec<(i64, usize)>) {
    let mut firsts = Vec::new();
    let searches: Vec<&str> = tenants
        .iter()
        .map(|tenant| {
            let (first, last) = super::schema::tenant_rowids(*tenant);
            params.push(SqlValue::Text(expression.to_owned()));
            firsts.push((*tenant, params.len()));
            params.push(SqlValue::Integer(first));
            params.push(SqlValue::Integer(last));
            params.push(SqlValue::Integer(first));
            params.push(SqlValue::Integer(*tenant));
            TENANT_TEXT_SEARCH
        })
        .collect();
    (searches.join(" UNION ALL "), firsts)
}

/// The events of `tenants` with any of `targets`, from the target index: one
/// search per target, each listing an event once (an untyped one may find an
/// event under two types), united with UNION ALL.
///
/// No further than each tenant's log in `evident.db`, as for free text: the
/// target index commits apart from it (`search.rs`), and a total counted
/// from it alone would count events the read's rows do not yet hold. The
/// tenants are the outer loop (`CROSS JOIN`), so that each is read once and
/// each entry only compared with its tenant's log size.
fn target_searches(tenants: &[i64], targets: &[TargetMatch]) -> (String, Vec<SqlValue>) {
    let from = format!(
        "FROM tenants CROSS JOIN event_targets ON event_targets.tenant_no = tenants.no \
         WHERE tenants.no IN ({}) AND event_rowid < (tenants.no << {}) + tenants.next_seq \
         AND target_id = ?",
        placeholders(tenants.len()),
        crate::record::SEQ_BITS,
    );
    let mut params = Vec::new();
    let searches: Vec<String> = targets
        .iter()
        .map(|target| {
            params.extend(tenants.iter().map(|tenant| SqlValue::Integer(*tenant)));
            params.push(SqlValue::Text(target.id.clone()));
            match &target.target_type {
                Some(target_type) => {
                    params.push(SqlValue::Text(target_type.clone()));
                    format!("SELECT event_rowid {from} AND target_type = ?")
                }
                None => format!("SELECT DISTINCT event_rowid {from}"),
            }
        })
        .collect();
    (searches.join(" UNION ALL "), params)
}

/// The rowids of events by any of `matches`, from the actor index: the
/// numbers of the actors they name (an id, an email, an email's beginning),
/// each once, then each number's entries. The index is named, since
/// without fresh statistics SQLite may walk a tenant's time index instead.
fn actor_searches(tenants: &[i64], matches: &[ActorMatch]) -> (String, Vec<SqlValue>) {
    let mut params: Vec<SqlValue> = tenants
        .iter()
        .map(|tenant| SqlValue::Integer(*tenant))
        .collect();
    let scope = format!("tenant_no IN ({})", placeholders(tenants.len()));
    let mut numbers = Vec::new();
    let mut lookup = |condition: &str, values: Vec<String>| {
        params.extend(values.into_iter().map(SqlValue::Text));
        params.extend(tenants.iter().map(|tenant| SqlValue::Integer(*tenant)));
        numbers.push(format!(
            "SELECT no FROM actors WHERE {condition} AND {scope}"
        ));
    };
    for actor in matches {
        match actor {
            ActorMatch::Exact(value) => {
                lookup("id = ?", vec![value.clone()]);
                lookup("email = ?", vec![value.to_lowercase()]);
            }
            ActorMatch::EmailPrefix(prefix) => {
                let prefix = prefix.to_lowercase();
                let end = format!("{prefix}{}", char::MAX);
                lookup("email >= ? AND email < ?", vec![prefix, end]);
            }
        }
    }
    (
        format!(
            "SELECT rowid FROM events INDEXED BY events_actor WHERE {scope} AND actor_no IN ({})",
            numbers.join(" UNION ")
        ),
        params,
    )
}

/// `action` (of the events or of `actions`) among `patterns`: names, and
/// patterns with `*`.
fn action_alternatives(patterns: &[String], params: &mut Vec<SqlValue>) -> String {
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

/// A positive action clause, read through the action index: the numbers
/// its names and patterns have in `tenants` (`actions`). One name in one
/// tenant is one number, an equality, so that its index range is read in
/// time order (a list of numbers would be read whole and sorted).
fn action_numbers(tenants: &[i64], patterns: &[String], params: &mut Vec<SqlValue>) -> String {
    if let ([tenant], [action]) = (tenants, patterns)
        && !action.contains('*')
    {
        params.push(SqlValue::Integer(*tenant));
        params.push(SqlValue::Text(action.clone()));
        return "action_no = (SELECT no FROM actions WHERE tenant_no = ? AND action = ?)"
            .to_owned();
    }
    params.extend(tenants.iter().map(|tenant| SqlValue::Integer(*tenant)));
    let scope = placeholders(tenants.len());
    let alternatives = action_alternatives(patterns, params);
    format!("action_no IN (SELECT no FROM actions WHERE tenant_no IN ({scope}) AND {alternatives})")
}

/// The total of a filter that is one positive action clause and nothing
/// else (a category clause is one once [`super::categories_as_actions`] has
/// made it its actions): the sum of each matching action's events in
/// `tenants` (`actions.events`, which the applier keeps in the transaction
/// that stores them, so that it is exact in every snapshot; no event is
/// ever removed). None for any other filter.
pub(super) fn action_total(tenants: &[i64], filter: &Filter) -> Option<(String, Vec<SqlValue>)> {
    let Some(Condition::Action(patterns)) = filter.sole_condition() else {
        return None;
    };
    let mut params: Vec<SqlValue> = tenants
        .iter()
        .map(|tenant| SqlValue::Integer(*tenant))
        .collect();
    let alternatives = action_alternatives(patterns, &mut params);
    Some((
        format!(
            "SELECT coalesce(sum(events), 0) FROM actions WHERE tenant_no IN ({}) AND {alternatives}",
            placeholders(tenants.len())
        ),
        params,
    ))
}

fn actor_alternatives(matches: &[ActorMatch], params: &mut Vec<SqlValue>) -> String {
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
