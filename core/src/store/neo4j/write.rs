//! Transactional writes: a batch runs in one Neo4j transaction, rolled back on the first error.

use super::codec::{self, bolt, embedding_value, NODE_KEYS};
use super::exec::{finish, txn_count, txn_rows};
use crate::embedding::{embed, node_text};
use crate::store::records::{self, new_edge, new_node, now};
use crate::store::{
    Edge, NewEdge, NewNode, Node, Properties, StoreError, StoreResult, WriteOp, WriteResult,
};
use neo4rs::{query, BoltType, Graph, Txn};
use serde_json::Value;

pub(super) async fn apply(
    graph: &Graph,
    ops: Vec<WriteOp>,
    actor: Option<&str>,
) -> StoreResult<Vec<WriteResult>> {
    if ops.is_empty() {
        return Ok(Vec::new());
    }
    let mut txn = graph.start_txn().await?;
    let results = apply_all(&mut txn, ops, actor, &now()).await;
    finish(txn, results).await
}

async fn apply_all(
    txn: &mut Txn,
    ops: Vec<WriteOp>,
    actor: Option<&str>,
    now: &str,
) -> StoreResult<Vec<WriteResult>> {
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        results.push(apply_one(txn, op, actor, now).await?);
    }
    Ok(results)
}

async fn apply_one(
    txn: &mut Txn,
    op: WriteOp,
    actor: Option<&str>,
    now: &str,
) -> StoreResult<WriteResult> {
    Ok(match op {
        WriteOp::AddNode(new) => WriteResult::Node(add_node(txn, new, actor, now).await?),
        WriteOp::UpdateNode { id, properties } => {
            WriteResult::Node(update_node(txn, &id, properties, actor, now).await?)
        }
        WriteOp::DeleteNode { id } => {
            let edges_removed = delete_node(txn, &id).await?;
            WriteResult::Deleted { id, edges_removed }
        }
        WriteOp::AddEdge(new) => WriteResult::Edge(add_edge(txn, new, actor, now).await?),
        WriteOp::DeleteEdge { id } => {
            delete_edge(txn, &id).await?;
            WriteResult::Deleted {
                id,
                edges_removed: 1,
            }
        }
    })
}

fn actor_value(actor: Option<&str>) -> Value {
    actor.map_or(Value::Null, Value::from)
}

/// Stores `node` with `embedding`, or reports a `Conflict` when its id is taken.
pub(super) async fn create_node(
    txn: &mut Txn,
    node: &Node,
    embedding: Option<&[f32]>,
) -> StoreResult<()> {
    let q = query(
        "OPTIONAL MATCH (existing:Node {id: $id}) WITH existing WHERE existing IS NULL
         CREATE (n:Node) SET n = $record RETURN n.id AS id",
    )
    .param("id", node.id.as_str())
    .param(
        "record",
        bolt(Value::Object(codec::node_record(node, embedding)))?,
    );
    if txn_rows(txn, q).await?.is_empty() {
        return Err(StoreError::Conflict(format!(
            "node {} already exists",
            node.id
        )));
    }
    Ok(())
}

async fn add_node(
    txn: &mut Txn,
    new: NewNode,
    actor: Option<&str>,
    now: &str,
) -> StoreResult<Node> {
    let node = new_node(new, actor, now)?;
    let embedding = embed(&node_text(&node.node_type, &node.properties));
    create_node(txn, &node, Some(&embedding)).await?;
    Ok(node)
}

/// Takes the write lock of node `id` for the rest of `txn` and reads it. Neo4j reads are read
/// committed: without the lock, two transactions could both read, then both write, and one
/// write would silently undo the other.
pub(super) async fn lock_node(txn: &mut Txn, id: &str) -> StoreResult<Option<Node>> {
    // `mimir_lock` is `codec::LOCK_PROBE`, a key no user property is stored under.
    let q = query(
        "MATCH (n:Node {id: $id}) SET n.mimir_lock = true REMOVE n.mimir_lock
         RETURN n {.*, embedding: null} AS n",
    )
    .param("id", id);
    txn_rows(txn, q)
        .await?
        .first()
        .map(|row| codec::node_from(row.get("n")?))
        .transpose()
}

/// Writes the properties of a locked node that changed from `old` to `new`.
pub(super) async fn save_properties(
    txn: &mut Txn,
    id: &str,
    old: &Properties,
    new: &Properties,
    extra: impl IntoIterator<Item = (&'static str, Value)>,
) -> StoreResult<()> {
    let mut changes = codec::changes(old, new, NODE_KEYS);
    changes.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    let q = query("MATCH (n:Node {id: $id}) SET n += $changes")
        .param("id", id)
        .param("changes", bolt(Value::Object(changes))?);
    txn_rows(txn, q).await?;
    Ok(())
}

async fn update_node(
    txn: &mut Txn,
    id: &str,
    changes: Properties,
    actor: Option<&str>,
    now: &str,
) -> StoreResult<Node> {
    let old = lock_node(txn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("node {id}")))?;
    let mut node = old.clone();
    records::update_node(&mut node, changes, actor, now);
    let embedding = embed(&node_text(&node.node_type, &node.properties));
    let extra = [
        ("updated", Value::from(now)),
        ("updated_by", actor_value(actor)),
        (codec::EMBEDDING, embedding_value(&embedding)),
    ];
    save_properties(txn, id, &old.properties, &node.properties, extra).await?;
    Ok(node)
}

/// Deletes the node and its edges; returns how many edges went with it.
async fn delete_node(txn: &mut Txn, id: &str) -> StoreResult<usize> {
    let q = query(
        "MATCH (n:Node {id: $id}) OPTIONAL MATCH (n)-[r:EDGE]-()
         WITH n, count(DISTINCT r) AS edges DETACH DELETE n RETURN edges",
    )
    .param("id", id);
    let rows = txn_rows(txn, q).await?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::NotFound(format!("node {id}")))?;
    Ok(usize::try_from(row.get::<i64>("edges")?).unwrap_or_default())
}

/// Stores `edge`; `NotFound` naming the first missing end.
pub(super) async fn create_edge(txn: &mut Txn, edge: &Edge) -> StoreResult<()> {
    let q = query(
        "MATCH (s:Node {id: $source}) MATCH (t:Node {id: $target})
         CREATE (s)-[r:EDGE]->(t) SET r = $record RETURN r.id AS id",
    )
    .param("source", edge.source.as_str())
    .param("target", edge.target.as_str())
    .param("record", bolt(Value::Object(codec::edge_record(edge)))?);
    if !txn_rows(txn, q).await?.is_empty() {
        return Ok(());
    }
    let q = query("RETURN EXISTS { MATCH (:Node {id: $source}) } AS found")
        .param("source", edge.source.as_str());
    let source_found = match txn_rows(txn, q).await?.first() {
        Some(row) => row.get::<bool>("found")?,
        None => false,
    };
    let missing = if source_found {
        &edge.target
    } else {
        &edge.source
    };
    Err(StoreError::NotFound(format!("node {missing}")))
}

async fn add_edge(
    txn: &mut Txn,
    new: NewEdge,
    actor: Option<&str>,
    now: &str,
) -> StoreResult<Edge> {
    let edge = new_edge(new, actor, now)?;
    create_edge(txn, &edge).await?;
    Ok(edge)
}

async fn delete_edge(txn: &mut Txn, id: &str) -> StoreResult<()> {
    let q =
        query("MATCH ()-[r:EDGE {id: $id}]->() DELETE r RETURN true AS deleted").param("id", id);
    if txn_rows(txn, q).await?.is_empty() {
        return Err(StoreError::NotFound(format!("edge {id}")));
    }
    Ok(())
}

/// Deletes every shown node (of `node_type` when given) and their edges; returns the node count.
pub(super) async fn clear(
    graph: &Graph,
    node_type: Option<&str>,
    vis: &BoltType,
) -> StoreResult<usize> {
    let shown = super::read::visible("n");
    let q = match node_type {
        Some(node_type) => query(&format!(
            "MATCH (n:Node {{type: $type}}) WHERE {shown}
             DETACH DELETE n RETURN count(*) AS removed"
        ))
        .param("type", node_type),
        None => query(&format!(
            "MATCH (n:Node) WHERE {shown} DETACH DELETE n RETURN count(*) AS removed"
        )),
    }
    .param("vis", vis.clone());
    let mut txn = graph.start_txn().await?;
    let removed = txn_count(&mut txn, q, "removed").await;
    finish(txn, removed).await
}
