//! The data of one user, for export and erasure. A node is the user's when they created it or
//! last updated it, or when it is about them: its `subject` property is their user id. An edge
//! is the user's when they created it or it touches one of their nodes.

use super::SUBJECT_KEY;
use crate::store::{Direction, Edge, GraphStore, Node, NodeQuery, StoreResult, WriteOp};
use serde::Serialize;
use serde_json::{json, Map};
use std::collections::HashSet;
use tokio::sync::mpsc;

/// Nodes read per page.
const PAGE: usize = 500;

pub enum Item {
    Node(Node),
    Edge(Edge),
}

/// Whether `node` was created or last updated by `user`, or is about them.
pub fn concerns(node: &Node, user: &str) -> bool {
    node.created_by.as_deref() == Some(user)
        || node.updated_by.as_deref() == Some(user)
        || node.properties.get(SUBJECT_KEY).and_then(|v| v.as_str()) == Some(user)
}

/// The page of nodes of `store` at `offset`, and whether another may follow.
async fn page(store: &dyn GraphStore, offset: usize) -> StoreResult<(Vec<Node>, bool)> {
    let query = NodeQuery {
        limit: PAGE,
        offset,
        ..NodeQuery::default()
    };
    let nodes = store.query_nodes(&query).await?;
    let more = nodes.len() == PAGE;
    Ok((nodes, more))
}

/// Sends the user's nodes, then their edges, as `store` shows them; stops early when the
/// receiver is gone. Reads every node (and its outgoing edges) once per pass: a privacy request
/// is rare, and the stores keep no index by author.
pub async fn send(store: &dyn GraphStore, user: &str, tx: &mpsc::Sender<Item>) -> StoreResult<()> {
    let mut ids = HashSet::new();
    let (mut offset, mut more) = (0, true);
    while more {
        let (nodes, next) = page(store, offset).await?;
        (offset, more) = (offset + nodes.len(), next);
        for node in nodes.into_iter().filter(|n| concerns(n, user)) {
            ids.insert(node.id.clone());
            if tx.send(Item::Node(node)).await.is_err() {
                return Ok(());
            }
        }
    }
    let (mut offset, mut more) = (0, true);
    while more {
        let (nodes, next) = page(store, offset).await?;
        (offset, more) = (offset + nodes.len(), next);
        for node in nodes {
            for edge in store.edges_of(&node.id, Direction::Out, None).await? {
                let theirs = edge.created_by.as_deref() == Some(user)
                    || ids.contains(&edge.source)
                    || ids.contains(&edge.target);
                if theirs && tx.send(Item::Edge(edge)).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// What an erasure removes or anonymises.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Erasure {
    /// Nodes created by or about the user: deleted with their edges.
    pub nodes_deleted: Vec<String>,
    /// Nodes the user only last updated: kept, with the updater removed.
    pub nodes_anonymized: Vec<String>,
    /// Edges the user created between other nodes: deleted.
    pub edges_deleted: Vec<String>,
}

/// What erasing `user` does to `store` (nothing is changed).
pub async fn plan(store: &dyn GraphStore, user: &str) -> StoreResult<Erasure> {
    let (tx, mut rx) = mpsc::channel(PAGE);
    // The sender is dropped when sending ends, which ends the collection.
    let sending = async move { send(store, user, &tx).await };
    let collecting = async {
        let mut plan = Erasure::default();
        let mut deleted = HashSet::new();
        while let Some(item) = rx.recv().await {
            match item {
                Item::Node(node) => {
                    let about =
                        node.properties.get(SUBJECT_KEY).and_then(|v| v.as_str()) == Some(user);
                    if about || node.created_by.as_deref() == Some(user) {
                        deleted.insert(node.id.clone());
                        plan.nodes_deleted.push(node.id);
                    } else {
                        plan.nodes_anonymized.push(node.id);
                    }
                }
                // Edges of deleted nodes go with them.
                Item::Edge(edge) => {
                    if !deleted.contains(&edge.source) && !deleted.contains(&edge.target) {
                        plan.edges_deleted.push(edge.id);
                    }
                }
            }
        }
        plan
    };
    let (sent, plan) = tokio::join!(sending, collecting);
    sent?;
    Ok(plan)
}

/// Carries out `plan` on the whole store (whatever anyone's clearance) and leaves an audit
/// record. Batches commit one after another: a failure part-way is repaired by erasing again.
pub async fn erase(
    store: &dyn GraphStore,
    user: &str,
    plan: &Erasure,
    requested_by: Option<&str>,
) -> StoreResult<()> {
    let ops = plan
        .edges_deleted
        .iter()
        .map(|id| WriteOp::DeleteEdge { id: id.clone() })
        .chain(
            plan.nodes_deleted
                .iter()
                .map(|id| WriteOp::DeleteNode { id: id.clone() }),
        )
        // An update without an actor clears `updated_by`.
        .chain(plan.nodes_anonymized.iter().map(|id| WriteOp::UpdateNode {
            id: id.clone(),
            properties: Map::new(),
        }))
        .collect::<Vec<_>>();
    for chunk in ops.chunks(PAGE) {
        store.apply(chunk.to_vec(), None).await?;
    }
    let mut fields = Map::new();
    if let Some(requester) = requested_by {
        fields.insert("user.id".into(), json!(requester));
    }
    fields.insert("user.target.id".into(), json!(user));
    fields.insert("node.count".into(), json!(plan.nodes_deleted.len()));
    fields.insert("node.ids".into(), json!(plan.nodes_deleted));
    fields.insert("node.anonymized".into(), json!(plan.nodes_anonymized));
    fields.insert("edge.ids".into(), json!(plan.edges_deleted));
    super::audit::record("privacy.erase", fields);
    Ok(())
}
