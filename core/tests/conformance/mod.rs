//! Backend-independent conformance suite for [`GraphStore`]. Every backend (embedded SQLite,
//! Neo4j) runs it unchanged: `run_all(Arc::new(store)).await`.
//!
//! Each check works on node types with a random suffix, so checks do not see each other's data
//! (or data left by earlier runs). Only `clear_all`, run last, touches everything: give
//! `run_all` a disposable store.

mod graph;
mod locks;
mod queries;
mod restricted;
mod writes;

pub use graph::neighborhood_depth_and_direction;
pub use locks::{lock_expiry_and_cleanup, lock_lifecycle};
pub use queries::{
    query_filters, query_pagination_and_counts, search_escapes_like_patterns,
    vector_search_ordering,
};
pub use restricted::restricted_reads;
pub use writes::{
    batch_is_transactional, clear_all, clear_by_type, delete_cascades_to_edges, edge_crud,
    node_crud, node_validation,
};

use chrono::DateTime;
use mimir_core::store::{
    Edge, GraphStore, NewEdge, NewNode, Node, NodeQuery, Properties, StoreError, StoreResult,
    WriteOp, WriteResult,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Runs every check in turn, naming each on stderr so a failure points at its check.
pub async fn run_all(store: Arc<dyn GraphStore>) {
    let store = store.as_ref();
    macro_rules! run {
        ($($check:ident),+ $(,)?) => {$(
            eprintln!("conformance: {}", stringify!($check));
            $check(store).await;
        )+};
    }
    run!(
        node_crud,
        node_validation,
        edge_crud,
        batch_is_transactional,
        delete_cascades_to_edges,
        search_escapes_like_patterns,
        query_filters,
        query_pagination_and_counts,
        neighborhood_depth_and_direction,
        lock_lifecycle,
        lock_expiry_and_cleanup,
        vector_search_ordering,
        restricted_reads,
        clear_by_type,
        clear_all,
    );
}

// ---- helpers ----

pub fn props(value: Value) -> Properties {
    match value {
        Value::Object(map) => map,
        other => panic!("test properties must be an object, got {other}"),
    }
}

/// A node type (or id prefix) no other check or run uses. Hex and `-` only, so it contains
/// no LIKE wildcard and no underscore.
fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

fn new_node(node_type: &str, id: Option<&str>, properties: Value) -> WriteOp {
    WriteOp::AddNode(NewNode {
        id: id.map(str::to_owned),
        node_type: node_type.to_owned(),
        properties: props(properties),
    })
}

fn new_edge(source: &str, target: &str, edge_type: &str) -> WriteOp {
    WriteOp::AddEdge(NewEdge {
        source: source.to_owned(),
        target: target.to_owned(),
        edge_type: edge_type.to_owned(),
        properties: Properties::new(),
    })
}

async fn write_one(
    store: &dyn GraphStore,
    op: WriteOp,
    actor: Option<&str>,
) -> StoreResult<WriteResult> {
    let mut results = store.apply(vec![op], actor).await?;
    assert_eq!(results.len(), 1, "one op yields one result");
    Ok(results.remove(0))
}

fn as_node(result: WriteResult) -> Node {
    match result {
        WriteResult::Node(node) => node,
        other => panic!("expected a node, got {other:?}"),
    }
}

fn as_edge(result: WriteResult) -> Edge {
    match result {
        WriteResult::Edge(edge) => edge,
        other => panic!("expected an edge, got {other:?}"),
    }
}

async fn add(store: &dyn GraphStore, node_type: &str, id: Option<&str>, properties: Value) -> Node {
    as_node(
        write_one(store, new_node(node_type, id, properties), None)
            .await
            .expect("add node"),
    )
}

async fn link(store: &dyn GraphStore, source: &str, target: &str, edge_type: &str) -> Edge {
    as_edge(
        write_one(store, new_edge(source, target, edge_type), None)
            .await
            .expect("add edge"),
    )
}

async fn node(store: &dyn GraphStore, id: &str) -> Node {
    store
        .get_node(id)
        .await
        .expect("get node")
        .unwrap_or_else(|| panic!("node {id} exists"))
}

fn ids(nodes: &[Node]) -> BTreeSet<String> {
    nodes.iter().map(|n| n.id.clone()).collect()
}

fn set<const N: usize>(items: [&str; N]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn edge_ids(edges: &[Edge]) -> BTreeSet<String> {
    edges.iter().map(|e| e.id.clone()).collect()
}

fn assert_not_found<T: std::fmt::Debug>(result: StoreResult<T>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::NotFound(_))),
        "{what}: expected NotFound, got {result:?}"
    );
}

fn assert_invalid<T: std::fmt::Debug>(result: StoreResult<T>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Invalid(_))),
        "{what}: expected Invalid, got {result:?}"
    );
}

fn assert_rfc3339(value: &str) {
    assert!(
        DateTime::parse_from_rfc3339(value).is_ok(),
        "{value:?} is RFC 3339"
    );
}

async fn query(store: &dyn GraphStore, types: &[&str], filters: Value) -> StoreResult<Vec<Node>> {
    let query = NodeQuery {
        node_types: types.iter().map(|t| t.to_string()).collect(),
        filters: props(filters),
        limit: 0,
        offset: 0,
    };
    store.query_nodes(&query).await
}
