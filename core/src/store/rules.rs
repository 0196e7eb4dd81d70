//! Input rules of the store contract, enforced the same way by every backend.

use super::{Properties, StoreError, StoreResult};

/// Longest id or type name accepted (bytes).
const MAX_NAME_BYTES: usize = 256;
/// Filters per query; far below SQLite's bound-parameter limit.
const MAX_FILTERS: usize = 32;
const MAX_PROPERTY_NAME_BYTES: usize = 128;

/// Ids and type names: non-blank, bounded, printable.
pub(crate) fn check_name(what: &str, value: &str) -> StoreResult<()> {
    if value.trim().is_empty()
        || value.len() > MAX_NAME_BYTES
        || value.chars().any(char::is_control)
    {
        return Err(StoreError::Invalid(format!(
            "{what} must be 1 to {MAX_NAME_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}

/// A property name usable in a filter (and in a SQLite JSON path): letters, digits, `_` and `-`
/// only, so it cannot change the path's meaning (no `.`, `[`, `"`).
fn check_property_name(name: &str) -> StoreResult<()> {
    let valid = !name.is_empty()
        && name.len() <= MAX_PROPERTY_NAME_BYTES
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "property name {name:?} must be 1 to {MAX_PROPERTY_NAME_BYTES} letters, digits, '_' or '-'"
        )))
    }
}

/// The property filters of a query: a bounded number, each on a valid property name.
pub(crate) fn check_filters(filters: &Properties) -> StoreResult<()> {
    if filters.len() > MAX_FILTERS {
        return Err(StoreError::Invalid(format!(
            "at most {MAX_FILTERS} property filters"
        )));
    }
    filters
        .keys()
        .try_for_each(|name| check_property_name(name))
}
