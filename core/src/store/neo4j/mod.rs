//! Neo4j store: the graph in a Neo4j database over Bolt (neo4rs), in the layout upstream Mimir
//! uses. See docs/storage.md, "Neo4j store".
//!
//! Every Cypher statement is a constant; caller input only ever travels as parameters.

pub mod archive;
mod codec;
mod error;
mod exec;
mod graph;
mod locks;
mod read;
mod schema;
mod settings;
mod write;

pub use archive::{ArchivedNode, Cursor, Neo4jImport};
pub use settings::Neo4jSettings;

use super::{
    Direction, Edge, GraphStore, LockOutcome, Node, NodeQuery, ScoredNode, StoreResult, Subgraph,
    Visibility, WriteOp, WriteResult,
};
use anyhow::Context;
use async_trait::async_trait;
use neo4rs::{BoltType, Graph};
use std::sync::Arc;

pub struct Neo4jStore {
    /// A pool of Bolt connections (neo4rs keeps up to the configured number open), shared by
    /// the restricted copies of this store.
    graph: Graph,
    /// What reads show (`None`: everything); see [`GraphStore::restricted`].
    visibility: Option<Visibility>,
    /// `visibility` as the `$vis` parameter of the queries (see `read::visible`).
    vis: BoltType,
}

impl Neo4jStore {
    /// Connects, checks the credentials and creates the constraints and indexes when missing.
    pub async fn connect(settings: &Neo4jSettings) -> anyhow::Result<Self> {
        let graph = Graph::connect(settings.driver_config()?)
            .with_context(|| format!("connecting to Neo4j at {}", settings.uri))?;
        schema::prepare(&graph)
            .await
            .with_context(|| format!("preparing the Neo4j schema at {}", settings.uri))?;
        Ok(Self {
            graph,
            visibility: None,
            vis: read::vis_param(None),
        })
    }
}

#[async_trait]
impl GraphStore for Neo4jStore {
    fn restricted(&self, visibility: &Visibility) -> Arc<dyn GraphStore> {
        let visibility = Visibility::narrowed(self.visibility.as_ref(), visibility);
        Arc::new(Self {
            graph: self.graph.clone(),
            vis: read::vis_param(Some(&visibility)),
            visibility: Some(visibility),
        })
    }

    async fn apply(&self, ops: Vec<WriteOp>, actor: Option<&str>) -> StoreResult<Vec<WriteResult>> {
        write::apply(&self.graph, ops, actor).await
    }

    async fn get_node(&self, id: &str) -> StoreResult<Option<Node>> {
        read::get_node(&self.graph, id, &self.vis).await
    }

    async fn query_nodes(&self, query: &NodeQuery) -> StoreResult<Vec<Node>> {
        read::query_nodes(&self.graph, query, &self.vis).await
    }

    async fn count_nodes(&self, node_types: &[String]) -> StoreResult<usize> {
        read::count_nodes(&self.graph, node_types, &self.vis).await
    }

    async fn count_by_type(&self) -> StoreResult<Vec<(String, usize)>> {
        read::count_by_type(&self.graph, &self.vis).await
    }

    async fn search_nodes(
        &self,
        text: &str,
        node_types: &[String],
        limit: usize,
    ) -> StoreResult<Vec<Node>> {
        read::search_nodes(&self.graph, text, node_types, limit, &self.vis).await
    }

    async fn vector_search(
        &self,
        query: &[f32],
        node_types: &[String],
        limit: usize,
        min_similarity: f32,
    ) -> StoreResult<Vec<ScoredNode>> {
        let (graph, vis) = (&self.graph, &self.vis);
        read::vector_search(graph, query, node_types, limit, min_similarity, vis).await
    }

    async fn get_edge(&self, id: &str) -> StoreResult<Option<Edge>> {
        graph::get_edge(&self.graph, id, &self.vis).await
    }

    async fn edges_of(
        &self,
        node_id: &str,
        direction: Direction,
        edge_type: Option<&str>,
    ) -> StoreResult<Vec<Edge>> {
        graph::edges_of(&self.graph, node_id, direction, edge_type, &self.vis).await
    }

    async fn neighborhood(
        &self,
        node_id: &str,
        direction: Direction,
        edge_type: Option<&str>,
        depth: usize,
    ) -> StoreResult<Subgraph> {
        graph::neighborhood(&self.graph, node_id, direction, edge_type, depth, &self.vis).await
    }

    async fn clear(&self, node_type: Option<&str>) -> StoreResult<usize> {
        write::clear(&self.graph, node_type, &self.vis).await
    }

    async fn acquire_lock(
        &self,
        node_id: &str,
        agent_id: &str,
        timeout_ms: u64,
    ) -> StoreResult<LockOutcome> {
        locks::acquire(&self.graph, node_id, agent_id, timeout_ms).await
    }

    async fn release_lock(&self, node_id: &str, agent_id: &str) -> StoreResult<LockOutcome> {
        locks::release(&self.graph, node_id, agent_id).await
    }

    async fn cleanup_locks(&self) -> StoreResult<usize> {
        locks::cleanup(&self.graph).await
    }
}
