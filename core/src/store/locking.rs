//! The lock rules every backend applies to node properties (`lockedBy`, `lockedAt`,
//! `lockExpiresAt`, `version`), the layout upstream Mimir uses, so agents see the same fields on
//! every backend. Backends only load and save the properties, atomically.

use super::{LockOutcome, Properties, StoreError, StoreResult};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::Value;

const LOCKED_BY: &str = "lockedBy";
const LOCKED_AT: &str = "lockedAt";
const EXPIRES_AT: &str = "lockExpiresAt";
const VERSION: &str = "version";

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// When a lock taken at `now` for `timeout_ms` expires; a zero or unrepresentable timeout is
/// `Invalid`.
pub(crate) fn expiry(now: DateTime<Utc>, timeout_ms: u64) -> StoreResult<DateTime<Utc>> {
    i64::try_from(timeout_ms)
        .ok()
        .filter(|ms| *ms > 0)
        .and_then(TimeDelta::try_milliseconds)
        .and_then(|timeout| now.checked_add_signed(timeout))
        .ok_or_else(|| StoreError::Invalid(format!("lock timeout {timeout_ms} ms is out of range")))
}

/// The agent holding an unexpired lock and its expiry. An expiry that does not parse counts as
/// expired: a lock nobody can verify must not block the node forever.
fn holder(props: &Properties, now: DateTime<Utc>) -> Option<(&str, &str)> {
    let agent = props.get(LOCKED_BY)?.as_str()?;
    let expires = props.get(EXPIRES_AT)?.as_str()?;
    let live = DateTime::parse_from_rfc3339(expires).is_ok_and(|at| at > now);
    live.then_some((agent, expires))
}

fn unlock(props: &mut Properties) {
    for key in [LOCKED_BY, LOCKED_AT, EXPIRES_AT] {
        props.remove(key);
    }
}

/// Claims the lock in `props` for `agent` until `expires`: `Acquired` (and `props` changed, to
/// be saved) when unlocked, expired or already held by `agent`; otherwise `HeldBy`, unchanged.
pub(crate) fn claim(
    props: &mut Properties,
    agent: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> LockOutcome {
    if let Some((holder, expires_at)) = holder(props, now) {
        if holder != agent {
            return LockOutcome::HeldBy {
                agent_id: holder.to_owned(),
                expires_at: expires_at.to_owned(),
            };
        }
    }
    let version = props
        .get(VERSION)
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .saturating_add(1);
    let expires_at = timestamp(expires);
    props.insert(LOCKED_BY.into(), agent.into());
    props.insert(LOCKED_AT.into(), timestamp(now).into());
    props.insert(EXPIRES_AT.into(), expires_at.clone().into());
    props.insert(VERSION.into(), version.into());
    LockOutcome::Acquired {
        version,
        expires_at,
    }
}

/// Releases the lock in `props` when `agent` holds it: `Released` (and `props` changed, to be
/// saved); otherwise `NotHeld`, unchanged.
pub(crate) fn release(props: &mut Properties, agent: &str) -> LockOutcome {
    if props.get(LOCKED_BY).and_then(Value::as_str) != Some(agent) {
        return LockOutcome::NotHeld;
    }
    unlock(props);
    LockOutcome::Released
}

/// Removes an expired lock from `props` (of a node with a `lockedBy`); whether it did, so that
/// the properties need saving.
pub(crate) fn clear_expired(props: &mut Properties, now: DateTime<Utc>) -> bool {
    let expired = holder(props, now).is_none();
    if expired {
        unlock(props);
    }
    expired
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unreadable_or_past_expiry_is_no_holder() {
        let now = Utc::now();
        let props = |expires: &str| -> Properties {
            serde_json::from_value(json!({"lockedBy": "a", "lockExpiresAt": expires}))
                .expect("props")
        };
        assert!(holder(&props("not a time"), now).is_none());
        assert!(holder(&props("2000-01-01T00:00:00Z"), now).is_none());
        assert_eq!(
            holder(&props("2999-01-01T00:00:00Z"), now),
            Some(("a", "2999-01-01T00:00:00Z"))
        );
    }
}
