//! The embedded store against the shared conformance suite, plus what only a file-backed
//! store can show: persistence across reopen and handling of damaged rows.

mod conformance;

use mimir_core::embedding::embed;
use mimir_core::store::embedded::EmbeddedStore;
use mimir_core::store::{
    Direction, GraphStore, NewEdge, NewNode, StoreError, WriteOp, WriteResult,
};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

fn open(path: &Path) -> EmbeddedStore {
    EmbeddedStore::open(path).expect("open the embedded store")
}

#[tokio::test]
async fn embedded_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    conformance::run_all(Arc::new(open(&dir.path().join("store.sqlite3")))).await;
}

#[tokio::test]
async fn data_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite3");
    let ops = vec![
        WriteOp::AddNode(NewNode {
            id: Some("memory-a".into()),
            node_type: "memory".into(),
            properties: conformance::props(json!({"title": "persistent rust memory"})),
        }),
        WriteOp::AddNode(NewNode {
            id: Some("memory-b".into()),
            node_type: "memory".into(),
            ..NewNode::default()
        }),
        WriteOp::AddEdge(NewEdge {
            source: "memory-a".into(),
            target: "memory-b".into(),
            edge_type: "relates_to".into(),
            ..NewEdge::default()
        }),
    ];
    let written = {
        let store = open(&path);
        store.apply(ops, Some("erin")).await.expect("write")
    };
    let (Some(WriteResult::Node(a)), Some(WriteResult::Edge(edge))) =
        (written.first(), written.get(2))
    else {
        panic!("unexpected results {written:?}");
    };

    let store = open(&path);
    assert_eq!(
        store.get_node("memory-a").await.expect("get").as_ref(),
        Some(a)
    );
    assert_eq!(
        store.get_edge(&edge.id).await.expect("get edge").as_ref(),
        Some(edge)
    );
    assert_eq!(
        store
            .edges_of("memory-b", Direction::In, None)
            .await
            .expect("edges")
            .len(),
        1
    );
    let hits = store
        .vector_search(&embed("rust memory"), &[], 1, 0.1)
        .await
        .expect("vector search");
    assert_eq!(
        hits.first().map(|h| h.node.id.as_str()),
        Some("memory-a"),
        "embeddings persisted"
    );
}

#[tokio::test]
async fn damaged_rows_are_backend_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite3");
    let store = open(&path);
    let node = WriteOp::AddNode(NewNode {
        id: Some("n1".into()),
        node_type: "memory".into(),
        ..NewNode::default()
    });
    store.apply(vec![node], None).await.expect("write");

    let raw = rusqlite::Connection::open(&path).expect("open raw");
    raw.execute(
        "UPDATE nodes SET properties = '{not json' WHERE id = 'n1'",
        [],
    )
    .expect("damage the row");
    raw.execute("UPDATE nodes SET embedding = x'0102' WHERE id = 'n1'", [])
        .expect("damage the embedding");
    drop(raw);

    let got = store.get_node("n1").await;
    assert!(matches!(got, Err(StoreError::Backend(_))), "{got:?}");
    let hits = store
        .vector_search(&embed("memory"), &[], 0, -1.0)
        .await
        .expect("a bad embedding is skipped");
    assert!(hits.is_empty());
}

#[tokio::test]
async fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite3");
    drop(open(&path));
    let raw = rusqlite::Connection::open(&path).expect("open raw");
    raw.pragma_update(None, "user_version", 99)
        .expect("bump version");
    drop(raw);
    assert!(EmbeddedStore::open(&path).is_err());
}
