//! Constraints and indexes, created at start when missing.

use neo4rs::{query, Graph};

/// Uniqueness of node and edge ids (also their lookup indexes), and the type index every
/// listing, count and search starts from.
const STATEMENTS: &[&str] = &[
    "CREATE CONSTRAINT mimir_node_id IF NOT EXISTS FOR (n:Node) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT mimir_edge_id IF NOT EXISTS FOR ()-[r:EDGE]-() REQUIRE r.id IS UNIQUE",
    "CREATE INDEX mimir_node_type IF NOT EXISTS FOR (n:Node) ON (n.type)",
];

/// What `IF NOT EXISTS` still reports when another process created the same rule at the same
/// moment (several replicas starting against a new database).
const CREATED_CONCURRENTLY: &str = "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists";

pub(super) async fn prepare(graph: &Graph) -> Result<(), neo4rs::Error> {
    for statement in STATEMENTS {
        match graph.run(query(statement)).await {
            Err(neo4rs::Error::Neo4j(e)) if e.code() == CREATED_CONCURRENTLY => {}
            other => other?,
        }
    }
    // New indexes are populated in the background; queries must not run before they are online.
    graph.run(query("CALL db.awaitIndexes(300)")).await?;
    Ok(())
}
