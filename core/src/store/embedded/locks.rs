//! Advisory node locks kept in node properties (`lockedBy`, `lockedAt`, `lockExpiresAt`,
//! `version`), the layout upstream Mimir uses, so agents see the same fields on every backend.

use super::rows::{check_name, require_node, save_properties, select_nodes, NODE_COLUMNS};
use crate::store::{LockOutcome, Properties, StoreError, StoreResult};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use rusqlite::{Connection, TransactionBehavior};
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

pub(super) fn acquire(
    conn: &mut Connection,
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
    // The check and the claim happen under one write transaction, so two agents cannot both win.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut props = require_node(&tx, id)?.properties;
    if let Some((holder, expires_at)) = holder(&props, now) {
        if holder != agent {
            return Ok(LockOutcome::HeldBy {
                agent_id: holder.to_owned(),
                expires_at: expires_at.to_owned(),
            });
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
    save_properties(&tx, id, &props)?;
    tx.commit()?;
    Ok(LockOutcome::Acquired {
        version,
        expires_at,
    })
}

pub(super) fn release(conn: &mut Connection, id: &str, agent: &str) -> StoreResult<LockOutcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut props = require_node(&tx, id)?.properties;
    if props.get(LOCKED_BY).and_then(Value::as_str) != Some(agent) {
        return Ok(LockOutcome::NotHeld);
    }
    unlock(&mut props);
    save_properties(&tx, id, &props)?;
    tx.commit()?;
    Ok(LockOutcome::Released)
}

/// Removes every expired lock; returns how many.
pub(super) fn cleanup(conn: &mut Connection) -> StoreResult<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let sql = format!(
        "SELECT {NODE_COLUMNS} FROM nodes WHERE json_extract(properties, '$.lockedBy') IS NOT NULL"
    );
    let now = Utc::now();
    let mut removed = 0;
    for mut node in select_nodes(&tx, &sql, [])? {
        if holder(&node.properties, now).is_none() {
            unlock(&mut node.properties);
            save_properties(&tx, &node.id, &node.properties)?;
            removed += 1;
        }
    }
    tx.commit()?;
    Ok(removed)
}
