//! Transactional writes: a batch commits whole or not at all.

use super::rows::{self, check_name, encode_embedding, node_exists, require_node, to_json};
use crate::embedding::{embed, node_text};
use crate::store::properties::flatten;
use crate::store::{
    Edge, NewEdge, NewNode, Node, Properties, StoreError, StoreResult, WriteOp, WriteResult,
};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use uuid::Uuid;

/// Applies `ops` in order inside one transaction. Returning early with an error drops the
/// transaction, which rolls every earlier op of the batch back.
pub(super) fn apply(
    conn: &mut Connection,
    ops: Vec<WriteOp>,
    actor: Option<&str>,
) -> StoreResult<Vec<WriteResult>> {
    // IMMEDIATE takes the write lock up front, so checks and writes see the same state.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = rows::now();
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

/// Flattened properties without `null` values: a missing key and `null` mean the same.
fn stored_properties(props: Properties) -> Properties {
    flatten(props)
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .collect()
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
    check_name("node type", &new.node_type)?;
    let id = match new.id {
        Some(id) => {
            check_name("node id", &id)?;
            id
        }
        None => format!("{}-{}", new.node_type, Uuid::new_v4().simple()),
    };
    if node_exists(tx, &id)? {
        return Err(StoreError::Conflict(format!("node {id} already exists")));
    }
    let properties = stored_properties(new.properties);
    tx.prepare_cached(
        "INSERT INTO nodes (id, type, properties, embedding, created, updated, created_by, updated_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?6)",
    )?
    .execute((&id, &new.node_type, to_json(&properties)?, embedding_of(&new.node_type, &properties), now, actor))?;
    Ok(Node {
        id,
        node_type: new.node_type,
        properties,
        created: now.to_owned(),
        updated: now.to_owned(),
        created_by: actor.map(str::to_owned),
        updated_by: actor.map(str::to_owned),
    })
}

fn update_node(
    tx: &Transaction<'_>,
    id: &str,
    changes: Properties,
    actor: Option<&str>,
    now: &str,
) -> StoreResult<Node> {
    let mut node = require_node(tx, id)?;
    for (key, value) in flatten(changes) {
        if value.is_null() {
            node.properties.remove(&key);
        } else {
            node.properties.insert(key, value);
        }
    }
    node.updated = now.to_owned();
    node.updated_by = actor.map(str::to_owned);
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
    check_name("edge type", &new.edge_type)?;
    for end in [&new.source, &new.target] {
        if !node_exists(tx, end)? {
            return Err(StoreError::NotFound(format!("node {end}")));
        }
    }
    let edge = Edge {
        id: format!("edge-{}", Uuid::new_v4().simple()),
        source: new.source,
        target: new.target,
        edge_type: new.edge_type,
        properties: stored_properties(new.properties),
        created: now.to_owned(),
        created_by: actor.map(str::to_owned),
    };
    tx.prepare_cached(
        "INSERT INTO edges (id, source, target, type, properties, created, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute((
        &edge.id,
        &edge.source,
        &edge.target,
        &edge.edge_type,
        to_json(&edge.properties)?,
        now,
        actor,
    ))?;
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

/// Deletes every node (of `node_type` when given) and their edges; returns the node count.
pub(super) fn clear(conn: &mut Connection, node_type: Option<&str>) -> StoreResult<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "DELETE FROM edges WHERE ?1 IS NULL
            OR source IN (SELECT id FROM nodes WHERE type = ?1)
            OR target IN (SELECT id FROM nodes WHERE type = ?1)",
        [node_type],
    )?;
    let removed = tx.execute(
        "DELETE FROM nodes WHERE ?1 IS NULL OR type = ?1",
        [node_type],
    )?;
    tx.commit()?;
    Ok(removed)
}
