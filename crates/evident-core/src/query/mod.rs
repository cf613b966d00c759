//! The query language (docs/query-language.md): one line of clauses that
//! parses into a [`Filter`], and a printer that writes any filter the parser
//! can produce back as a line that parses to an equal filter.
//!
//! ```text
//! query   = clause *( SP clause )              ; clauses AND together
//! clause  = [ "-" ] ( key ":" values / text )  ; "-" excludes
//! values  = value *( "," value )               ; a comma means OR within one key
//! ```
//!
//! Filters the parser never produces, and which therefore need not print
//! faithfully: a [`TextTerm::Word`] that is empty, holds white space or a
//! double quote, starts with `-` or with a known `key:`; a [`TargetMatch`]
//! without a type whose id holds `:`; an [`ActorMatch::Exact`] ending in `*`.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::access::is_valid_tenant_id;
use crate::event::{Outcome, is_valid_action};
use crate::filter::{
    ActorMatch, AgeUnit, Clause, Condition, Filter, TargetMatch, TextTerm, TimeBound,
};

/// A query that does not parse: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct QueryError {
    /// 0-based character offset into the query.
    pub position: usize,
    /// What the parser expected at that position, in words.
    pub expected: String,
    /// The whole explanation.
    pub message: String,
}

impl QueryError {
    fn new(position: usize, expected: impl Into<String>, message: impl Into<String>) -> QueryError {
        QueryError {
            position,
            expected: expected.into(),
            message: message.into(),
        }
    }
}

/// The keys of `key:value` clauses.
pub const KEYS: [&str; 10] = [
    "action", "category", "actor", "target", "channel", "outcome", "ip", "tenant", "from", "to",
];

/// Parses a query-language line.
pub fn parse(input: &str) -> Result<Filter, QueryError> {
    refuse_nul(input)?;
    let mut cursor = Cursor::new(input);
    let mut filter = Filter::default();
    while cursor.skip_space() {
        filter.clauses.push(cursor.clause(true)?);
    }
    Ok(filter)
}

/// Parses free text only (the `q` parameter): bare words, quoted phrases,
/// `-` to exclude. `action:x` here is just the word `action:x`.
pub fn parse_text(input: &str) -> Result<Vec<Clause>, QueryError> {
    refuse_nul(input)?;
    let mut cursor = Cursor::new(input);
    let mut clauses = Vec::new();
    while cursor.skip_space() {
        clauses.push(cursor.clause(false)?);
    }
    Ok(clauses)
}

/// No stored text holds U+0000 (events refuse it), so no query may ask for it.
fn refuse_nul(input: &str) -> Result<(), QueryError> {
    match input.chars().position(|character| character == '\0') {
        Some(position) => Err(QueryError::new(
            position,
            "any character but NUL (U+0000)",
            format!("the NUL character (U+0000) at {position} cannot match anything stored"),
        )),
        None => Ok(()),
    }
}

/// A position in the input, counted in characters.
struct Cursor {
    chars: Vec<char>,
    position: usize,
}

impl Cursor {
    fn new(input: &str) -> Cursor {
        Cursor {
            chars: input.chars().collect(),
            position: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.position).copied()
    }

    fn at_clause_end(&self) -> bool {
        self.peek().is_none_or(char::is_whitespace)
    }

    /// Skips white space; whether anything follows.
    fn skip_space(&mut self) -> bool {
        while self.peek().is_some_and(char::is_whitespace) {
            self.position += 1;
        }
        self.peek().is_some()
    }

    fn clause(&mut self, with_keys: bool) -> Result<Clause, QueryError> {
        let start = self.position;
        let negated = self.peek() == Some('-')
            && self
                .chars
                .get(start + 1)
                .is_some_and(|next| !next.is_whitespace());
        if negated {
            self.position += 1;
        }
        if self.peek() == Some('"') {
            let phrase = self.quoted()?;
            self.expect_clause_end()?;
            return Ok(Clause {
                negated,
                condition: Condition::Text(TextTerm::Phrase(phrase)),
            });
        }
        let word_start = self.position;
        while !self.at_clause_end() && !matches!(self.peek(), Some(':') | Some('"')) {
            self.position += 1;
        }
        let head: String = self.chars[word_start..self.position].iter().collect();
        if with_keys && self.peek() == Some(':') && KEYS.contains(&head.as_str()) {
            self.position += 1;
            let condition = self.key_values(&head, start)?;
            if negated && matches!(condition, Condition::From(_) | Condition::To(_)) {
                return Err(QueryError::new(
                    start,
                    format!("{head}: without \"-\""),
                    format!(
                        "{head}: cannot be negated; write the other bound instead (from: / to:)"
                    ),
                ));
            }
            return Ok(Clause { negated, condition });
        }
        // Free text: the rest of the token.
        while !self.at_clause_end() {
            if self.peek() == Some('"') {
                return Err(QueryError::new(
                    self.position,
                    "white space before a quoted phrase",
                    "a double quote may only open a phrase at the start of a term",
                ));
            }
            self.position += 1;
        }
        let word: String = self.chars[word_start..self.position].iter().collect();
        Ok(Clause {
            negated,
            condition: Condition::Text(TextTerm::Word(word)),
        })
    }

    fn expect_clause_end(&self) -> Result<(), QueryError> {
        if self.at_clause_end() {
            Ok(())
        } else {
            Err(QueryError::new(
                self.position,
                "white space or the end of the query",
                format!(
                    "unexpected {:?} after a closing quote",
                    self.peek().unwrap_or(' ')
                ),
            ))
        }
    }

    /// A double-quoted string with `\"` and `\\` escapes; the cursor is on the opening quote.
    fn quoted(&mut self) -> Result<String, QueryError> {
        let open = self.position;
        self.position += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(QueryError::new(
                        self.position,
                        "a closing double quote",
                        format!("the quote opened at position {open} is not closed"),
                    ));
                }
                Some('"') => {
                    self.position += 1;
                    return Ok(text);
                }
                Some('\\') => {
                    self.position += 1;
                    match self.peek() {
                        Some(escaped) => {
                            text.push(escaped);
                            self.position += 1;
                        }
                        None => {
                            return Err(QueryError::new(
                                self.position,
                                "a character after \\",
                                "the query ends after a backslash",
                            ));
                        }
                    }
                }
                Some(character) => {
                    text.push(character);
                    self.position += 1;
                }
            }
        }
    }

    /// Comma-separated values after `key:`, each with its position.
    fn values(&mut self, key: &str) -> Result<Vec<(usize, String)>, QueryError> {
        let mut values = Vec::new();
        loop {
            let start = self.position;
            let value = if self.peek() == Some('"') {
                self.quoted()?
            } else {
                while !self.at_clause_end() && !matches!(self.peek(), Some(',') | Some('"')) {
                    self.position += 1;
                }
                self.chars[start..self.position].iter().collect()
            };
            if value.is_empty() {
                return Err(QueryError::new(
                    start,
                    format!("a value for {key}:"),
                    format!("{key}: needs a value here"),
                ));
            }
            values.push((start, value));
            match self.peek() {
                Some(',') => self.position += 1,
                None => return Ok(values),
                Some(character) if character.is_whitespace() => return Ok(values),
                Some(character) => {
                    return Err(QueryError::new(
                        self.position,
                        "a comma, white space or the end of the query",
                        format!("unexpected {character:?} in the values of {key}:"),
                    ));
                }
            }
        }
    }

    fn key_values(&mut self, key: &str, clause_start: usize) -> Result<Condition, QueryError> {
        let values = self.values(key)?;
        let invalid = |position: usize, expected: &str, message: String| {
            QueryError::new(position, expected, message)
        };
        let each = |check: &dyn Fn(&str) -> Option<String>,
                    expected: &str|
         -> Result<Vec<String>, QueryError> {
            values
                .iter()
                .map(|(position, value)| match check(value) {
                    None => Ok(value.clone()),
                    Some(problem) => Err(invalid(*position, expected, problem)),
                })
                .collect()
        };
        Ok(match key {
            "action" => Condition::Action(each(
                &|value| {
                    let literal = value.replace('*', "");
                    (!(literal.is_empty() || is_valid_action(&literal)) || value.len() > 256)
                        .then(|| format!("{value:?} is not an action (letters, digits, _ . : / - and * globs)"))
                },
                "an action such as user.login or a glob such as user.*",
            )?),
            "category" => Condition::Category(each(&|_| None, "a category")?),
            "channel" => Condition::Channel(each(&|_| None, "a channel")?),
            "tenant" => Condition::Tenant(each(
                &|value| {
                    (!is_valid_tenant_id(value))
                        .then(|| format!("{value:?} is not a tenant id (a-z, 0-9, _ and -)"))
                },
                "a tenant id",
            )?),
            "actor" => Condition::Actor(
                values
                    .iter()
                    .map(|(position, value)| match value.strip_suffix('*') {
                        Some("") => Err(invalid(
                            *position,
                            "text before *",
                            "actor:* needs the start of an email before the *".to_owned(),
                        )),
                        Some(prefix) => Ok(ActorMatch::EmailPrefix(prefix.to_owned())),
                        None => Ok(ActorMatch::Exact(value.clone())),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "target" => Condition::Target(
                values
                    .iter()
                    .map(|(position, value)| match value.split_once(':') {
                        Some((kind, id)) if !kind.is_empty() && !id.is_empty() => Ok(TargetMatch {
                            target_type: Some(kind.to_owned()),
                            id: id.to_owned(),
                        }),
                        Some(_) => Err(invalid(
                            *position,
                            "type:id",
                            format!("{value:?} is not type:id"),
                        )),
                        None => Ok(TargetMatch {
                            target_type: None,
                            id: value.clone(),
                        }),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "outcome" => Condition::Outcome(
                values
                    .iter()
                    .map(|(position, value)| {
                        Outcome::parse(value).ok_or_else(|| {
                            invalid(
                                *position,
                                "success or failure",
                                format!("{value:?} is not an outcome (success or failure)"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "ip" => Condition::Ip(
                values
                    .iter()
                    .map(|(position, value)| {
                        value
                            .parse::<IpAddr>()
                            .map(IpNet::from)
                            .or_else(|_| value.parse::<IpNet>())
                            .map_err(|_| {
                                invalid(
                                    *position,
                                    "an IP address or a CIDR network",
                                    format!("{value:?} is not an IP address or CIDR network"),
                                )
                            })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "from" | "to" => {
                let [(position, value)] = values.as_slice() else {
                    return Err(invalid(
                        clause_start,
                        "one time",
                        format!("{key}: takes exactly one time"),
                    ));
                };
                let bound = parse_time(value).ok_or_else(|| {
                    invalid(
                        *position,
                        "an RFC 3339 time, a date (YYYY-MM-DD) or an age such as 7d",
                        format!("{value:?} is not a time, a date or an age (15m, 24h, 7d, 2w)"),
                    )
                })?;
                if key == "from" {
                    Condition::From(bound)
                } else {
                    Condition::To(bound)
                }
            }
            _ => unreachable!("KEYS lists every key matched above"),
        })
    }
}

fn parse_time(value: &str) -> Option<TimeBound> {
    if let Ok(instant) = value.parse::<Timestamp>() {
        return Some(TimeBound::Instant(instant));
    }
    if value.len() == 10
        && let Ok(date) = value.parse::<Date>()
    {
        return Some(TimeBound::Date(date));
    }
    let unit = AgeUnit::from_suffix(value.chars().last()?)?;
    let digits = &value[..value.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(TimeBound::Ago {
        amount: digits.parse().ok()?,
        unit,
    })
}

/// A value as written in a query: bare when that reads back the same, else quoted.
fn value(text: &str) -> String {
    let bare = !text.is_empty()
        && !text
            .chars()
            .any(|character| character.is_whitespace() || matches!(character, '"' | ',' | '\\'));
    if bare { text.to_owned() } else { quote(text) }
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

impl fmt::Display for TimeBound {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeBound::Instant(instant) => write!(formatter, "{instant}"),
            TimeBound::Date(date) => write!(formatter, "{date}"),
            TimeBound::Ago { amount, unit } => write!(formatter, "{amount}{}", unit.suffix()),
        }
    }
}

impl fmt::Display for Clause {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negated {
            formatter.write_str("-")?;
        }
        let list = |key: &str, values: Vec<String>| format!("{key}:{}", values.join(","));
        let text = match &self.condition {
            Condition::Action(values) => {
                list("action", values.iter().map(|item| value(item)).collect())
            }
            Condition::Category(values) => {
                list("category", values.iter().map(|item| value(item)).collect())
            }
            Condition::Channel(values) => {
                list("channel", values.iter().map(|item| value(item)).collect())
            }
            Condition::Tenant(values) => {
                list("tenant", values.iter().map(|item| value(item)).collect())
            }
            Condition::Actor(matches) => list(
                "actor",
                matches
                    .iter()
                    .map(|actor| match actor {
                        ActorMatch::Exact(text) => value(text),
                        ActorMatch::EmailPrefix(prefix) => value(&format!("{prefix}*")),
                    })
                    .collect(),
            ),
            Condition::Target(targets) => list(
                "target",
                targets
                    .iter()
                    .map(|target| match &target.target_type {
                        Some(kind) => value(&format!("{kind}:{}", target.id)),
                        None => value(&target.id),
                    })
                    .collect(),
            ),
            Condition::Outcome(outcomes) => list(
                "outcome",
                outcomes
                    .iter()
                    .map(|outcome| outcome.as_str().to_owned())
                    .collect(),
            ),
            Condition::Ip(networks) => list(
                "ip",
                networks
                    .iter()
                    .map(|network| {
                        if network.prefix_len() == network.max_prefix_len() {
                            network.addr().to_string()
                        } else {
                            network.to_string()
                        }
                    })
                    .collect(),
            ),
            Condition::From(bound) => format!("from:{bound}"),
            Condition::To(bound) => format!("to:{bound}"),
            Condition::Text(TextTerm::Word(word)) => word.clone(),
            Condition::Text(TextTerm::Phrase(phrase)) => quote(phrase),
        };
        formatter.write_str(&text)
    }
}

/// Prints the filter in the query language; `parse` reads it back equal.
impl fmt::Display for Filter {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, clause) in self.clauses.iter().enumerate() {
            if index > 0 {
                formatter.write_str(" ")?;
            }
            write!(formatter, "{clause}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn clause(negated: bool, condition: Condition) -> Clause {
        Clause { negated, condition }
    }

    fn word(text: &str) -> Condition {
        Condition::Text(TextTerm::Word(text.to_owned()))
    }

    #[test]
    fn parses_the_documented_example() {
        let filter =
            parse(r#"action:user.*,license.revoked -outcome:success actor:ada@* from:2026-01-01 to:2026-03-31 "secret key""#)
                .unwrap();
        assert_eq!(
            filter.clauses,
            vec![
                clause(
                    false,
                    Condition::Action(vec!["user.*".into(), "license.revoked".into()])
                ),
                clause(true, Condition::Outcome(vec![Outcome::Success])),
                clause(
                    false,
                    Condition::Actor(vec![ActorMatch::EmailPrefix("ada@".into())])
                ),
                clause(
                    false,
                    Condition::From(TimeBound::Date("2026-01-01".parse().unwrap()))
                ),
                clause(
                    false,
                    Condition::To(TimeBound::Date("2026-03-31".parse().unwrap()))
                ),
                clause(
                    false,
                    Condition::Text(TextTerm::Phrase("secret key".into()))
                ),
            ]
        );
    }

    #[test]
    fn parses_each_key() {
        let cases: Vec<(&str, Condition)> = vec![
            (
                "category:security",
                Condition::Category(vec!["security".into()]),
            ),
            (
                "actor:usr_1,ada@acme.example",
                Condition::Actor(vec![
                    ActorMatch::Exact("usr_1".into()),
                    ActorMatch::Exact("ada@acme.example".into()),
                ]),
            ),
            (
                "target:license:lic_9",
                Condition::Target(vec![TargetMatch {
                    target_type: Some("license".into()),
                    id: "lic_9".into(),
                }]),
            ),
            (
                "target:lic_9",
                Condition::Target(vec![TargetMatch {
                    target_type: None,
                    id: "lic_9".into(),
                }]),
            ),
            (
                "channel:portal,api",
                Condition::Channel(vec!["portal".into(), "api".into()]),
            ),
            (
                "ip:203.0.113.7",
                Condition::Ip(vec!["203.0.113.7/32".parse().unwrap()]),
            ),
            (
                "ip:2001:db8::/32",
                Condition::Ip(vec!["2001:db8::/32".parse().unwrap()]),
            ),
            (
                "tenant:acme,globex",
                Condition::Tenant(vec!["acme".into(), "globex".into()]),
            ),
            (
                "from:7d",
                Condition::From(TimeBound::Ago {
                    amount: 7,
                    unit: AgeUnit::Days,
                }),
            ),
            (
                "to:2026-05-02T10:11:12Z",
                Condition::To(TimeBound::Instant("2026-05-02T10:11:12Z".parse().unwrap())),
            ),
            (
                "actor:\"Ada Lovelace\"",
                Condition::Actor(vec![ActorMatch::Exact("Ada Lovelace".into())]),
            ),
            ("foo:bar", word("foo:bar")),
            ("ada@example.com", word("ada@example.com")),
        ];
        for (input, condition) in cases {
            assert_eq!(
                parse(input).unwrap().clauses,
                vec![clause(false, condition)],
                "{input}"
            );
        }
    }

    #[test]
    fn errors_say_where_and_what() {
        let cases = [
            ("action:", 7, "a value for action:"),
            ("action:a,,b", 9, "a value for action:"),
            ("outcome:maybe", 8, "success or failure"),
            ("ip:10.0.0.300", 3, "an IP address or a CIDR network"),
            (
                "from:yesterday",
                5,
                "an RFC 3339 time, a date (YYYY-MM-DD) or an age such as 7d",
            ),
            ("from:1d,2d", 0, "one time"),
            ("-from:7d", 0, "from: without \"-\""),
            ("tenant:Acme", 7, "a tenant id"),
            (
                "action:\"user login\"",
                7,
                "an action such as user.login or a glob such as user.*",
            ),
            ("a \"open", 2 + 5, "a closing double quote"),
            ("\"closed\"x", 8, "white space or the end of the query"),
            ("target:license:", 7, "type:id"),
            ("actor:*", 6, "text before *"),
            ("ab\"c", 2, "white space before a quoted phrase"),
            ("actor:a\u{0}", 7, "any character but NUL (U+0000)"),
        ];
        for (input, position, expected) in cases {
            let error = parse(input).unwrap_err();
            assert_eq!(
                (error.position, error.expected.as_str()),
                (position, expected),
                "{input}: {error}"
            );
        }
    }

    #[test]
    fn the_documented_examples_parse_and_print_back() {
        let crate_dir = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
        let doc = std::fs::read_to_string(
            std::path::Path::new(&crate_dir).join("../../docs/query-language.md"),
        )
        .unwrap();
        let block = doc
            .split("```query\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a query block");
        let examples: Vec<&str> = block
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect();
        assert!(examples.len() >= 10);
        for example in examples {
            let filter = parse(example).unwrap_or_else(|error| panic!("{example}: {error}"));
            assert_eq!(parse(&filter.to_string()), Ok(filter), "{example}");
        }
        let error = parse("action:").unwrap_err();
        assert!(
            doc.contains(&format!("\"detail\": \"{error}\"")),
            "the documented error is the real one: {error}"
        );
    }

    #[test]
    fn free_text_only_for_q() {
        let clauses = parse_text("action:x -secret \"two words\"").unwrap();
        assert_eq!(
            clauses,
            vec![
                clause(false, word("action:x")),
                clause(true, word("secret")),
                clause(false, Condition::Text(TextTerm::Phrase("two words".into()))),
            ]
        );
        assert!(parse_text("\"open").is_err());
    }

    #[test]
    fn prints_canonically() {
        let filter =
            parse(r#"-actor:"Ada Lovelace",ada@* ip:10.0.0.1,10.0.0.0/8 "say \"hi\"" from:15m"#)
                .unwrap();
        assert_eq!(
            filter.to_string(),
            r#"-actor:"Ada Lovelace",ada@* ip:10.0.0.1,10.0.0.0/8 "say \"hi\"" from:15m"#
        );
        assert_eq!(Filter::default().to_string(), "");
    }

    fn text_strategy() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 ,:\"\\\\@._*/-]{1,12}"
    }

    fn bare_strategy() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_.@]{1,10}"
    }

    fn condition_strategy() -> impl Strategy<Value = Condition> {
        let action = "[A-Za-z0-9_.:/-]{1,10}\\*?";
        let list = |strategy: BoxedStrategy<String>| proptest::collection::vec(strategy, 1..3);
        let bound = prop_oneof![
            (0i64..4_000_000_000)
                .prop_map(|seconds| TimeBound::Instant(Timestamp::from_second(seconds).unwrap())),
            (1970i16..2100, 1i8..13, 1i8..29).prop_map(|(year, month, day)| TimeBound::Date(
                Date::new(year, month, day).unwrap()
            )),
            (
                0u32..100_000,
                prop_oneof![Just('s'), Just('m'), Just('h'), Just('d'), Just('w')]
            )
                .prop_map(|(amount, suffix)| TimeBound::Ago {
                    amount,
                    unit: AgeUnit::from_suffix(suffix).unwrap()
                }),
        ];
        prop_oneof![
            list(action.boxed()).prop_map(Condition::Action),
            list(text_strategy().boxed()).prop_map(Condition::Category),
            list(text_strategy().boxed()).prop_map(Condition::Channel),
            list("[a-z0-9_-]{1,8}".boxed()).prop_map(Condition::Tenant),
            proptest::collection::vec(
                prop_oneof![
                    "[a-zA-Z0-9 ,:\"@._-]{1,12}".prop_map(ActorMatch::Exact),
                    text_strategy().prop_map(ActorMatch::EmailPrefix),
                ],
                1..3
            )
            .prop_map(Condition::Actor),
            proptest::collection::vec(
                prop_oneof![
                    ("[a-z_]{1,6}", text_strategy()).prop_map(|(kind, id)| TargetMatch {
                        target_type: Some(kind),
                        id
                    }),
                    "[a-zA-Z0-9 ,\"@._-]{1,10}".prop_map(|id| TargetMatch {
                        target_type: None,
                        id
                    }),
                ],
                1..3
            )
            .prop_map(Condition::Target),
            proptest::collection::vec(
                prop_oneof![Just(Outcome::Success), Just(Outcome::Failure)],
                1..3
            )
            .prop_map(Condition::Outcome),
            proptest::collection::vec(
                prop_oneof![
                    (any::<[u8; 4]>(), 0u8..=32).prop_map(|(octets, prefix)| IpNet::new(
                        IpAddr::from(octets),
                        prefix
                    )
                    .unwrap()),
                    (any::<[u8; 16]>(), 0u8..=128).prop_map(|(octets, prefix)| IpNet::new(
                        IpAddr::from(octets),
                        prefix
                    )
                    .unwrap()),
                ],
                1..3
            )
            .prop_map(Condition::Ip),
            bound.clone().prop_map(Condition::From),
            bound.prop_map(Condition::To),
            bare_strategy()
                .prop_filter("not a key", |text| !KEYS
                    .iter()
                    .any(|key| text.starts_with(&format!("{key}:"))))
                .prop_map(|text| Condition::Text(TextTerm::Word(text))),
            text_strategy().prop_map(|text| Condition::Text(TextTerm::Phrase(text))),
        ]
    }

    fn filter_strategy() -> impl Strategy<Value = Filter> {
        proptest::collection::vec((any::<bool>(), condition_strategy()), 0..6).prop_map(|clauses| {
            Filter {
                clauses: clauses
                    .into_iter()
                    .map(|(negated, condition)| {
                        let negatable = !matches!(condition, Condition::From(_) | Condition::To(_));
                        Clause {
                            negated: negated && negatable,
                            condition,
                        }
                    })
                    .collect(),
            }
        })
    }

    proptest! {
        #[test]
        fn any_filter_printed_parses_back_equal(filter in filter_strategy()) {
            let printed = filter.to_string();
            prop_assert_eq!(parse(&printed), Ok(filter), "printed: {}", printed);
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,40}") {
            let _ = parse(&input);
            let _ = parse_text(&input);
        }

        #[test]
        fn whatever_parses_prints_back_to_the_same_filter(input in "[a-z:,\" *@.-]{0,30}") {
            if let Ok(filter) = parse(&input) {
                prop_assert_eq!(parse(&filter.to_string()), Ok(filter));
            }
        }
    }
}
