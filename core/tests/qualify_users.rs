//! The migration to source-qualified user ids (docs/identity-assertion.md, "Migration"): a
//! store written with bare ids is exported, `qualify-users` rewrites the file, and the store it
//! is imported into answers the qualified users' privacy requests — authors, subjects and
//! consent records included — with nothing left under the old ids.

mod governance_support;

use governance_support::{ids, As, ADMIN};
use mimir_core::config::CoreConfig;
use mimir_core::governance::{consent, privacy};
use mimir_core::migrate;
use mimir_core::store::embedded::EmbeddedStore;
use mimir_core::store::{Direction, GraphStore, NewEdge, NewNode, NodeQuery, Properties, WriteOp};
use reqwest::StatusCode;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

const ALICE: As = As {
    user: "dev|alice",
    roles: &["developer"],
    clearance: "confidential",
};
const CI: As = As {
    user: "apikey|ci",
    roles: &["developer"],
    clearance: "confidential",
};

fn add(id: &str, properties: serde_json::Value) -> WriteOp {
    let properties: Properties = properties.as_object().cloned().expect("object");
    WriteOp::AddNode(NewNode {
        id: Some(id.into()),
        node_type: "memory".into(),
        properties,
    })
}

fn open(dir: &Path) -> EmbeddedStore {
    std::fs::create_dir_all(dir).expect("data dir");
    EmbeddedStore::open(&dir.join("mimir.sqlite3")).expect("open")
}

/// As an older release wrote it: `alice` (a dev user), `apikey:ci` (an API key), `bob`.
async fn fill(store: &dyn GraphStore) {
    store
        .apply(vec![add("a1", json!({"title": "alice's"}))], Some("alice"))
        .await
        .expect("alice");
    store
        .apply(
            vec![
                add("c1", json!({"title": "the key's"})),
                WriteOp::UpdateNode {
                    id: "a1".into(),
                    properties: Properties::new(),
                },
            ],
            Some("apikey:ci"),
        )
        .await
        .expect("ci");
    store
        .apply(
            vec![add(
                "b1",
                json!({"title": "about alice", "subject": "alice"}),
            )],
            Some("bob"),
        )
        .await
        .expect("bob");
    let flags = json!({"analytics": true});
    consent::put(store, "alice", flags.as_object().expect("flags"), None)
        .await
        .expect("consent");
    let record = store
        .query_nodes(&NodeQuery {
            node_types: vec![consent::NODE_TYPE.into()],
            ..NodeQuery::default()
        })
        .await
        .expect("consent record")
        .remove(0);
    let edge = NewEdge {
        source: "b1".into(),
        target: record.id,
        edge_type: "mentions".into(),
        properties: Properties::new(),
    };
    store
        .apply(vec![WriteOp::AddEdge(edge)], Some("alice"))
        .await
        .expect("edge to the consent record");
}

#[tokio::test]
async fn qualified_users_find_their_data_after_the_migration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    fill(&open(&old)).await;
    let (exported, qualified) = (dir.path().join("old.jsonl"), dir.path().join("new.jsonl"));
    migrate::export(&CoreConfig::with_data_dir(old), &exported)
        .await
        .expect("export");
    let counts = migrate::qualify_users(&exported, &qualified, "dev").expect("qualify");
    assert_eq!((counts.nodes, counts.edges), (4, 1));
    assert!(
        migrate::qualify_users(&exported, &qualified, "dev").is_err(),
        "an existing file is never overwritten"
    );
    assert!(migrate::qualify_users(&exported, &dir.path().join("x"), "a|b").is_err());
    migrate::import(&CoreConfig::with_data_dir(new.clone()), &qualified)
        .await
        .expect("import");

    let store: Arc<dyn GraphStore> = Arc::new(open(&new));
    let a1 = store.get_node("a1").await.expect("get").expect("a1");
    assert_eq!(
        (a1.created_by.as_deref(), a1.updated_by.as_deref()),
        (Some("dev|alice"), Some("apikey|ci"))
    );
    let b1 = store.get_node("b1").await.expect("get").expect("b1");
    assert_eq!(b1.created_by.as_deref(), Some("dev|bob"));
    assert_eq!(b1.properties["subject"], "dev|alice");
    for old_id in ["alice", "apikey:ci", "bob"] {
        let plan = privacy::plan(store.as_ref(), old_id).await.expect("plan");
        assert_eq!(plan, privacy::Erasure::default(), "{old_id} is gone");
    }

    let edges = store
        .edges_of("b1", Direction::Out, None)
        .await
        .expect("edges");
    let target = store.get_node(&edges[0].target).await.expect("get");
    assert_eq!(
        (edges[0].created_by.as_deref(), target.map(|n| n.node_type)),
        (Some("dev|alice"), Some(consent::NODE_TYPE.to_owned())),
        "the edge follows the consent record to its new id"
    );

    let core = governance_support::over(Arc::clone(&store), |_| {}).await;
    let (status, export) = core.get("/api/privacy/export?user=dev|alice", &ALICE).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(ids(&export, "nodes"), ["a1", "b1"]);
    let (_, consent) = core.get("/api/privacy/consent/dev|alice", &ALICE).await;
    assert_eq!(consent["consent"], json!({"analytics": true}), "{consent}");
    let (_, export) = core.get("/api/privacy/export?user=apikey|ci", &CI).await;
    assert_eq!(ids(&export, "nodes"), ["a1", "c1"]);
    let (_, old) = core.get("/api/privacy/consent/alice", &ADMIN).await;
    assert_eq!(old["consent"], json!({}), "nothing under the old id");
}
