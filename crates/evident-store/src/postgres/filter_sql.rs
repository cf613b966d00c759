//! Turns a `Filter` into a SQL condition over one tenant's rows of `events`,
//! and free text into `tsvector`/`tsquery` values with the embedded
//! backend's semantics.
//!
//! Every condition is built for a single tenant: a partner's subtree is one
//! such query per tenant, united. Each then reads its own range of an index
//! in sort order, and each would run on the one machine holding that tenant.

use evident_core::search::{has_words, identifier_term, identifier_terms, words};
use evident_core::{ActorMatch, BoundSide, Condition, Filter, TargetMatch, TextTerm};
use jiff::Timestamp;
use postgres::types::ToSql;

use crate::record::ip_range;

/// A parameter of a statement being built.
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

/// Parameters numbered as they are added (`$1`, `$2`, …).
#[derive(Default)]
pub(super) struct Params {
    values: Vec<Param>,
}

impl Params {
    /// Adds a value; returns its placeholder.
    pub(super) fn add(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.values.push(Box::new(value));
        format!("${}", self.values.len())
    }

    pub(super) fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|value| value.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// A word as kept in `events.words`: the tenant's number, a colon, the word.
fn lexeme(tenant_no: i64, word: &str) -> String {
    format!("{tenant_no}:{word}")
}

/// Words longer than this are left out of the index (PostgreSQL refuses a
/// lexeme of 2,047 bytes or more).
const MAX_WORD_BYTES: usize = 2000;

/// Quotes a lexeme for `tsvector`/`tsquery` input.
fn quoted(lexeme: &str) -> String {
    format!("'{}'", lexeme.replace('\\', "\\\\").replace('\'', "''"))
}

/// An identifier (`tok_f585b4b17`) as kept in `events.words`: its words
/// joined by underscores, after one (`7:_tok_f585b4b17`), so that no word's
/// prefix (`7:tok`) matches it.
fn identifier_lexeme(tenant_no: i64, joined: &str) -> String {
    format!("{tenant_no}:_{joined}")
}

/// The `tsvector` of an event's searchable text, as text input: each word
/// with its positions (1-based, so that phrases match words in order), then
/// each of its identifiers ([`identifier_terms`]), placed after the words.
pub(super) fn tsvector(tenant_no: i64, text: &str) -> String {
    let mut positions: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    let mut count = 0;
    for (index, word) in words(text).enumerate() {
        count = index + 1;
        if word.len() <= MAX_WORD_BYTES {
            positions
                .entry(lexeme(tenant_no, &word))
                .or_default()
                .push(index + 1);
        }
    }
    for (index, joined) in identifier_terms(text, '_').into_iter().enumerate() {
        if joined.len() <= MAX_WORD_BYTES {
            positions
                .entry(identifier_lexeme(tenant_no, &joined))
                .or_default()
                .push(count + index + 1);
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    for (lexeme, places) in positions {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&quoted(&lexeme));
        out.push(':');
        // PostgreSQL keeps positions up to 16,383 and 256 of them per word.
        let places: Vec<String> = places
            .iter()
            .take(256)
            .map(|place| place.min(&16_383).to_string())
            .collect();
        out.push_str(&places.join(","));
    }
    out
}

/// The `tsquery` of one free-text term, as the embedded backend searches it:
/// a word is the phrase of its words with the last one a prefix, so
/// `ada@example.com` finds the email, or, when it is an identifier
/// (`tok_f585b4b17`), a prefix of its lexeme; a phrase matches whole words
/// in order.
fn tsquery(tenant_no: i64, term: &TextTerm) -> String {
    if let TextTerm::Word(word) = term
        && let Some(joined) = identifier_term(word, '_')
    {
        return format!("({}:*)", quoted(&identifier_lexeme(tenant_no, &joined)));
    }
    let words: Vec<String> = words(term.text())
        .map(|word| quoted(&lexeme(tenant_no, &word)))
        .collect();
    let mut query = words.join(" <-> ");
    if matches!(term, TextTerm::Word(_)) {
        query.push_str(":*");
    }
    format!("({query})")
}

/// Escapes LIKE's own special characters, with `*` as the wildcard.
fn like_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for character in pattern.chars() {
        match character {
            '\\' | '%' | '_' => {
                out.push('\\');
                out.push(character);
            }
            '*' => out.push('%'),
            _ => out.push(character),
        }
    }
    out
}

fn any_of(alternatives: Vec<String>) -> String {
    match alternatives.len() {
        0 => "false".to_owned(),
        1 => alternatives.into_iter().next().unwrap_or_default(),
        _ => format!("({})", alternatives.join(" OR ")),
    }
}

/// An `action` column matching any of `patterns` (exact names, or `*` wildcards).
fn action_condition(patterns: &[String], params: &mut Params) -> String {
    let exact: Vec<String> = patterns
        .iter()
        .filter(|pattern| !pattern.contains('*'))
        .cloned()
        .collect();
    let mut alternatives = Vec::new();
    if !exact.is_empty() {
        alternatives.push(in_list("action", &exact, params));
    }
    for pattern in patterns.iter().filter(|pattern| pattern.contains('*')) {
        alternatives.push(format!("action LIKE {}", params.add(like_pattern(pattern))));
    }
    any_of(alternatives)
}

/// The statement summing a filter's events from `action_counts`, when the
/// filter is one positive action clause and nothing else (a category
/// clause already read as its actions); None for any other filter.
pub(super) fn action_total(tenants: &[i64], filter: &Filter) -> Option<(String, Params)> {
    let Some(Condition::Action(patterns)) = filter.sole_condition() else {
        return None;
    };
    let mut params = Params::default();
    let scope = params.add(tenants.to_vec());
    let condition = action_condition(patterns, &mut params);
    Some((
        format!(
            "SELECT coalesce(sum(events), 0)::bigint FROM action_counts WHERE tenant_no = ANY({scope}) AND {condition}"
        ),
        params,
    ))
}

fn in_list(column: &str, values: &[String], params: &mut Params) -> String {
    match values {
        [one] => format!("{column} = {}", params.add(one.clone())),
        _ => format!("{column} = ANY({})", params.add(values.to_vec())),
    }
}

/// One way an actor clause matches: by id, by email, or by email prefix.
enum ActorPart {
    Id(String),
    Email(String),
    EmailPrefix(String),
}

/// The parts of an actor clause, each an index range of its own
/// (`events_actor_id` or `events_actor_email`) in sort order.
fn actor_parts(matches: &[ActorMatch]) -> Vec<ActorPart> {
    matches
        .iter()
        .flat_map(|actor| match actor {
            ActorMatch::Exact(value) => vec![
                ActorPart::Id(value.clone()),
                ActorPart::Email(value.to_lowercase()),
            ],
            ActorMatch::EmailPrefix(prefix) => vec![ActorPart::EmailPrefix(prefix.to_lowercase())],
        })
        .collect()
}

fn actor_part_sql(part: &ActorPart, params: &mut Params) -> String {
    match part {
        ActorPart::Id(id) => format!("actor_id = {}", params.add(id.clone())),
        ActorPart::Email(email) => format!("actor_email = {}", params.add(email.clone())),
        ActorPart::EmailPrefix(prefix) => format!(
            "(actor_email >= {} AND actor_email < {})",
            params.add(prefix.clone()),
            params.add(format!("{prefix}{}", char::MAX))
        ),
    }
}

/// A filter's one positive actor clause (its position) and how many parts it
/// has, when a page is best read one part at a time: each part a range of an
/// actor index in sort order, merged, where `actor_id = … OR actor_email = …`
/// makes PostgreSQL fetch every event of the actor and sort them.
pub(super) fn actor_split(filter: &Filter) -> Option<(usize, usize)> {
    let mut actors =
        filter.clauses.iter().enumerate().filter(|(_, clause)| {
            !clause.negated && matches!(clause.condition, Condition::Actor(_))
        });
    let (position, clause) = actors.next()?;
    if actors.next().is_some() {
        return None;
    }
    let Condition::Actor(matches) = &clause.condition else {
        return None;
    };
    let parts = actor_parts(matches).len();
    (parts > 1).then_some((position, parts))
}

/// An `event_targets` row naming any of `targets`.
fn targets_condition(targets: &[TargetMatch], params: &mut Params) -> String {
    let alternatives = targets
        .iter()
        .map(|target| {
            let id = params.add(target.id.clone());
            match &target.target_type {
                Some(target_type) => format!(
                    "(target_id = {id} AND target_type = {})",
                    params.add(target_type.clone())
                ),
                None => format!("target_id = {id}"),
            }
        })
        .collect();
    any_of(alternatives)
}

/// The targets of a filter that is one positive target clause and nothing else.
pub(super) fn sole_targets(filter: &Filter) -> Option<&[TargetMatch]> {
    match filter.sole_condition() {
        Some(Condition::Target(targets)) => Some(targets),
        _ => None,
    }
}

/// The condition of a page of events of tenant `tenant_no` naming any of
/// `targets`: the first `rows` of them in sort order (`direction`), past
/// `bound` (`comparison`, occurred_at, seq), read from the target index,
/// which holds each event's time, before any event is, so that a target of
/// hundreds of events reads the page's rows only.
pub(super) fn target_window(
    tenant_no: i64,
    targets: &[TargetMatch],
    bound: Option<(&str, i64, i64)>,
    direction: &str,
    rows: i64,
    params: &mut Params,
) -> String {
    let tenant = params.add(tenant_no);
    let mut window = format!(
        "SELECT DISTINCT occurred_at, seq FROM event_targets WHERE tenant_no = {tenant} AND {}",
        targets_condition(targets, params)
    );
    if let Some((comparison, occurred_at, seq)) = bound {
        window.push_str(&format!(
            " AND (occurred_at, seq) {comparison} ({}, {})",
            params.add(occurred_at),
            params.add(seq)
        ));
    }
    format!(
        "tenant_no = {tenant} AND seq IN (SELECT seq FROM ({window} ORDER BY occurred_at {direction}, seq {direction} LIMIT {}) AS window_rows)",
        params.add(rows)
    )
}

/// The statement counting the events of `tenants` naming any of `targets`,
/// from the target index alone (an event naming two of them once).
pub(super) fn target_total(tenants: &[i64], targets: &[TargetMatch]) -> (String, Params) {
    let mut params = Params::default();
    let counts: Vec<String> = tenants
        .iter()
        .map(|tenant_no| {
            format!(
                "(SELECT count(DISTINCT seq) FROM event_targets WHERE tenant_no = {} AND {})",
                params.add(*tenant_no),
                targets_condition(targets, &mut params)
            )
        })
        .collect();
    (sum_of(&counts), params)
}

/// The statement adding up `counts` (scalar subqueries) into one bigint.
pub(super) fn sum_of(counts: &[String]) -> String {
    format!("SELECT ({})::bigint", counts.join(" + "))
}

/// How a condition is shaped for one branch of a page.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Shape {
    /// A clause's position and one of its parts (from [`actor_split`]): that
    /// clause matches only that part and none before it, so that the parts'
    /// pages are disjoint.
    pub actor_part: Option<(usize, usize)>,
    /// With `actor_part`: that part alone, whether or not an earlier part
    /// matches too, so that an actor index answers it without reading the
    /// rows (a count of the parts' `UNION` counts each event once).
    pub parts_overlap: bool,
    /// The free-text match written so that no index serves it: the page walks
    /// the time index and checks each event, where the term is so common that
    /// fetching every match and sorting them costs more.
    pub text_walks: bool,
}

/// The `tsquery` of a filter's free text for a tenant, when it is one
/// positive term of one word or identifier: the only kind whose matches are
/// worth counting before a page is read (see `common_text_tenants`). A phrase
/// (`ada@acme.example` is `ada`, `acme`, then `example`) is rare whenever one
/// of its words is, and counting it would read the posting list of its
/// commonest word, as the page does.
pub(super) fn single_word_text(tenant_no: i64, filter: &Filter) -> Option<String> {
    let mut terms = filter
        .clauses
        .iter()
        .filter(|clause| !clause.negated)
        .filter_map(|clause| match &clause.condition {
            Condition::Text(term) if has_words(term.text()) => Some(term),
            _ => None,
        });
    let term = terms.next()?;
    let one_word = words(term.text()).count() == 1
        || matches!(term, TextTerm::Word(word) if identifier_term(word, '_').is_some());
    if terms.next().is_some() || !one_word {
        return None;
    }
    Some(tsquery(tenant_no, term))
}

/// The condition for `filter` on tenant `tenant_no` (whose id is `tenant_id`),
/// with the tenant clause first, shaped by `shape`; its parameters are added to `params`.
pub(super) fn build(
    tenant_no: i64,
    tenant_id: &str,
    filter: &Filter,
    now: Timestamp,
    shape: Shape,
    params: &mut Params,
) -> String {
    let actor_part = shape.actor_part;
    let tenant = params.add(tenant_no);
    let mut parts = vec![format!("tenant_no = {tenant}")];
    let mut positive_text = Vec::new();
    for (position, clause) in filter.clauses.iter().enumerate() {
        let sql = match &clause.condition {
            Condition::Actor(matches) if actor_part.is_some_and(|(at, _)| at == position) => {
                let parts = actor_parts(matches);
                let part = actor_part.map_or(0, |(_, part)| part).min(parts.len() - 1);
                let mine = actor_part_sql(&parts[part], params);
                let before: Vec<String> = if shape.parts_overlap {
                    Vec::new()
                } else {
                    parts[..part]
                        .iter()
                        .map(|earlier| actor_part_sql(earlier, params))
                        .collect()
                };
                if before.is_empty() {
                    mine
                } else {
                    format!("{mine} AND NOT coalesce(({}), false)", before.join(" OR "))
                }
            }
            Condition::Action(patterns) => action_condition(patterns, params),
            Condition::Category(categories) => in_list("category", categories, params),
            Condition::Channel(channels) => in_list("channel", channels, params),
            Condition::Outcome(outcomes) => {
                let names: Vec<String> = outcomes
                    .iter()
                    .map(|outcome| outcome.as_str().to_owned())
                    .collect();
                in_list("outcome", &names, params)
            }
            Condition::Actor(matches) => {
                let alternatives = actor_parts(matches)
                    .iter()
                    .map(|part| actor_part_sql(part, params))
                    .collect();
                any_of(alternatives)
            }
            Condition::Target(targets) => format!(
                "seq IN (SELECT seq FROM event_targets WHERE tenant_no = {tenant} AND {})",
                targets_condition(targets, params)
            ),
            Condition::Ip(networks) => {
                let alternatives = networks
                    .iter()
                    .map(|network| {
                        let (low, high) = ip_range(network);
                        format!(
                            "ip BETWEEN {} AND {}",
                            params.add(low.to_vec()),
                            params.add(high.to_vec())
                        )
                    })
                    .collect();
                any_of(alternatives)
            }
            Condition::Tenant(ids) => {
                if ids.iter().any(|id| id == tenant_id) {
                    "true".to_owned()
                } else {
                    "false".to_owned()
                }
            }
            Condition::From(bound) => format!(
                "occurred_at >= {}",
                params.add(bound.resolve_micros(BoundSide::From, now))
            ),
            Condition::To(bound) => format!(
                "occurred_at <= {}",
                params.add(bound.resolve_micros(BoundSide::To, now))
            ),
            Condition::Text(term) => {
                if !has_words(term.text()) {
                    // Nothing to search for: the term constrains nothing.
                    continue;
                }
                if !clause.negated {
                    positive_text.push(tsquery(tenant_no, term));
                    continue;
                }
                format!(
                    "words @@ {}::text::tsquery",
                    params.add(tsquery(tenant_no, term))
                )
            }
        };
        if clause.negated {
            // coalesce: a clause on a missing value (no email, no ip) is false, so its negation holds.
            parts.push(format!("NOT coalesce(({sql}), false)"));
        } else {
            parts.push(sql);
        }
    }
    if !positive_text.is_empty() {
        let query = params.add(positive_text.join(" & "));
        parts.push(if shape.text_walks {
            format!("coalesce(words @@ {query}::text::tsquery, false)")
        } else {
            format!("words @@ {query}::text::tsquery")
        });
    }
    parts.join(" AND ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_prefixed_with_their_tenant_and_keep_their_places() {
        assert_eq!(
            tsvector(7, "Ada ada@acme.example O'Neil"),
            "'7:acme':3 '7:ada':1,2 '7:example':4 '7:neil':6 '7:o':5"
        );
        assert_eq!(tsvector(7, "--"), "");
        // Identifiers follow the words, each once, after an underscore.
        assert_eq!(
            tsvector(7, "tok_F5 x tok_f5"),
            "'7:_tok_f5':6 '7:f5':2,5 '7:tok':1,4 '7:x':3"
        );
    }

    #[test]
    fn a_word_is_a_prefix_phrase_and_a_phrase_is_exact() {
        assert_eq!(
            tsquery(3, &TextTerm::Word("ada@example.com".into())),
            "('3:ada' <-> '3:example' <-> '3:com':*)"
        );
        assert_eq!(
            tsquery(3, &TextTerm::Phrase("secret key".into())),
            "('3:secret' <-> '3:key')"
        );
        assert_eq!(
            tsquery(3, &TextTerm::Word("Tok_F585".into())),
            "('3:_tok_f585':*)"
        );
        assert_eq!(
            tsquery(3, &TextTerm::Phrase("tok_f585".into())),
            "('3:tok' <-> '3:f585')"
        );
    }

    #[test]
    fn only_one_positive_word_is_counted_before_a_page() {
        let text = |query: &str| single_word_text(4, &evident_core::query::parse(query).unwrap());
        assert_eq!(
            text("offboarding action:user.*").as_deref(),
            Some("('4:offboarding':*)")
        );
        assert_eq!(text("-rotated Zoë").as_deref(), Some("('4:zoe':*)"));
        assert_eq!(text("lic_93jd").as_deref(), Some("('4:_lic_93jd':*)"));
        assert_eq!(text("ada@acme.example"), None);
        assert_eq!(text("secret key"), None);
        assert_eq!(text("action:user.login"), None);
    }

    #[test]
    fn like_keeps_star_and_escapes_the_rest() {
        assert_eq!(like_pattern("user.*"), "user.%");
        assert_eq!(like_pattern("a_b%c\\"), "a\\_b\\%c\\\\");
    }
}
