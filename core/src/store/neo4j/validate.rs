//! Input rules of the store contract, enforced the same way as by the embedded store.

use crate::store::properties::flatten;
use crate::store::{Properties, StoreError, StoreResult};
use chrono::{SecondsFormat, Utc};

/// Longest id or type name accepted (bytes).
const MAX_NAME_BYTES: usize = 256;
/// Filters per query.
pub(super) const MAX_FILTERS: usize = 32;
const MAX_PROPERTY_NAME_BYTES: usize = 128;

/// Current time as RFC 3339 UTC with milliseconds (fixed width, so it sorts as text).
pub(super) fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

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

/// A property name usable in a filter: letters, digits, `_` and `-` only.
pub(super) fn check_property_name(name: &str) -> StoreResult<()> {
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

/// Flattened properties without `null` values: a missing key and `null` mean the same.
pub(super) fn stored_properties(props: Properties) -> Properties {
    flatten(props)
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .collect()
}
