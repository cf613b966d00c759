//! The `Filter`: what a query asks for, whether it came as HTTP parameters or
//! as a query-language string. Both parse into this one shape.
//!
//! A filter is a list of clauses that all must hold (AND). Within one clause
//! the values are alternatives (OR). A clause can be negated (`-key:value`).

use ipnet::IpNet;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::event::Outcome;

/// A conjunction of clauses. The empty filter matches every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub clauses: Vec<Clause>,
}

/// One condition, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub negated: bool,
    pub condition: Condition,
}

/// What one clause tests. List variants hold alternatives (any may match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Exact actions or globs where `*` stands for any run of characters (`user.*`).
    Action(Vec<String>),
    Category(Vec<String>),
    Actor(Vec<ActorMatch>),
    Target(Vec<TargetMatch>),
    Channel(Vec<String>),
    Outcome(Vec<Outcome>),
    /// Addresses are networks with a full-length prefix.
    Ip(Vec<IpNet>),
    /// Restricts a query over a tenant and its descendants to these tenants.
    Tenant(Vec<String>),
    /// `occurred_at` at or after this bound.
    From(TimeBound),
    /// `occurred_at` at or before this bound (a date includes that whole day).
    To(TimeBound),
    /// Free text: every word must match a whole word or a word prefix.
    Text(TextTerm),
}

/// Matches an actor by id or email (exactly), or by an email prefix (`ada@*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorMatch {
    /// Equal to the actor's id, or (case-insensitively) to its email.
    Exact(String),
    /// The actor's email starts with this (case-insensitively); written with a trailing `*`.
    EmailPrefix(String),
}

/// Matches a target by `type:id`, or by id alone when no type is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetMatch {
    pub target_type: Option<String>,
    pub id: String,
}

/// A point in time as the user wrote it: resolved against "now" only when a
/// query runs, so that a printed filter keeps saying `7d`, not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeBound {
    Instant(Timestamp),
    Date(Date),
    /// That long before now.
    Ago {
        amount: u32,
        unit: AgeUnit,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
}

impl AgeUnit {
    pub fn suffix(self) -> char {
        match self {
            AgeUnit::Seconds => 's',
            AgeUnit::Minutes => 'm',
            AgeUnit::Hours => 'h',
            AgeUnit::Days => 'd',
            AgeUnit::Weeks => 'w',
        }
    }

    pub fn from_suffix(suffix: char) -> Option<AgeUnit> {
        Some(match suffix {
            's' => AgeUnit::Seconds,
            'm' => AgeUnit::Minutes,
            'h' => AgeUnit::Hours,
            'd' => AgeUnit::Days,
            'w' => AgeUnit::Weeks,
            _ => return None,
        })
    }

    fn seconds(self) -> i64 {
        match self {
            AgeUnit::Seconds => 1,
            AgeUnit::Minutes => 60,
            AgeUnit::Hours => 3_600,
            AgeUnit::Days => 86_400,
            AgeUnit::Weeks => 604_800,
        }
    }
}

/// A free-text term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextTerm {
    /// Each word of it must match a whole word or a word prefix.
    Word(String),
    /// The words in this order, whole.
    Phrase(String),
}

impl TextTerm {
    pub fn text(&self) -> &str {
        match self {
            TextTerm::Word(text) | TextTerm::Phrase(text) => text,
        }
    }
}

/// Which end of a range a bound closes; a date means a whole day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundSide {
    From,
    To,
}

impl TimeBound {
    /// The bound as microseconds since the Unix epoch, resolved against `now`.
    ///
    /// `From` is inclusive of the returned instant, `To` too: a `to` date
    /// resolves to the last microsecond of that day (UTC).
    pub fn resolve_micros(&self, side: BoundSide, now: Timestamp) -> i64 {
        match self {
            TimeBound::Instant(instant) => instant.as_microsecond(),
            TimeBound::Date(date) => {
                let start = date
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .map(|zoned| zoned.timestamp().as_microsecond())
                    .unwrap_or(i64::MIN);
                match side {
                    BoundSide::From => start,
                    BoundSide::To => start.saturating_add(86_400_000_000 - 1),
                }
            }
            TimeBound::Ago { amount, unit } => {
                let micros = i64::from(*amount)
                    .saturating_mul(unit.seconds())
                    .saturating_mul(1_000_000);
                now.as_microsecond().saturating_sub(micros)
            }
        }
    }
}

impl Filter {
    /// Adds a clause (builder style).
    pub fn with(mut self, negated: bool, condition: Condition) -> Filter {
        self.clauses.push(Clause { negated, condition });
        self
    }

    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// The condition of a filter that is one positive clause and nothing
    /// else (what a store can often answer from one index or one count).
    pub fn sole_condition(&self) -> Option<&Condition> {
        match self.clauses.as_slice() {
            [
                Clause {
                    negated: false,
                    condition,
                },
            ] => Some(condition),
            _ => None,
        }
    }
}
