//! What `index_folder` may read (docs/mcp.md, "Folder indexing"): nothing until an index root is
//! named, never a root holding the data directory, and never the gateway's own files (the
//! proxy's API keys and audit trail, keys, the embedded store) inside a root.

mod governance_support;

use governance_support::{Keys, ADMIN};
use mimir_core::state::AppState;
use mimir_core::store::embedded::EmbeddedStore;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

#[tokio::test]
async fn nothing_is_indexed_without_a_configured_root() {
    // The defaults, as a core started without MIMIR_INDEX_ROOTS runs.
    let core = governance_support::embedded(|_| {}).await;
    for path in [".", "data", "/"] {
        let answer = core
            .tool(&ADMIN, "index_folder", json!({ "path": path }))
            .await;
        assert_eq!(answer["isError"], true, "{path}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap_or_default()
                .contains("No index root is configured"),
            "{path}: {answer}"
        );
    }
}

/// The error `AppState::new` gives for `roots` with the data directory at `<base>/data`.
fn start_error(base: &Path, roots: &[&Path]) -> String {
    let data = base.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let keys = Keys::generate();
    let mut config = governance_support::config(&keys, &data);
    config.index_roots = roots.iter().map(|r| r.to_path_buf()).collect();
    let store = EmbeddedStore::open(&data.join("mimir.sqlite3")).expect("open");
    match AppState::new(Arc::new(store), config) {
        Ok(_) => String::new(),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn a_root_holding_the_data_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().canonicalize().expect("canonical");
    let (data, docs) = (base.join("data"), base.join("docs"));
    std::fs::create_dir_all(&docs).expect("docs");
    for holding in [base.as_path(), data.as_path(), Path::new("/")] {
        let error = start_error(&base, &[&docs, holding]);
        assert!(
            error.contains("MIMIR_INDEX_ROOTS") && error.contains("MIMIR_DATA_DIR"),
            "{}: {error}",
            holding.display()
        );
    }
    // Through `..` and through a symlink: the same folder.
    let error = start_error(&base, &[&docs.join("..")]);
    assert!(error.contains("MIMIR_DATA_DIR"), "{error}");
    #[cfg(unix)]
    {
        let link = tempfile::tempdir().expect("tempdir");
        let link = link.path().join("base-link");
        std::os::unix::fs::symlink(&base, &link).expect("symlink");
        let error = start_error(&base, &[&link]);
        assert!(error.contains("MIMIR_DATA_DIR"), "{error}");
    }
    // Folders beside the data directory, or below it, do not expose the store.
    assert_eq!(start_error(&base, &[&docs, &data.join("index")]), "");
    assert_eq!(start_error(&base, &[&base.join("data-other")]), "");
}

#[tokio::test]
async fn the_gateways_own_files_are_never_indexed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    for (path, content) in [
        ("notes.md", "# notes"),
        ("proxy/api-keys.json", r#"{"keys":[]}"#),
        ("proxy/api-keys.tmp4242", r#"{"keys":[]}"#),
        ("audit/audit.log", r#"{"seq":1}"#),
        ("audit/audit.log.00000000000000000001", r#"{"seq":1}"#),
        ("audit/audit-2025.jsonl", r#"{"seq":1}"#),
        ("audit/proxy.audit", r#"{"seq":1}"#),
        ("audit/spool/00000000000000000001.spool", r#"{"seq":1}"#),
        ("certs/session.key", "0123456789abcdef0123456789abcdef"),
        ("certs/identity/identity.key", "-----BEGIN PRIVATE KEY-----"),
        ("certs/tls.pem", "-----BEGIN CERTIFICATE-----"),
        ("certs/keycloak-client-secret", "s3cret"),
        ("backup/mimir.sqlite3", "SQLite format 3"),
        ("backup/mimir.sqlite3-wal", "wal"),
    ] {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, content).expect("write");
    }
    let index = root.clone();
    let core = governance_support::embedded(move |c| c.index_roots = vec![index]).await;

    let answer = core
        .tool(&ADMIN, "index_folder", json!({ "path": root }))
        .await;
    assert_eq!(answer["isError"], false, "{answer}");
    assert_eq!(answer["filesIndexed"], 1, "only notes.md: {answer}");
    assert_eq!(answer["skippedCount"], 13, "{answer}");
    let skipped = answer["skipped"].as_array().expect("skipped");
    assert!(
        skipped.iter().all(|s| s["reason"] == "sensitive"),
        "{answer}"
    );
    let files = core
        .tool(
            &ADMIN,
            "memory_node",
            json!({"operation": "query", "type": "file"}),
        )
        .await;
    assert_eq!(files["count"], 1, "{files}");
    assert_eq!(files["nodes"][0]["properties"]["name"], "notes.md");
}
