//! Node insert and query throughput of the embedded and Neo4j stores, side by side.
//!
//!     cargo bench -p mimir-core --bench stores            # embedded only
//!     tests/neo4j/run.sh bench                            # both, against a real Neo4j
//!
//! The Neo4j column needs NEO4J_TEST_URI / NEO4J_TEST_USER / NEO4J_TEST_PASSWORD and EMPTIES
//! that database. BENCH_NODES overrides the node count (default 10 000).

use mimir_core::embedding::embed;
use mimir_core::governance::view::{Classification, GovernedStore};
use mimir_core::governance::Sensitivity;
use mimir_core::store::embedded::EmbeddedStore;
use mimir_core::store::neo4j::{Neo4jSettings, Neo4jStore};
use mimir_core::store::{GraphStore, NewNode, NodeQuery, WriteOp};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

const BATCH: usize = 100;

/// A scenario and how many operations it performs.
struct Scenario {
    name: &'static str,
    ops: usize,
}

fn new_node(node_type: &str, i: usize) -> WriteOp {
    let properties = json!({
        "title": format!("memory {i} about rust graphs and agents"),
        "bucket": i % 10,
        "tags": ["bench", "store"],
    });
    WriteOp::AddNode(NewNode {
        id: Some(format!("{node_type}-{i}")),
        node_type: node_type.into(),
        properties: properties.as_object().cloned().unwrap_or_default(),
    })
}

/// Runs every scenario on `store` and returns operations per second, in scenario order.
async fn run(shared: Arc<dyn GraphStore>, nodes: usize) -> Vec<(Scenario, f64)> {
    let store = shared.as_ref();
    let mut results = Vec::new();
    let mut measure = |scenario: Scenario, started: Instant| {
        let rate = scenario.ops as f64 / started.elapsed().as_secs_f64();
        eprintln!("  {:<40} {rate:>12.1} ops/s", scenario.name);
        results.push((scenario, rate));
    };

    let started = Instant::now();
    for i in 0..nodes {
        store
            .apply(vec![new_node("single", i)], None)
            .await
            .expect("insert");
    }
    measure(
        Scenario {
            name: "insert, one node per transaction",
            ops: nodes,
        },
        started,
    );

    let started = Instant::now();
    let ops: Vec<WriteOp> = (0..nodes).map(|i| new_node("batch", i)).collect();
    for chunk in ops.chunks(BATCH) {
        store
            .apply(chunk.to_vec(), None)
            .await
            .expect("insert batch");
    }
    measure(
        Scenario {
            name: "insert, 100 nodes per transaction",
            ops: nodes,
        },
        started,
    );

    let reads = nodes.min(2000);
    let started = Instant::now();
    for i in 0..reads {
        let id = format!("single-{}", (i * 7919) % nodes);
        assert!(store.get_node(&id).await.expect("get").is_some());
    }
    measure(
        Scenario {
            name: "get node by id",
            ops: reads,
        },
        started,
    );

    let queries = 100;
    let started = Instant::now();
    for i in 0..queries {
        let query = NodeQuery {
            node_types: vec!["batch".into()],
            filters: json!({"bucket": i % 10})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            limit: 50,
            offset: 0,
        };
        assert!(!store.query_nodes(&query).await.expect("query").is_empty());
    }
    measure(
        Scenario {
            name: "property filter, 50 of a type",
            ops: queries,
        },
        started,
    );

    let searches = 20;
    let started = Instant::now();
    for i in 0..searches {
        let text = format!("memory {}", i * 31 % nodes);
        store
            .search_nodes(&text, &["batch".into()], 10)
            .await
            .expect("search");
    }
    measure(
        Scenario {
            name: "keyword search in a type",
            ops: searches,
        },
        started,
    );

    let vectors = 5;
    let query = embed("rust graph agents");
    let started = Instant::now();
    for _ in 0..vectors {
        store
            .vector_search(&query, &["batch".into()], 10, 0.0)
            .await
            .expect("vector");
    }
    measure(
        Scenario {
            name: "vector search in a type",
            ops: vectors,
        },
        started,
    );

    let started = Instant::now();
    for _ in 0..queries {
        store.count_by_type().await.expect("count");
    }
    measure(
        Scenario {
            name: "count by type",
            ops: queries,
        },
        started,
    );

    // Every other node of type `classified` is above an `internal` caller's clearance.
    let rules = Arc::new(Classification::default());
    let writer = GovernedStore::new(
        Arc::clone(&shared),
        Arc::clone(&rules),
        Sensitivity::Restricted,
    );
    let ops: Vec<WriteOp> = (0..nodes)
        .map(|i| {
            let level = if i % 2 == 0 {
                "internal"
            } else {
                "confidential"
            };
            let mut op = new_node("classified", i);
            if let WriteOp::AddNode(new) = &mut op {
                new.properties.insert("sensitivity".into(), level.into());
            }
            op
        })
        .collect();
    for chunk in ops.chunks(BATCH) {
        writer
            .apply(chunk.to_vec(), None)
            .await
            .expect("insert classified");
    }
    let reader = GovernedStore::new(shared, rules, Sensitivity::Internal);
    let visible = nodes.div_ceil(2);
    let started = Instant::now();
    for i in 0..queries {
        let query = NodeQuery {
            node_types: vec!["classified".into()],
            limit: 50,
            offset: (i * 7919) % visible.saturating_sub(50).max(1),
            ..NodeQuery::default()
        };
        let page = reader.query_nodes(&query).await.expect("filtered page");
        assert_eq!(page.len(), 50.min(visible));
    }
    measure(
        Scenario {
            name: "filtered listing, 50 at any offset",
            ops: queries,
        },
        started,
    );

    let started = Instant::now();
    for _ in 0..queries {
        let count = reader
            .count_nodes(&["classified".into()])
            .await
            .expect("filtered count");
        assert_eq!(count, visible);
    }
    measure(
        Scenario {
            name: "filtered count of a type",
            ops: queries,
        },
        started,
    );
    results
}

fn neo4j_settings() -> Option<Neo4jSettings> {
    Some(Neo4jSettings {
        uri: std::env::var("NEO4J_TEST_URI").ok()?,
        user: std::env::var("NEO4J_TEST_USER").unwrap_or_else(|_| "neo4j".into()),
        password: std::env::var("NEO4J_TEST_PASSWORD").ok()?,
        ca_file: None,
    })
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and only checks
    // that this builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let nodes: usize = std::env::var("BENCH_NODES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    eprintln!("embedded store ({nodes} nodes):");
    let embedded = EmbeddedStore::open(&dir.path().join("bench.sqlite3")).expect("open");
    let embedded = run(Arc::new(embedded), nodes).await;

    let neo4j = match neo4j_settings() {
        Some(settings) => {
            eprintln!("neo4j store at {} ({nodes} nodes):", settings.uri);
            let store = Arc::new(Neo4jStore::connect(&settings).await.expect("connect"));
            store.clear(None).await.expect("empty the bench database");
            let results = run(Arc::clone(&store) as Arc<dyn GraphStore>, nodes).await;
            store.clear(None).await.expect("clean up");
            Some(results)
        }
        None => {
            eprintln!("NEO4J_TEST_URI is not set: the Neo4j column is left out");
            None
        }
    };

    println!(
        "\n{:<40} {:>14} {:>14} {:>16}",
        "ops/s", "embedded", "neo4j", "neo4j/embedded"
    );
    for (i, (scenario, rate)) in embedded.iter().enumerate() {
        match neo4j.as_ref().map(|n| n[i].1) {
            Some(other) => println!(
                "{:<40} {rate:>14.1} {other:>14.1} {:>15.2}x",
                scenario.name,
                other / rate
            ),
            None => println!("{:<40} {rate:>14.1} {:>14} {:>16}", scenario.name, "-", "-"),
        }
    }
}
