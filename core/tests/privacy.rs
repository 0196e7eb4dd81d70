//! Privacy requests over REST on both stores: export of a user's data (clearance-filtered),
//! consent flags, and a confirmed erasure after which nothing of the user is left.

mod governance_support;
mod neo4j_support;

use governance_support::audit::Captured;
use governance_support::{ids, As, Core, ADMIN};
use mimir_core::store::{Direction, GraphStore, NodeQuery};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

const ALICE: As = As {
    user: "idp|alice",
    roles: &["developer"],
    clearance: "confidential",
};
const BOB: As = As {
    user: "idp|bob",
    roles: &["analyst"],
    clearance: "internal",
};

/// Whether anything in `store` still names `user`.
async fn traces_of(store: &dyn GraphStore, user: &str) -> Vec<String> {
    let mut traces = Vec::new();
    for node in store
        .query_nodes(&NodeQuery::default())
        .await
        .expect("nodes")
    {
        if mimir_core::governance::privacy::concerns(&node, user) {
            traces.push(format!("node {}", node.id));
        }
        for edge in store
            .edges_of(&node.id, Direction::Out, None)
            .await
            .expect("edges")
        {
            if edge.created_by.as_deref() == Some(user) {
                traces.push(format!("edge {}", edge.id));
            }
        }
    }
    traces
}

async fn privacy_requests(core: &Core, tag: &str) {
    let id = |name: &str| format!("{tag}-{name}");
    core.create(
        &ALICE,
        "memory",
        &id("a1"),
        json!({"title": "alice's note"}),
    )
    .await;
    core.create(
        &ALICE,
        "memory",
        &id("a2"),
        json!({"sensitivity": "confidential"}),
    )
    .await;
    core.create(&BOB, "memory", &id("b1"), json!({})).await;
    core.create(&BOB, "person", &id("b2"), json!({"subject": "idp|alice"}))
        .await;
    core.create(&BOB, "memory", &id("b3"), json!({"title": "shared"}))
        .await;
    core.create(
        &ADMIN,
        "memory",
        &id("r1"),
        json!({"subject": "idp|alice", "sensitivity": "restricted"}),
    )
    .await;
    let (status, _) = core
        .call(
            Method::PATCH,
            &format!("/api/nodes/{}", id("b3")),
            &ALICE,
            Some(json!({"title": "edited"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let bobs_edge = core.link(&BOB, &id("b1"), &id("a1")).await;
    let alices_edge = core.link(&ALICE, &id("b1"), &id("b3")).await;
    core.link(&BOB, &id("b1"), &id("b2")).await;

    // Export: the user's nodes and edges, as far as the caller's clearance goes.
    let response = core
        .request(
            Method::GET,
            "/api/privacy/export?user=idp|alice",
            Some(&ALICE),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(response.headers()["content-type"], "application/json");
    let (status, export) = governance_support::read(response).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let mine = |ids: Vec<String>| {
        ids.into_iter()
            .filter(|i| i.starts_with(tag))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        mine(ids(&export, "nodes")),
        [id("a1"), id("a2"), id("b2"), id("b3")]
    );
    let edges = ids(&export, "edges");
    for edge in [&bobs_edge, &alices_edge] {
        assert!(edges.contains(edge), "{edge} is not in {edges:?}");
    }
    let (status, admin_view) = core.get("/api/privacy/export?user=idp|alice", &ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        ids(&admin_view, "nodes").contains(&id("r1")),
        "the admin sees the restricted node"
    );
    let (status, body) = core.get("/api/privacy/export?user=idp|alice", &BOB).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Consent flags.
    let (status, body) = core.get("/api/privacy/consent/idp|alice", &ALICE).await;
    assert_eq!(
        (status, body["consent"].clone()),
        (StatusCode::OK, json!({}))
    );
    let flags = json!({"analytics": true, "marketing": false});
    let (status, body) = core
        .call(
            Method::PUT,
            "/api/privacy/consent/idp|alice",
            &ALICE,
            Some(flags.clone()),
        )
        .await;
    assert_eq!(
        (status, body["consent"].clone()),
        (StatusCode::OK, flags.clone())
    );
    let (_, body) = core.get("/api/privacy/consent/idp|alice", &ADMIN).await;
    assert_eq!(body["consent"], flags);
    let (status, _) = core.get("/api/privacy/consent/idp|alice", &BOB).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = core
        .call(
            Method::PUT,
            "/api/privacy/consent/idp|alice",
            &ALICE,
            Some(json!({"analytics": "yes"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Erasure: two steps, the token single-use and bound to the caller.
    let (status, _) = core
        .call(Method::DELETE, "/api/privacy/user/idp|alice", &BOB, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, preview) = core
        .call(Method::DELETE, "/api/privacy/user/idp|alice", &ALICE, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(preview["needsConfirmation"], true);
    let token = preview["confirmationToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let (status, _) = core
        .call(
            Method::DELETE,
            &format!("/api/privacy/user/idp|alice?confirm={token}"),
            &ADMIN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "another caller's token");
    let (status, _) = core
        .call(
            Method::DELETE,
            "/api/privacy/user/idp|alice?confirm=made-up",
            &ALICE,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, preview) = core
        .call(Method::DELETE, "/api/privacy/user/idp|alice", &ALICE, None)
        .await;
    let token = preview["confirmationToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let captured = Captured::default();
    let guard = captured.install();
    let (status, erased) = core
        .call(
            Method::DELETE,
            &format!("/api/privacy/user/idp|alice?confirm={token}"),
            &ALICE,
            None,
        )
        .await;
    drop(guard);
    assert_eq!(status, StatusCode::OK, "{erased}");
    let (status, _) = core
        .call(
            Method::DELETE,
            &format!("/api/privacy/user/idp|alice?confirm={token}"),
            &ALICE,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a token is single use");

    assert_eq!(
        traces_of(core.store.as_ref(), "idp|alice").await,
        Vec::<String>::new()
    );
    let b3 = core
        .store
        .get_node(&id("b3"))
        .await
        .expect("get")
        .expect("others' nodes stay");
    assert_eq!(
        (b3.created_by.as_deref(), b3.updated_by.as_deref()),
        (Some("idp|bob"), None)
    );
    assert!(core
        .store
        .get_edge(&alices_edge)
        .await
        .expect("get")
        .is_none());
    assert!(core.store.get_node(&id("b1")).await.expect("get").is_some());
    let (_, body) = core.get("/api/privacy/consent/idp|alice", &ADMIN).await;
    assert_eq!(body["consent"], json!({}), "consent goes too");
    let records = captured.records("privacy.erase");
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["user.target.id"], "idp|alice");
    assert_eq!(records[0]["user.id"], "idp|alice");
}

#[tokio::test]
async fn privacy_requests_on_the_embedded_store() {
    let core = governance_support::embedded(|_| {}).await;
    privacy_requests(&core, "e").await;
}

#[tokio::test]
async fn privacy_requests_on_neo4j() {
    let _turn = neo4j_support::exclusive().await;
    let Some(store) = neo4j_support::store().await else {
        return;
    };
    let core = governance_support::over(Arc::new(store), |_| {}).await;
    privacy_requests(&core, &uuid::Uuid::new_v4().simple().to_string()[..8]).await;
}
