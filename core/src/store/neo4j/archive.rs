//! Export and import of the whole graph (`crate::migrate`): nodes with their stored embeddings,
//! timestamps and authors exactly as stored, which `GraphStore` does not expose.

use super::codec::{self, EMBEDDING};
use super::exec::{finish, read_rows, txn_count, txn_rows};
use super::write::{create_edge, create_node};
use super::Neo4jStore;
use crate::embedding::DIMENSIONS;
use crate::store::{Edge, Node, StoreError, StoreResult};
use neo4rs::{query, Txn};
use serde_json::Value;

/// A (created, id) position: pages continue strictly after it.
pub type Cursor = (String, String);

/// A node and its stored embedding (`None` when absent or malformed).
pub type ArchivedNode = (Node, Option<Vec<f32>>);

fn embedding_of(node_id: &str, stored: Option<Value>) -> Option<Vec<f32>> {
    let vector: Vec<f64> = serde_json::from_value(stored?).ok()?;
    if vector.len() != DIMENSIONS {
        tracing::warn!(node = %node_id, "exporting a node without its malformed embedding");
        return None;
    }
    Some(vector.into_iter().map(|x| x as f32).collect())
}

fn cursor_params(query: neo4rs::Query, after: Option<&Cursor>, limit: usize) -> neo4rs::Query {
    let (created, id) = after.cloned().unzip();
    query
        .param("created", created)
        .param("id", id)
        .param("limit", i64::try_from(limit).unwrap_or(i64::MAX))
}

impl Neo4jStore {
    /// Up to `limit` nodes after `after`, in (created, id) order.
    pub async fn export_nodes(
        &self,
        after: Option<&Cursor>,
        limit: usize,
    ) -> StoreResult<Vec<ArchivedNode>> {
        let q = query(
            "MATCH (n:Node)
             WHERE $created IS NULL OR n.created > $created OR (n.created = $created AND n.id > $id)
             RETURN n {.*} AS n ORDER BY n.created, n.id LIMIT $limit",
        );
        let rows = read_rows(&self.graph, cursor_params(q, after, limit)).await?;
        rows.iter()
            .map(|row| {
                let mut value: Value = row.get("n")?;
                let stored = value.as_object_mut().and_then(|m| m.remove(EMBEDDING));
                let node = codec::node_from(value)?;
                let embedding = embedding_of(&node.id, stored);
                Ok((node, embedding))
            })
            .collect()
    }

    /// Up to `limit` edges after `after`, in (created, id) order.
    pub async fn export_edges(
        &self,
        after: Option<&Cursor>,
        limit: usize,
    ) -> StoreResult<Vec<Edge>> {
        let q = query(
            "MATCH (s:Node)-[r:EDGE]->(t:Node)
             WHERE $created IS NULL OR r.created > $created OR (r.created = $created AND r.id > $id)
             RETURN r {.*} AS r, s.id AS source, t.id AS target
             ORDER BY r.created, r.id LIMIT $limit",
        );
        let rows = read_rows(&self.graph, cursor_params(q, after, limit)).await?;
        rows.iter()
            .map(|row| codec::edge_from(row.get("r")?, row.get("source")?, row.get("target")?))
            .collect()
    }

    /// Starts an import: one transaction, into a store without nodes.
    pub async fn begin_import(&self) -> StoreResult<Neo4jImport> {
        let mut txn = self.graph.start_txn().await?;
        let existing = txn_count(
            &mut txn,
            query("MATCH (n:Node) RETURN count(n) AS count"),
            "count",
        )
        .await;
        match existing {
            Ok(0) => Ok(Neo4jImport { txn }),
            Ok(count) => {
                let refused = Err(StoreError::Conflict(format!(
                    "the target store is not empty ({count} nodes); import needs an empty store"
                )));
                finish(txn, refused).await
            }
            Err(e) => finish(txn, Err(e)).await,
        }
    }
}

/// An import in progress; nothing is visible until [`Neo4jImport::commit`].
pub struct Neo4jImport {
    txn: Txn,
}

impl Neo4jImport {
    pub async fn node(&mut self, node: &Node, embedding: Option<&[f32]>) -> StoreResult<()> {
        create_node(&mut self.txn, node, embedding).await
    }

    pub async fn edge(&mut self, edge: &Edge) -> StoreResult<()> {
        let q = query("MATCH ()-[r:EDGE {id: $id}]->() RETURN r.id AS id")
            .param("id", edge.id.as_str());
        if !txn_rows(&mut self.txn, q).await?.is_empty() {
            return Err(StoreError::Conflict(format!(
                "edge {} already exists",
                edge.id
            )));
        }
        create_edge(&mut self.txn, edge).await
    }

    pub async fn commit(self) -> StoreResult<()> {
        finish(self.txn, Ok(())).await
    }

    pub async fn abort(self) {
        let _ = finish::<()>(self.txn, Err(StoreError::Backend("import aborted".into()))).await;
    }
}
