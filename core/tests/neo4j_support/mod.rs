//! Finding the real Neo4j the tests run against: `tests/neo4j/run.sh` starts one and exports
//! NEO4J_TEST_URI, NEO4J_TEST_TLS_URI, NEO4J_TEST_CA, NEO4J_TEST_USER and NEO4J_TEST_PASSWORD.

use mimir_core::store::neo4j::{Neo4jSettings, Neo4jStore};
use std::io::Write;
use tokio::sync::{Mutex, MutexGuard};

/// The tests of one binary share the database, and some clear it: they take turns.
static DATABASE: Mutex<()> = Mutex::const_new(());

pub async fn exclusive() -> MutexGuard<'static, ()> {
    DATABASE.lock().await
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set with NEO4J_TEST_URI"))
}

/// Settings of the test server, or `None` (with a loud notice) when none is configured.
/// Under CI a missing server is a failure, never a skip.
pub fn settings() -> Option<Neo4jSettings> {
    let Ok(uri) = std::env::var("NEO4J_TEST_URI") else {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        assert!(
            !ci,
            "NEO4J_TEST_URI is not set under CI: run these tests through tests/neo4j/run.sh"
        );
        // Written to stderr directly, past the test harness's output capture.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** NEO4J_TEST_URI is not set: the Neo4j store was NOT tested. \
             Run tests/neo4j/run.sh to test it against a real Neo4j. ***\n"
        );
        return None;
    };
    Some(Neo4jSettings {
        uri,
        user: env("NEO4J_TEST_USER"),
        password: env("NEO4J_TEST_PASSWORD"),
        ca_file: None,
    })
}

pub async fn store() -> Option<Neo4jStore> {
    let settings = settings()?;
    Some(
        Neo4jStore::connect(&settings)
            .await
            .expect("connect to the test Neo4j"),
    )
}
