//! The Neo4j store against the shared conformance suite and the embedded store's answers, on a
//! real Neo4j (see `neo4j_support`), plus what only a networked store has: credentials and TLS.

mod conformance;
mod neo4j_support;

use mimir_core::store::embedded::EmbeddedStore;
use mimir_core::store::neo4j::{Neo4jSettings, Neo4jStore};
use mimir_core::store::{GraphStore, NewEdge, NewNode, NodeQuery, WriteOp};
use neo4j_support::{exclusive, settings, store};
use serde_json::{json, Value};
use std::sync::Arc;

#[tokio::test]
async fn neo4j_store_conforms() {
    let _turn = exclusive().await;
    let Some(store) = store().await else { return };
    conformance::run_all(Arc::new(store)).await;
}

fn node(node_type: &str, id: &str, properties: Value) -> WriteOp {
    WriteOp::AddNode(NewNode {
        id: Some(id.into()),
        node_type: node_type.into(),
        properties: conformance::props(properties),
    })
}

/// Values Neo4j cannot store natively, property names the store uses itself, and text that
/// would break string-built Cypher all come back as written, and filters and search give the
/// embedded store's answers.
#[tokio::test]
async fn same_answers_as_the_embedded_store() {
    let _turn = exclusive().await;
    let Some(neo4j) = store().await else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = EmbeddedStore::open(&dir.path().join("s.sqlite3")).expect("open");
    let t = format!("parity-{}", uuid::Uuid::new_v4().simple());
    let ops = vec![
        node(
            &t,
            &format!("{t}-a"),
            json!({
                "id": "shadow", "type": "user-type", "embedding": "mine", "mimir_json": ["x"],
                "~tilde": 1, "mixed": [1, "a"], "nested": [[1, 2], {"k": "v"}], "big": u64::MAX,
                "floats": [1.5, 2.0], "ints": [1, 2], "empty": [], "one": 1.0,
                "note": "Grüße aus Köln"
            }),
        ),
        node(
            &t,
            &format!("{t}-b' }}) DETACH DELETE n //"),
            json!({
                "title": "x\") MATCH (m) DETACH DELETE m //", "a`b": "tick", "n.id": "dot", "one": 1
            }),
        ),
        node(
            &t,
            &format!("{t}-c"),
            json!({"mixed": "[1,\"a\"]", "ints": [1.0, 2.0]}),
        ),
        WriteOp::AddEdge(NewEdge {
            source: format!("{t}-a"),
            target: format!("{t}-c"),
            edge_type: "rel`) DELETE r //".into(),
            properties: conformance::props(json!({"id": "edge-shadow", "mixed": [true, 1]})),
        }),
    ];
    let written = neo4j
        .apply(ops.clone(), Some("alice"))
        .await
        .expect("neo4j write");
    embedded
        .apply(ops, Some("alice"))
        .await
        .expect("embedded write");
    for result in &written {
        if let mimir_core::store::WriteResult::Node(n) = result {
            assert_eq!(
                neo4j.get_node(&n.id).await.expect("get").as_ref(),
                Some(n),
                "stored as written"
            );
        }
    }
    let ids = |nodes: Vec<mimir_core::store::Node>| {
        let mut ids: Vec<String> = nodes.into_iter().map(|n| n.id).collect();
        ids.sort();
        ids
    };
    let types = vec![t.clone()];
    for filters in [
        json!({"id": "shadow"}),
        json!({"type": "user-type"}),
        json!({"mixed": [1, "a"]}),
        json!({"mixed": "[1,\"a\"]"}),
        json!({"nested": [[1, 2], {"k": "v"}]}),
        json!({"big": u64::MAX}),
        json!({"ints": [1, 2]}),
        json!({"ints": [1.0, 2.0]}),
        json!({"floats": [1.5, 2.0]}),
        json!({"empty": []}),
        json!({"one": 1}),
        json!({"one": 1.0}),
        json!({"embedding": "mine"}),
        json!({"mimir_json": ["x"]}),
        json!({"mixed": null}),
    ] {
        let query = NodeQuery {
            node_types: types.clone(),
            filters: conformance::props(filters.clone()),
            limit: 0,
            offset: 0,
        };
        let expected = ids(embedded.query_nodes(&query).await.expect("embedded query"));
        assert!(
            !expected.is_empty() || filters == json!({"mimir_json": ["x"]}),
            "{filters} finds something"
        );
        assert_eq!(
            ids(neo4j.query_nodes(&query).await.expect("neo4j query")),
            expected,
            "filter {filters}"
        );
    }
    for text in [
        "shadow",
        "user-type",
        "mine",
        "alice",
        "[1",
        "detach",
        "TICK",
        "grüße",
        "1.5",
    ] {
        let expected = ids(embedded
            .search_nodes(text, &types, 0)
            .await
            .expect("search"));
        assert_eq!(
            ids(neo4j.search_nodes(text, &types, 0).await.expect("search")),
            expected,
            "search {text:?}"
        );
    }
    let edges = neo4j
        .edges_of(&format!("{t}-a"), mimir_core::store::Direction::Out, None)
        .await
        .expect("edges");
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0].edge_type, "rel`) DELETE r //");
    assert_eq!(
        edges[0].properties,
        conformance::props(json!({"id": "edge-shadow", "mixed": [true, 1]}))
    );
    assert_eq!(neo4j.clear(Some(&t)).await.expect("clear"), 3);
}

#[tokio::test]
async fn wrong_credentials_are_refused() {
    let Some(mut settings) = settings() else {
        return;
    };
    settings.password.push_str("-wrong");
    assert!(Neo4jStore::connect(&settings).await.is_err());
}

fn tls_settings(ca_file: Option<String>) -> Option<Neo4jSettings> {
    let mut settings = settings()?;
    settings.uri = std::env::var("NEO4J_TEST_TLS_URI").expect("NEO4J_TEST_TLS_URI");
    settings.ca_file = ca_file.map(Into::into);
    Some(settings)
}

/// bolt+s:// verifies Neo4j's certificate: trusted through NEO4J_CA_FILE, refused without.
#[tokio::test]
async fn bolt_over_tls_verifies_the_server() {
    let ca = std::env::var("NEO4J_TEST_CA").ok();
    let Some(trusted) = tls_settings(ca) else {
        return;
    };
    let store = Neo4jStore::connect(&trusted)
        .await
        .expect("TLS with the test CA");
    store.count_nodes(&[]).await.expect("query over TLS");

    let untrusted = tls_settings(None).expect("settings");
    assert!(
        Neo4jStore::connect(&untrusted).await.is_err(),
        "a certificate from an unknown CA is refused"
    );
}
