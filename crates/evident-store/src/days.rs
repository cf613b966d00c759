//! Totals of a time range from counts kept by the day: both backends keep
//! each tenant's events counted by the day (UTC) they occurred, so that a
//! total of a time range alone sums the whole days it spans and counts in
//! the time index only the partial days at its two ends.

use evident_core::{BoundSide, Condition, Filter};
use jiff::Timestamp;

/// Microseconds in a day.
pub(crate) const DAY_MICROS: i64 = 86_400_000_000;

/// The day (UTC, numbered from 1970-01-01) of an instant in microseconds,
/// as the day counts number it.
pub(crate) fn event_day(micros: i64) -> i64 {
    micros.div_euclid(DAY_MICROS)
}

/// The bounds of a filter that is time bounds and nothing else: the first
/// and last microsecond of `occurred_at` it admits (None: unbounded on that
/// side), as its SQL compares them. None for any other filter.
pub(crate) fn time_range(filter: &Filter, now: Timestamp) -> Option<(Option<i64>, Option<i64>)> {
    if filter.clauses.is_empty() {
        return None;
    }
    let (mut from, mut to) = (None::<i64>, None::<i64>);
    for clause in &filter.clauses {
        match (&clause.condition, clause.negated) {
            (Condition::From(bound), false) => {
                let micros = bound.resolve_micros(BoundSide::From, now);
                from = Some(from.map_or(micros, |from| from.max(micros)));
            }
            (Condition::To(bound), false) => {
                let micros = bound.resolve_micros(BoundSide::To, now);
                to = Some(to.map_or(micros, |to| to.min(micros)));
            }
            _ => return None,
        }
    }
    Some((from, to))
}

/// How the total of a time range is counted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeTotal {
    /// The range is empty (`from` after `to`): no event.
    Empty,
    /// No whole day lies within it: counted in the time index (at most two days of it).
    Partial,
    /// The whole days from `first` up to `past` (None: unbounded) summed
    /// from the day counts, and each edge (`[low, high)` in microseconds,
    /// at most two) counted in the time index.
    Days {
        first: Option<i64>,
        past: Option<i64>,
        edges: Vec<(i64, i64)>,
    },
}

/// How to count the events from `from` to `to` (inclusive, microseconds;
/// None: unbounded).
pub(crate) fn range_total(from: Option<i64>, to: Option<i64>) -> RangeTotal {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return RangeTotal::Empty;
    }
    // The whole days within: from the first that starts at or after `from`
    // to the last that ends at or before `to`.
    let first = from.map(|from| event_day(from) + i64::from(from.rem_euclid(DAY_MICROS) != 0));
    let past = to.map(|to| event_day(to) + i64::from(to.rem_euclid(DAY_MICROS) == DAY_MICROS - 1));
    if let (Some(first), Some(past)) = (first, past)
        && first >= past
    {
        return RangeTotal::Partial;
    }
    // The partial days: `from` up to the first whole day, and past the last up to `to`.
    let mut edges = Vec::new();
    if let (Some(from), Some(first)) = (from, first) {
        edges.push((from, first.saturating_mul(DAY_MICROS)));
    }
    if let (Some(to), Some(past)) = (to, past) {
        edges.push((past.saturating_mul(DAY_MICROS), to.saturating_add(1)));
    }
    edges.retain(|(low, high)| low < high);
    RangeTotal::Days { first, past, edges }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = DAY_MICROS;

    #[test]
    fn a_range_is_its_whole_days_and_the_partial_days_at_its_ends() {
        // Noon of day 10 to noon of day 13: days 11 and 12 whole, two half days.
        assert_eq!(
            range_total(Some(10 * DAY + DAY / 2), Some(13 * DAY + DAY / 2)),
            RangeTotal::Days {
                first: Some(11),
                past: Some(13),
                edges: vec![
                    (10 * DAY + DAY / 2, 11 * DAY),
                    (13 * DAY, 13 * DAY + DAY / 2 + 1)
                ],
            }
        );
        // Midnight to the last microsecond of a day: whole days, no edge.
        assert_eq!(
            range_total(Some(10 * DAY), Some(12 * DAY - 1)),
            RangeTotal::Days {
                first: Some(10),
                past: Some(12),
                edges: vec![],
            }
        );
        // Open ends: every day before or after, one edge at most.
        assert_eq!(
            range_total(None, Some(5 * DAY)),
            RangeTotal::Days {
                first: None,
                past: Some(5),
                edges: vec![(5 * DAY, 5 * DAY + 1)],
            }
        );
        assert_eq!(
            range_total(Some(-DAY - 1), None),
            RangeTotal::Days {
                first: Some(-1),
                past: None,
                edges: vec![(-DAY - 1, -DAY)],
            }
        );
        // Within a day or two with no whole day between: the index alone.
        assert_eq!(
            range_total(Some(10 * DAY + 1), Some(11 * DAY + 5)),
            RangeTotal::Partial
        );
        assert_eq!(range_total(Some(5), Some(4)), RangeTotal::Empty);
    }
}
