//! Clearance: each role's clearance sees exactly the nodes it may, through REST, MCP and
//! export, on the embedded store and on a real Neo4j (see `neo4j_support`).

mod governance_support;
mod neo4j_support;

use std::sync::Arc;

#[tokio::test]
async fn clearance_matrix_on_the_embedded_store() {
    let core = governance_support::embedded(|_| {}).await;
    governance_support::matrix::run(&core, "emb").await;
}

#[tokio::test]
async fn clearance_matrix_on_neo4j() {
    let _turn = neo4j_support::exclusive().await;
    let Some(store) = neo4j_support::store().await else {
        return;
    };
    let core = governance_support::over(Arc::new(store), |_| {}).await;
    let tag = format!("n{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    governance_support::matrix::run(&core, &tag).await;
}

/// A node without a level of its own has its type's default, which may be above a clearance.
#[tokio::test]
async fn type_defaults_classify_nodes_without_a_level() {
    use governance_support::{ids, ADMIN, ANALYST};
    use mimir_core::governance::SensitivityDefaults;
    let core = governance_support::embedded(|c| {
        c.sensitivity_defaults =
            SensitivityDefaults::parse("person=confidential").expect("defaults");
    })
    .await;
    core.create(&ADMIN, "person", "p1", serde_json::json!({"name": "x"}))
        .await;
    core.create(&ADMIN, "memory", "m1", serde_json::json!({}))
        .await;
    let (_, admin) = core.get("/api/nodes/p1", &ADMIN).await;
    assert_eq!(admin["sensitivity"], "confidential");
    let (_, listed) = core.get("/api/nodes/query", &ANALYST).await;
    assert_eq!(ids(&listed, "nodes"), ["m1"]);
    let (_, types) = core.get("/api/nodes/types", &ANALYST).await;
    assert_eq!(types["total"], 1, "{types}");
}
