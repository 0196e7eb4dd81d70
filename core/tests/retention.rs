//! Retention with an injected clock: expired nodes and their edges go, on both stores, with
//! one audit record per deletion batch; the scheduler sweeps on its own.

mod governance_support;
mod neo4j_support;

use chrono::{Duration, Utc};
use governance_support::audit::Captured;
use mimir_core::governance::clock::FixedClock;
use mimir_core::governance::retention::{self, RetentionPolicy};
use mimir_core::store::embedded::EmbeddedStore;
use mimir_core::store::{Direction, GraphStore, NewEdge, NewNode, WriteOp};
use std::sync::Arc;

fn node(node_type: &str, id: &str) -> WriteOp {
    WriteOp::AddNode(NewNode {
        id: Some(id.into()),
        node_type: node_type.into(),
        ..NewNode::default()
    })
}

async fn expires_by_type(store: &dyn GraphStore, tag: &str) {
    let (session, log, keep) = (
        format!("session-{tag}"),
        format!("log-{tag}"),
        format!("keep-{tag}"),
    );
    let mut ops: Vec<WriteOp> = (0..3)
        .map(|i| node(&session, &format!("{session}-{i}")))
        .collect();
    ops.push(node(&log, &format!("{log}-0")));
    ops.push(node(&keep, &format!("{keep}-0")));
    ops.push(WriteOp::AddEdge(NewEdge {
        source: format!("{session}-0"),
        target: format!("{keep}-0"),
        edge_type: "relates_to".into(),
        ..NewEdge::default()
    }));
    store.apply(ops, Some("w")).await.expect("seed");
    let policy = RetentionPolicy::parse(&format!("{session}=30d,{log}=7d")).expect("policy");
    let captured = Captured::default();
    let _guard = captured.install();
    let now = Utc::now();

    assert_eq!(
        retention::sweep(store, &policy, now + Duration::days(1))
            .await
            .expect("sweep"),
        0
    );
    assert_eq!(
        retention::sweep(store, &policy, now + Duration::days(8))
            .await
            .expect("sweep"),
        1
    );
    assert!(store
        .get_node(&format!("{log}-0"))
        .await
        .expect("get")
        .is_none());
    assert!(store
        .get_node(&format!("{session}-0"))
        .await
        .expect("get")
        .is_some());
    assert_eq!(
        retention::sweep(store, &policy, now + Duration::days(31))
            .await
            .expect("sweep"),
        3
    );
    assert_eq!(
        store
            .count_nodes(std::slice::from_ref(&session))
            .await
            .expect("count"),
        0
    );
    let kept = format!("{keep}-0");
    assert!(
        store.get_node(&kept).await.expect("get").is_some(),
        "types without a TTL stay"
    );
    assert!(store
        .edges_of(&kept, Direction::Both, None)
        .await
        .expect("edges")
        .is_empty());

    let records = captured.records("retention.delete");
    assert_eq!(records.len(), 2, "one record per batch: {records:?}");
    assert_eq!(records[0]["node.type"], log.as_str());
    assert_eq!(records[1]["node.type"], session.as_str());
    assert_eq!(records[1]["node.count"], 3);
    let mut ids: Vec<String> = serde_json::from_value(records[1]["node.ids"].clone()).expect("ids");
    ids.sort();
    assert_eq!(
        ids,
        (0..3).map(|i| format!("{session}-{i}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn expires_on_the_embedded_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(&dir.path().join("s.sqlite3")).expect("open");
    expires_by_type(&store, "e").await;
}

#[tokio::test]
async fn expires_on_neo4j() {
    let _turn = neo4j_support::exclusive().await;
    let Some(store) = neo4j_support::store().await else {
        return;
    };
    expires_by_type(&store, &uuid::Uuid::new_v4().simple().to_string()[..8]).await;
}

/// Tokio's clock is paused, so the scheduler's interval passes without waiting.
#[tokio::test(start_paused = true)]
async fn the_scheduler_sweeps_at_each_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn GraphStore> =
        Arc::new(EmbeddedStore::open(&dir.path().join("s.sqlite3")).expect("open"));
    store
        .apply(vec![node("session", "s1")], None)
        .await
        .expect("seed");
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let interval = std::time::Duration::from_secs(3600);
    let policy = RetentionPolicy::parse("session=30d").expect("policy");
    let task = retention::spawn(Arc::clone(&store), policy, interval, clock.clone());

    tokio::time::sleep(interval * 2).await;
    assert!(
        store.get_node("s1").await.expect("get").is_some(),
        "not expired yet"
    );
    clock.set(Utc::now() + Duration::days(31));
    let mut intervals = 0;
    while store.get_node("s1").await.expect("get").is_some() {
        intervals += 1;
        assert!(
            intervals < 100,
            "the scheduler never deleted the expired node"
        );
        tokio::time::sleep(interval).await;
    }
    task.abort();
}
