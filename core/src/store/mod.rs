//! The graph store contract. Every backend (embedded SQLite, Neo4j) implements [`GraphStore`]
//! and must pass the shared conformance suite in `core/tests/store_conformance.rs`.

pub(crate) mod codec;
pub mod embedded;
pub(crate) mod locking;
pub mod neo4j;
pub mod properties;
pub(crate) mod records;
pub(crate) mod rules;
pub mod visibility;
pub(crate) mod walk;

pub use visibility::Visibility;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Node properties: a flat JSON object (nested objects are flattened to `a_b` keys on write).
pub type Properties = Map<String, Value>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    #[serde(rename = "type")]
    pub node_type: String,
    pub properties: Properties,
    /// RFC 3339 timestamps, set by the store.
    pub created: String,
    pub updated: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// Classification as callers see it; stores keep it in the `sensitivity` property and
    /// leave this empty (see `crate::governance::view`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<crate::governance::Sensitivity>,
    /// Kinds of personal data found at write time (stored in the `pii` property, likewise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pii: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub id: String,
    pub source: String,
    pub target: String,
    #[serde(rename = "type")]
    pub edge_type: String,
    pub properties: Properties,
    pub created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// A node to create. `id` is generated (`<type>-<uuid>`) when absent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewNode {
    pub id: Option<String>,
    pub node_type: String,
    pub properties: Properties,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewEdge {
    pub source: String,
    pub target: String,
    pub edge_type: String,
    pub properties: Properties,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
    #[default]
    Both,
}

/// Property-equality query over nodes; `filters` values are compared as JSON values.
#[derive(Debug, Clone, Default)]
pub struct NodeQuery {
    pub node_types: Vec<String>,
    pub filters: Properties,
    /// Most nodes returned; 0 means no limit (as for every `limit` of [`GraphStore`]).
    pub limit: usize,
    pub offset: usize,
}

/// One write of a transactional batch: all ops of a batch commit together or not at all.
#[derive(Debug, Clone)]
pub enum WriteOp {
    AddNode(NewNode),
    /// Merge `properties` into the node (a `null` value removes the key).
    UpdateNode {
        id: String,
        properties: Properties,
    },
    DeleteNode {
        id: String,
    },
    AddEdge(NewEdge),
    DeleteEdge {
        id: String,
    },
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum WriteResult {
    Node(Node),
    Edge(Edge),
    Deleted { id: String, edges_removed: usize },
}

#[derive(Debug, Clone, Serialize)]
pub struct Subgraph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoredNode {
    pub node: Node,
    pub similarity: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LockOutcome {
    Acquired {
        version: i64,
        expires_at: String,
    },
    HeldBy {
        agent_id: String,
        expires_at: String,
    },
    Released,
    NotHeld,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller's clearance does not allow the write.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("storage backend error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// `actor` is the verified caller (`X-User-ID`) recorded as `created_by` / `updated_by`.
#[async_trait]
pub trait GraphStore: Send + Sync + 'static {
    /// This store with every read, count and search limited to the nodes `visibility` shows
    /// and the edges between them, filtered by the store's own queries (so a page of `limit`
    /// nodes is full when that many are shown); `clear` removes only those nodes. Writes are
    /// not filtered. Restricting a restricted store shows what both restrictions show.
    fn restricted(&self, visibility: &Visibility) -> Arc<dyn GraphStore>;

    /// Applies all ops in one transaction; on any error nothing is written.
    async fn apply(&self, ops: Vec<WriteOp>, actor: Option<&str>) -> StoreResult<Vec<WriteResult>>;

    async fn get_node(&self, id: &str) -> StoreResult<Option<Node>>;
    async fn query_nodes(&self, query: &NodeQuery) -> StoreResult<Vec<Node>>;
    async fn count_nodes(&self, node_types: &[String]) -> StoreResult<usize>;
    /// Node count per type, sorted by type.
    async fn count_by_type(&self) -> StoreResult<Vec<(String, usize)>>;
    /// Case-insensitive keyword search over ids and text property values.
    async fn search_nodes(
        &self,
        text: &str,
        node_types: &[String],
        limit: usize,
    ) -> StoreResult<Vec<Node>>;
    /// Cosine similarity against the stored embeddings of nodes (see `crate::embedding`).
    async fn vector_search(
        &self,
        query: &[f32],
        node_types: &[String],
        limit: usize,
        min_similarity: f32,
    ) -> StoreResult<Vec<ScoredNode>>;

    async fn get_edge(&self, id: &str) -> StoreResult<Option<Edge>>;
    async fn edges_of(
        &self,
        node_id: &str,
        direction: Direction,
        edge_type: Option<&str>,
    ) -> StoreResult<Vec<Edge>>;
    /// Nodes reachable within `depth` hops (the start node excluded) and the edges walked.
    async fn neighborhood(
        &self,
        node_id: &str,
        direction: Direction,
        edge_type: Option<&str>,
        depth: usize,
    ) -> StoreResult<Subgraph>;

    /// Deletes every node (of `node_type` when given) and their edges; returns the node count.
    async fn clear(&self, node_type: Option<&str>) -> StoreResult<usize>;

    /// Atomic lock on a node: succeeds when unlocked, expired, or already held by `agent_id`.
    async fn acquire_lock(
        &self,
        node_id: &str,
        agent_id: &str,
        timeout_ms: u64,
    ) -> StoreResult<LockOutcome>;
    async fn release_lock(&self, node_id: &str, agent_id: &str) -> StoreResult<LockOutcome>;
    /// Removes expired locks; returns how many.
    async fn cleanup_locks(&self) -> StoreResult<usize>;
}
