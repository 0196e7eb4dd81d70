//! Export / import: embedded → file → Neo4j → file → embedded loses nothing (ids, properties,
//! timestamps, authors, stored embeddings), shown by byte-equal files and equal answers; and
//! the `mimir-core export` / `import` commands on the embedded store.

mod neo4j_support;

use mimir_core::config::CoreConfig;
use mimir_core::embedding::embed;
use mimir_core::migrate::{self, Counts};
use mimir_core::store::embedded::EmbeddedStore;
use mimir_core::store::{Direction, GraphStore, NewEdge, NewNode, Properties, WriteOp};
use neo4j_support::{exclusive, store};
use serde_json::json;
use std::path::Path;
use std::process::Command;

fn props(value: serde_json::Value) -> Properties {
    value.as_object().cloned().expect("an object")
}

fn add(id: &str, node_type: &str, properties: serde_json::Value) -> WriteOp {
    WriteOp::AddNode(NewNode {
        id: Some(id.into()),
        node_type: node_type.into(),
        properties: props(properties),
    })
}

fn link(source: &str, target: &str, edge_type: &str, properties: serde_json::Value) -> WriteOp {
    WriteOp::AddEdge(NewEdge {
        source: source.into(),
        target: target.into(),
        edge_type: edge_type.into(),
        properties: props(properties),
    })
}

/// A small graph with what is easy to lose: several authors, an update after creation, a lock
/// (changes properties without re-embedding), awkward names and values.
async fn fill(store: &dyn GraphStore) -> Counts {
    store
        .apply(
            vec![
                add(
                    "memory-1",
                    "memory",
                    json!({"title": "rust graph memory", "tags": ["a", "b"]}),
                ),
                add(
                    "memory-2",
                    "memory",
                    json!({"title": "Köln", "id": "shadow", "mixed": [1, "x"], "big": u64::MAX}),
                ),
                add(
                    "task-1",
                    "task",
                    json!({"status": "open", "priority": 2, "ratio": 0.25}),
                ),
                link(
                    "memory-1",
                    "memory-2",
                    "relates_to",
                    json!({"weight": 0.5, "why": {"k": "v"}}),
                ),
            ],
            Some("alice"),
        )
        .await
        .expect("first batch");
    let results = store
        .apply(
            vec![
                WriteOp::UpdateNode {
                    id: "memory-1".into(),
                    properties: props(json!({"title": "rust graph memory server"})),
                },
                add("orphan", "note", json!({})),
                link("task-1", "memory-1", "depends_on", json!({})),
                link("task-1", "task-1", "self", json!({})),
            ],
            None,
        )
        .await
        .expect("second batch");
    assert_eq!(results.len(), 4);
    store
        .acquire_lock("task-1", "agent-7", 3_600_000)
        .await
        .expect("lock");
    Counts { nodes: 4, edges: 3 }
}

fn embedded_config(dir: &Path) -> CoreConfig {
    CoreConfig::with_data_dir(dir.to_path_buf())
}

async fn embedded_at(dir: &Path) -> EmbeddedStore {
    std::fs::create_dir_all(dir).expect("data dir");
    EmbeddedStore::open(&dir.join("mimir.sqlite3")).expect("open")
}

/// Everything a client can read back, for comparing two stores.
async fn answers(store: &dyn GraphStore) -> serde_json::Value {
    let mut nodes = Vec::new();
    for id in ["memory-1", "memory-2", "task-1", "orphan"] {
        nodes.push(serde_json::to_value(store.get_node(id).await.expect("get")).expect("json"));
        let edges = store
            .edges_of(id, Direction::Both, None)
            .await
            .expect("edges");
        nodes.push(serde_json::to_value(edges).expect("json"));
    }
    let hits = store
        .vector_search(&embed("rust graph memory agent"), &[], 0, -1.0)
        .await
        .expect("vector search");
    let scores: Vec<_> = hits
        .iter()
        .map(|h| json!([h.node.id, h.similarity]))
        .collect();
    json!({"nodes": nodes, "scores": scores, "counts": format!("{:?}", store.count_by_type().await.expect("count"))})
}

#[tokio::test]
async fn embedded_to_neo4j_to_embedded_is_lossless() {
    let _turn = exclusive().await;
    let Some(neo4j) = store().await else { return };
    neo4j.clear(None).await.expect("empty the test database");
    let dir = tempfile::tempdir().expect("tempdir");
    let (source_dir, back_dir) = (dir.path().join("source"), dir.path().join("back"));
    let source = embedded_at(&source_dir).await;
    let expected = fill(&source).await;

    let first = dir.path().join("first.jsonl");
    assert_eq!(
        migrate::export(&embedded_config(&source_dir), &first)
            .await
            .expect("export"),
        expected
    );
    assert_eq!(
        migrate::import_neo4j_from(&neo4j, &first)
            .await
            .expect("import into Neo4j"),
        expected
    );
    assert_eq!(
        answers(&neo4j).await,
        answers(&source).await,
        "Neo4j answers as the source"
    );

    let second = dir.path().join("second.jsonl");
    assert_eq!(
        migrate::export_neo4j_to(&neo4j, &second)
            .await
            .expect("export Neo4j"),
        expected
    );
    assert_eq!(
        migrate::import(&embedded_config(&back_dir), &second)
            .await
            .expect("import back"),
        expected
    );
    let third = dir.path().join("third.jsonl");
    migrate::export(&embedded_config(&back_dir), &third)
        .await
        .expect("export again");

    let text = |p: &Path| std::fs::read_to_string(p).expect("read export");
    assert_eq!(
        text(&second),
        text(&first),
        "Neo4j export equals the embedded export"
    );
    assert_eq!(text(&third), text(&first), "the round trip changed nothing");
    assert_eq!(
        answers(&embedded_at(&back_dir).await).await,
        answers(&source).await
    );

    let again = migrate::import_neo4j_from(&neo4j, &first).await;
    assert!(again.is_err(), "import into a non-empty store is refused");
    neo4j.clear(None).await.expect("clean up");
}

fn core_command(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mimir-core"));
    command
        .env("MIMIR_DATA_DIR", data_dir)
        .env("MIMIR_STORE", "embedded")
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0");
    command
}

/// The commands a person runs: export, import into a fresh data directory, refusals.
#[tokio::test]
async fn export_and_import_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source_dir, copy_dir) = (dir.path().join("source"), dir.path().join("copy"));
    fill(&embedded_at(&source_dir).await).await;
    let file = dir.path().join("graph.jsonl");
    let run = |command: &mut Command| command.status().expect("run mimir-core").success();

    assert!(run(core_command(&source_dir)
        .args(["export", "--out"])
        .arg(&file)));
    assert!(
        !run(core_command(&source_dir)
            .args(["export", "--out"])
            .arg(&file)),
        "an existing file is not overwritten"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("stat").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the export is private to its owner");
    }
    assert!(run(core_command(&copy_dir)
        .args(["import", "--in"])
        .arg(&file)));
    assert!(
        !run(core_command(&copy_dir).args(["import", "--in"]).arg(&file)),
        "import into a non-empty store is refused"
    );
    let copy = embedded_at(&copy_dir).await;
    assert_eq!(
        answers(&copy).await,
        answers(&embedded_at(&source_dir).await).await
    );

    let broken = dir.path().join("broken.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&file)
        .expect("read")
        .lines()
        .map(str::to_owned)
        .collect();
    lines.push(r#"{"kind":"edge","id":"edge-x","source":"memory-1","target":"missing","type":"t","properties":{},"created":"2024-01-01T00:00:00.000Z"}"#.into());
    std::fs::write(&broken, lines.join("\n")).expect("write");
    let empty_dir = dir.path().join("empty");
    assert!(!run(core_command(&empty_dir)
        .args(["import", "--in"])
        .arg(&broken)));
    let untouched = embedded_at(&empty_dir).await;
    assert_eq!(
        untouched.count_nodes(&[]).await.expect("count"),
        0,
        "a failed import writes nothing"
    );

    let not_ours = dir.path().join("other.jsonl");
    std::fs::write(&not_ours, "{\"kind\":\"node\"}\n").expect("write");
    assert!(!run(core_command(&empty_dir)
        .args(["import", "--in"])
        .arg(&not_ours)));
}
