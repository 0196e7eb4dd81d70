//! Transactional writes: a batch commits whole or not at all.

use super::rows::{insert_edge, node_exists, require_node, to_json, visible};
use crate::embedding::{embed, node_text};
use crate::store::codec::encode_embedding;
use crate::store::records::{self, new_edge, new_node};
use crate::store::{
    Edge, NewEdge, NewNode, Node, Properties, StoreError, StoreResult, WriteOp, WriteResult,
};
use rusqlite::{Connection, Transaction, TransactionBehavior};

/// Applies `ops` in order inside one transaction. Returning early with an error drops the
/// transaction, which rolls every earlier op of the batch back.
pub(super) fn apply(
    conn: &mut Connection,
    ops: Vec<WriteOp>,
    actor: Option<&str>,
) -> StoreResult<Vec<WriteResult>> {
    // IMMEDIATE takes the write lock up front, so checks and writes see the same state.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = records::now();
    let results = ops
        .into_iter()
        .map(|op| apply_one(&tx, op, actor, &now))
        .collect::<StoreResult<Vec<_>>>()?;
    tx.commit()?;
    Ok(results)
}

fn apply_one(
    tx: &Transaction<'_>,
    op: WriteOp,
    actor: Option<&str>,
    now: &str,
) -> StoreResult<WriteResult> {
    Ok(match op {
        WriteOp::AddNode(new) => WriteResult::Node(add_node(tx, new, actor, now)?),
        WriteOp::UpdateNode { id, properties } => {
            WriteResult::Node(update_node(tx, &id, properties, actor, now)?)
        }
        WriteOp::DeleteNode { id } => {
            let edges_removed = delete_node(tx, &id)?;
            WriteResult::Deleted { id, edges_removed }
        }
        WriteOp::AddEdge(new) => WriteResult::Edge(add_edge(tx, new, actor, now)?),
        WriteOp::DeleteEdge { id } => {
            delete_edge(tx, &id)?;
            WriteResult::Deleted {
                id,
                edges_removed: 1,
            }
        }
    })
}

fn embedding_of(node_type: &str, props: &Properties) -> Vec<u8> {
    encode_embedding(&embed(&node_text(node_type, props)))
}

fn add_node(
    tx: &Transaction<'_>,
    new: NewNode,
    actor: Option<&str>,
    now: &str,
) -> StoreResult<Node> {
    let node = new_node(new, actor, now)?;
    if node_exists(tx, &node.id)? {
        return Err(StoreError::Conflict(format!(
            "node {} already exists",
            node.id
        )));
    }
    tx.prepare_cached(
        "INSERT INTO nodes (id, type, properties, embedding, created, updated, created_by, updated_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?6)",
    )?
    .execute((&node.id, &node.node_type, to_json(&node.properties)?, embedding_of(&node.node_type, &node.properties), now, actor))?;
    Ok(node)
}

fn update_node(
    tx: &Transaction<'_>,
    id: &str,
    changes: Properties,
    actor: Option<&str>,
    now: &str,
) -> StoreResult<Node> {
    let mut node = require_node(tx, id)?;
    records::update_node(&mut node, changes, actor, now);
    tx.prepare_cached(
        "UPDATE nodes SET properties = ?2, embedding = ?3, updated = ?4, updated_by = ?5 WHERE id = ?1",
    )?
    .execute((id, to_json(&node.properties)?, embedding_of(&node.node_type, &node.properties), now, actor))?;
    Ok(node)
}

/// Deletes the node and its edges; returns how many edges went with it.
fn delete_node(tx: &Transaction<'_>, id: &str) -> StoreResult<usize> {
    // Edges are removed explicitly (not only by the FK cascade) to report how many.
    let edges = tx
        .prepare_cached("DELETE FROM edges WHERE source = ?1 OR target = ?1")?
        .execute([id])?;
    let nodes = tx
        .prepare_cached("DELETE FROM nodes WHERE id = ?1")?
        .execute([id])?;
    if nodes == 0 {
        return Err(StoreError::NotFound(format!("node {id}")));
    }
    Ok(edges)
}

fn add_edge(
    tx: &Transaction<'_>,
    new: NewEdge,
    actor: Option<&str>,
    now: &str,
) -> StoreResult<Edge> {
    let edge = new_edge(new, actor, now)?;
    for end in [&edge.source, &edge.target] {
        if !node_exists(tx, end)? {
            return Err(StoreError::NotFound(format!("node {end}")));
        }
    }
    insert_edge(tx, &edge, &to_json(&edge.properties)?)?;
    Ok(edge)
}

fn delete_edge(tx: &Transaction<'_>, id: &str) -> StoreResult<()> {
    match tx
        .prepare_cached("DELETE FROM edges WHERE id = ?1")?
        .execute([id])?
    {
        0 => Err(StoreError::NotFound(format!("edge {id}"))),
        _ => Ok(()),
    }
}

/// Deletes every shown node (of `node_type` when given) and their edges; returns the node count.
pub(super) fn clear(
    conn: &mut Connection,
    node_type: Option<&str>,
    vis: Option<&str>,
) -> StoreResult<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let shown = format!("(?1 IS NULL OR type = ?1) AND {}", visible("nodes", 2));
    let cleared = format!("SELECT id FROM nodes WHERE {shown}");
    tx.execute(
        &format!(
            "DELETE FROM edges WHERE (?1 IS NULL AND ?2 IS NULL)
                OR source IN ({cleared}) OR target IN ({cleared})"
        ),
        (node_type, vis),
    )?;
    let removed = tx.execute(
        &format!("DELETE FROM nodes WHERE {shown}"),
        (node_type, vis),
    )?;
    tx.commit()?;
    Ok(removed)
}
