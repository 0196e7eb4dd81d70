//! Advisory node locks in node properties, by the rules of `store::locking`. Check and claim
//! run in one transaction that holds the node's write lock, so two agents cannot both win.

use super::exec::{finish, txn_rows};
use super::read::nodes_of;
use super::write::{lock_node, save_properties};
use crate::store::locking;
use crate::store::rules::check_name;
use crate::store::{LockOutcome, Properties, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use neo4rs::{query, Graph, Txn};

/// The properties of node `id`, read under its write lock.
async fn locked_properties(txn: &mut Txn, id: &str) -> StoreResult<Properties> {
    Ok(lock_node(txn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("node {id}")))?
        .properties)
}

pub(super) async fn acquire(
    graph: &Graph,
    id: &str,
    agent: &str,
    timeout_ms: u64,
) -> StoreResult<LockOutcome> {
    check_name("agent id", agent)?;
    let now = Utc::now();
    let expires = locking::expiry(now, timeout_ms)?;
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
    let old = locked_properties(txn, id).await?;
    let mut props = old.clone();
    let outcome = locking::claim(&mut props, agent, now, expires);
    if matches!(outcome, LockOutcome::Acquired { .. }) {
        save_properties(txn, id, &old, &props, []).await?;
    }
    Ok(outcome)
}

pub(super) async fn release(graph: &Graph, id: &str, agent: &str) -> StoreResult<LockOutcome> {
    let mut txn = graph.start_txn().await?;
    let outcome = release_in(&mut txn, id, agent).await;
    finish(txn, outcome).await
}

async fn release_in(txn: &mut Txn, id: &str, agent: &str) -> StoreResult<LockOutcome> {
    let old = locked_properties(txn, id).await?;
    let mut props = old.clone();
    let outcome = locking::release(&mut props, agent);
    if outcome == LockOutcome::Released {
        save_properties(txn, id, &old, &props, []).await?;
    }
    Ok(outcome)
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
        let mut props = node.properties.clone();
        if locking::clear_expired(&mut props, now) {
            save_properties(txn, &node.id, &node.properties, &props, []).await?;
            removed += 1;
        }
    }
    Ok(removed)
}
