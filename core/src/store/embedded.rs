//! Embedded store: one SQLite file (rusqlite, bundled), no external service. See docs/storage.md.
//!
//! One connection behind a mutex serialises every access, so the store needs no cross-connection
//! locking of its own; each call runs on tokio's blocking pool so SQLite I/O never stalls the runtime.

mod locks;
mod read;
mod rows;
mod schema;
mod write;

pub(crate) use rows::insert_edge;

use super::{
    Direction, Edge, GraphStore, LockOutcome, Node, NodeQuery, ScoredNode, StoreError, StoreResult,
    Subgraph, Visibility, WriteOp, WriteResult,
};
use anyhow::Context;
use async_trait::async_trait;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

pub struct EmbeddedStore {
    conn: Arc<Mutex<Connection>>,
    /// What reads show (`None`: everything); see [`GraphStore::restricted`].
    visibility: Option<Visibility>,
}

impl EmbeddedStore {
    /// Opens (creating when missing) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening the embedded store at {}", path.display()))?;
        schema::prepare(&conn)
            .with_context(|| format!("preparing the embedded store at {}", path.display()))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            visibility: None,
        })
    }

    /// The visibility parameter of this store's queries (see `rows::visible`).
    fn vis(&self) -> Option<String> {
        rows::visibility_param(self.visibility.as_ref())
    }

    /// Runs `work` with the connection on the blocking pool.
    async fn with_conn<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a half-written batch behind: the open
            // transaction rolls back when it is dropped during unwinding, so the connection is
            // still sound and a poisoned lock is safe to reuse.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

#[async_trait]
impl GraphStore for EmbeddedStore {
    fn restricted(&self, visibility: &Visibility) -> Arc<dyn GraphStore> {
        Arc::new(Self {
            conn: Arc::clone(&self.conn),
            visibility: Some(Visibility::narrowed(self.visibility.as_ref(), visibility)),
        })
    }

    async fn apply(&self, ops: Vec<WriteOp>, actor: Option<&str>) -> StoreResult<Vec<WriteResult>> {
        let actor = actor.map(str::to_owned);
        self.with_conn(move |conn| write::apply(conn, ops, actor.as_deref()))
            .await
    }

    async fn get_node(&self, id: &str) -> StoreResult<Option<Node>> {
        let (id, vis) = (id.to_owned(), self.vis());
        self.with_conn(move |conn| read::get_node(conn, &id, vis.as_deref()))
            .await
    }

    async fn query_nodes(&self, query: &NodeQuery) -> StoreResult<Vec<Node>> {
        let (query, vis) = (query.clone(), self.vis());
        self.with_conn(move |conn| read::query_nodes(conn, &query, vis.as_deref()))
            .await
    }

    async fn count_nodes(&self, node_types: &[String]) -> StoreResult<usize> {
        let (types, vis) = (node_types.to_vec(), self.vis());
        self.with_conn(move |conn| read::count_nodes(conn, &types, vis.as_deref()))
            .await
    }

    async fn count_by_type(&self) -> StoreResult<Vec<(String, usize)>> {
        let vis = self.vis();
        self.with_conn(move |conn| read::count_by_type(conn, vis.as_deref()))
            .await
    }

    async fn search_nodes(
        &self,
        text: &str,
        node_types: &[String],
        limit: usize,
    ) -> StoreResult<Vec<Node>> {
        let (text, types, vis) = (text.to_owned(), node_types.to_vec(), self.vis());
        self.with_conn(move |conn| read::search_nodes(conn, &text, &types, limit, vis.as_deref()))
            .await
    }

    async fn vector_search(
        &self,
        query: &[f32],
        node_types: &[String],
        limit: usize,
        min_similarity: f32,
    ) -> StoreResult<Vec<ScoredNode>> {
        let (query, types, vis) = (query.to_vec(), node_types.to_vec(), self.vis());
        self.with_conn(move |conn| {
            read::vector_search(conn, &query, &types, limit, min_similarity, vis.as_deref())
        })
        .await
    }

    async fn get_edge(&self, id: &str) -> StoreResult<Option<Edge>> {
        let (id, vis) = (id.to_owned(), self.vis());
        self.with_conn(move |conn| read::get_edge(conn, &id, vis.as_deref()))
            .await
    }

    async fn edges_of(
        &self,
        node_id: &str,
        direction: Direction,
        edge_type: Option<&str>,
    ) -> StoreResult<Vec<Edge>> {
        let (id, edge_type, vis) = (node_id.to_owned(), edge_type.map(str::to_owned), self.vis());
        self.with_conn(move |conn| {
            read::edges_of(conn, &id, direction, edge_type.as_deref(), vis.as_deref())
        })
        .await
    }

    async fn neighborhood(
        &self,
        node_id: &str,
        direction: Direction,
        edge_type: Option<&str>,
        depth: usize,
    ) -> StoreResult<Subgraph> {
        let (id, edge_type, vis) = (node_id.to_owned(), edge_type.map(str::to_owned), self.vis());
        self.with_conn(move |conn| {
            let edge_type = edge_type.as_deref();
            read::neighborhood(conn, &id, direction, edge_type, depth, vis.as_deref())
        })
        .await
    }

    async fn clear(&self, node_type: Option<&str>) -> StoreResult<usize> {
        let (node_type, vis) = (node_type.map(str::to_owned), self.vis());
        self.with_conn(move |conn| write::clear(conn, node_type.as_deref(), vis.as_deref()))
            .await
    }

    async fn acquire_lock(
        &self,
        node_id: &str,
        agent_id: &str,
        timeout_ms: u64,
    ) -> StoreResult<LockOutcome> {
        let (id, agent) = (node_id.to_owned(), agent_id.to_owned());
        self.with_conn(move |conn| locks::acquire(conn, &id, &agent, timeout_ms))
            .await
    }

    async fn release_lock(&self, node_id: &str, agent_id: &str) -> StoreResult<LockOutcome> {
        let (id, agent) = (node_id.to_owned(), agent_id.to_owned());
        self.with_conn(move |conn| locks::release(conn, &id, &agent))
            .await
    }

    async fn cleanup_locks(&self) -> StoreResult<usize> {
        self.with_conn(locks::cleanup).await
    }
}
