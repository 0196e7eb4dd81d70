//! Advisory node locks in node properties (`lockedBy`, `lockedAt`, `lockExpiresAt`, `version`),
//! with the embedded store's rules. Check and claim run in one transaction that holds the
//! node's write lock, so two agents cannot both win.

use super::exec::{finish, txn_rows};
use super::read::nodes_of;
use super::validate::check_name;
use super::write::{lock_node, save_properties};
use crate::store::{LockOutcome, Properties, StoreError, StoreResult};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use neo4rs::{query, Graph, Txn};
use serde_json::Value;

const LOCKED_BY: &str = "lockedBy";
const LOCKED_AT: &str = "lockedAt";
const EXPIRES_AT: &str = "lockExpiresAt";
const VERSION: &str = "version";

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
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

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("node {id}"))
}

pub(super) async fn acquire(
    graph: &Graph,
    id: &str,
    agent: &str,
    timeout_ms: u64,
) -> StoreResult<LockOutcome> {
    check_name("agent id", agent)?;
    let now = Utc::now();
    let expires = i64::try_from(timeout_ms)
        .ok()
        .filter(|ms| *ms > 0)
        .and_then(TimeDelta::try_milliseconds)
        .and_then(|timeout| now.checked_add_signed(timeout))
        .ok_or_else(|| {
            StoreError::Invalid(format!("lock timeout {timeout_ms} ms is out of range"))
        })?;
    let mut txn = graph.start_txn().await?;
    let outcome = claim(&mut txn, id, agent, now, expires).await;
    finish(txn, outcome).await
}

async fn claim(
    txn: &mut Txn,
    id: &str,
    agent: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> StoreResult<LockOutcome> {
    let old = lock_node(txn, id)
        .await?
        .ok_or_else(|| not_found(id))?
        .properties;
    if let Some((holder, expires_at)) = holder(&old, now) {
        if holder != agent {
            return Ok(LockOutcome::HeldBy {
                agent_id: holder.to_owned(),
                expires_at: expires_at.to_owned(),
            });
        }
    }
    let version = old
        .get(VERSION)
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .saturating_add(1);
    let expires_at = timestamp(expires);
    let mut props = old.clone();
    props.insert(LOCKED_BY.into(), agent.into());
    props.insert(LOCKED_AT.into(), timestamp(now).into());
    props.insert(EXPIRES_AT.into(), expires_at.clone().into());
    props.insert(VERSION.into(), version.into());
    save_properties(txn, id, &old, &props, []).await?;
    Ok(LockOutcome::Acquired {
        version,
        expires_at,
    })
}

pub(super) async fn release(graph: &Graph, id: &str, agent: &str) -> StoreResult<LockOutcome> {
    let mut txn = graph.start_txn().await?;
    let outcome = release_in(&mut txn, id, agent).await;
    finish(txn, outcome).await
}

async fn release_in(txn: &mut Txn, id: &str, agent: &str) -> StoreResult<LockOutcome> {
    let old = lock_node(txn, id)
        .await?
        .ok_or_else(|| not_found(id))?
        .properties;
    if old.get(LOCKED_BY).and_then(Value::as_str) != Some(agent) {
        return Ok(LockOutcome::NotHeld);
    }
    let mut props = old.clone();
    unlock(&mut props);
    save_properties(txn, id, &old, &props, []).await?;
    Ok(LockOutcome::Released)
}

/// Removes every expired lock; returns how many.
pub(super) async fn cleanup(graph: &Graph) -> StoreResult<usize> {
    let mut txn = graph.start_txn().await?;
    let removed = cleanup_in(&mut txn).await;
    finish(txn, removed).await
}

async fn cleanup_in(txn: &mut Txn) -> StoreResult<usize> {
    // Locks every locked node (see `write::lock_node`) before deciding.
    let q = query(
        "MATCH (n:Node) WHERE n.lockedBy IS NOT NULL
         SET n.mimir_lock = true REMOVE n.mimir_lock
         RETURN n {.*, embedding: null} AS n",
    );
    let now = Utc::now();
    let mut removed = 0;
    for node in nodes_of(&txn_rows(txn, q).await?)? {
        if holder(&node.properties, now).is_none() {
            let mut props = node.properties.clone();
            unlock(&mut props);
            save_properties(txn, &node.id, &node.properties, &props, []).await?;
            removed += 1;
        }
    }
    Ok(removed)
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
