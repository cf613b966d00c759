//! A category clause read through the action index: each backend keeps the
//! actions every tenant has recorded under each category, so that no event
//! needs an index entry for its category.

use std::borrow::Cow;
use std::collections::BTreeMap;

use evident_core::{Clause, Condition, Filter};

/// `filter` with its first positive category clause read through the action
/// index: the actions the tenants have recorded under those categories
/// (`pairs` lists each `(action, category)` once or more, and is read only
/// when the filter has such a clause), which the page then reads as branches
/// of their own, or, with an action clause of exact names, those of its
/// actions that are in the categories. The category is still checked on each
/// row only when one of those actions was also recorded under another
/// category (a catalog changed), so that a total is otherwise counted from
/// the action index alone; a clause that every action of the tenants
/// satisfies is dropped.
pub(crate) fn through_actions<'f, E>(
    filter: &'f Filter,
    pairs: impl FnOnce() -> Result<Vec<(String, String)>, E>,
) -> Result<Cow<'f, Filter>, E> {
    let Some((position, categories)) =
        filter
            .clauses
            .iter()
            .enumerate()
            .find_map(|(position, clause)| match &clause.condition {
                Condition::Category(categories) if !clause.negated => Some((position, categories)),
                _ => None,
            })
    else {
        return Ok(Cow::Borrowed(filter));
    };
    // Every action of the tenants, and whether each is only, partly or never
    // in the categories.
    let mut actions: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for (action, category) in pairs()? {
        let (inside, outside) = actions.entry(action).or_default();
        if categories.contains(&category) {
            *inside = true;
        } else {
            *outside = true;
        }
    }
    let mixed = actions
        .values()
        .any(|(inside, outside)| *inside && *outside);
    let mut filter = filter.clone();
    if !mixed && actions.values().all(|(inside, _)| *inside) {
        filter.clauses.remove(position);
        return Ok(Cow::Owned(filter));
    }
    let in_categories = |action: &String| actions.get(action).is_some_and(|(inside, _)| *inside);
    // A positive clause of exact actions, which the categories narrow.
    let listed = filter.clauses.iter().position(|clause| {
        !clause.negated
            && matches!(&clause.condition,
                Condition::Action(names) if names.iter().all(|name| !name.contains('*')))
    });
    let names: Vec<String> = match listed.map(|listed| &filter.clauses[listed].condition) {
        Some(Condition::Action(names)) => names
            .iter()
            .filter(|name| in_categories(name))
            .cloned()
            .collect(),
        _ => actions
            .keys()
            .filter(|action| in_categories(action))
            .cloned()
            .collect(),
    };
    let by_action = Clause {
        negated: false,
        condition: Condition::Action(names),
    };
    match (listed, mixed) {
        (Some(listed), true) => filter.clauses[listed] = by_action,
        (Some(listed), false) => {
            filter.clauses[listed] = by_action;
            filter.clauses.remove(position);
        }
        (None, true) => filter.clauses.insert(position, by_action),
        (None, false) => filter.clauses[position] = by_action,
    }
    Ok(Cow::Owned(filter))
}
