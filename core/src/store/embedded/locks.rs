//! Advisory node locks kept in node properties, by the rules of `store::locking`.

use super::rows::{require_node, save_properties, select_nodes, NODE_COLUMNS};
use crate::store::locking;
use crate::store::rules::check_name;
use crate::store::{LockOutcome, StoreResult};
use chrono::Utc;
use rusqlite::{Connection, TransactionBehavior};

pub(super) fn acquire(
    conn: &mut Connection,
    id: &str,
    agent: &str,
    timeout_ms: u64,
) -> StoreResult<LockOutcome> {
    check_name("agent id", agent)?;
    let now = Utc::now();
    let expires = locking::expiry(now, timeout_ms)?;
    // The check and the claim happen under one write transaction, so two agents cannot both win.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut props = require_node(&tx, id)?.properties;
    let outcome = locking::claim(&mut props, agent, now, expires);
    if matches!(outcome, LockOutcome::Acquired { .. }) {
        save_properties(&tx, id, &props)?;
        tx.commit()?;
    }
    Ok(outcome)
}

pub(super) fn release(conn: &mut Connection, id: &str, agent: &str) -> StoreResult<LockOutcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut props = require_node(&tx, id)?.properties;
    let outcome = locking::release(&mut props, agent);
    if outcome == LockOutcome::Released {
        save_properties(&tx, id, &props)?;
        tx.commit()?;
    }
    Ok(outcome)
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
        if locking::clear_expired(&mut node.properties, now) {
            save_properties(&tx, &node.id, &node.properties)?;
            removed += 1;
        }
    }
    tx.commit()?;
    Ok(removed)
}
