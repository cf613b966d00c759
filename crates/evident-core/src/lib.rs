//! Evident's pure domain: the event model and its validation, tenants and key
//! scopes, the `Filter` and the query language.
//!
//! **Architecture Invariant:** this crate does no I/O, starts no async
//! runtime and reads no clock: callers pass "now" in. Offline verification
//! and every other crate build on it; it depends on none of them.

pub mod access;
pub mod canonical;
pub mod catalog;
pub mod event;
pub mod export;
pub mod filter;
pub mod log;
pub mod query;
pub mod redact;
pub mod search;
mod time_text;
pub mod ui;
pub mod view;

pub use event::{
    Actor, ActorType, Context, Event, EventLimits, NewEvent, Outcome, Target, Violation,
};
pub use filter::{
    ActorMatch, AgeUnit, BoundSide, Clause, Condition, Filter, TargetMatch, TextTerm, TimeBound,
};
