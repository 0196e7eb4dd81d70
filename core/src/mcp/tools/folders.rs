//! `index_folder`, `remove_folder`, `list_folders`: files of a folder inside the index roots
//! become `file` nodes, the folder a `watch_config` node. There is no continuous watching: run
//! `index_folder` again to refresh (files changed are updated, files gone are removed).

mod paths;
mod sensitive;
mod walk;

use super::{success, Args, ToolCtx, ToolDef, ToolError, ToolResult};
use crate::mcp::schema::{array, boolean, integer, object, string};
use crate::store::{NewNode, Node, NodeQuery, Properties, WriteOp};
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::Path;

const FILE: &str = "file";
const WATCH_CONFIG: &str = "watch_config";

pub fn definitions() -> Vec<ToolDef> {
    let index = json!({
        "path": string("Folder to index: absolute, or relative to the first index root; must lie inside MIMIR_INDEX_ROOTS"),
        "recursive": boolean("Include subfolders (default true)"),
        "file_patterns": array(string("glob"), 100, "Only files matching one of these globs, e.g. ['*.md', 'src/**/*.rs']"),
        "ignore_patterns": array(string("glob"), 100, "Skip files and folders matching these globs (.git and node_modules always are)"),
        "debounce_ms": integer(0, 3_600_000, "Accepted for compatibility; no effect (no continuous watching)"),
        "generate_embeddings": boolean("Accepted for compatibility; every node is embedded locally anyway"),
    });
    let path =
        json!({ "path": string("Folder path as given to index_folder, or its resolved form") });
    vec![
        ToolDef {
            name: "index_folder",
            description: "Index the text files of a folder (inside the configured index roots) as 'file' nodes with their \
content, for search. Files over 1 MiB, non-UTF-8 files, symlinks and sensitive files (.env*, keys, credentials, \
API-key, audit and store files) are skipped. Re-run to refresh: there is no continuous watching.",
            input_schema: object(index, &["path"]),
            handler: |ctx, args| Box::pin(index_folder(ctx, args)),
        },
        ToolDef {
            name: "remove_folder",
            description: "Remove an indexed folder: deletes its 'file' nodes and its watch_config.",
            input_schema: object(path, &["path"]),
            handler: |ctx, args| Box::pin(remove_folder(ctx, args)),
        },
        ToolDef {
            name: "list_folders",
            description: "List the indexed folders (watch_config nodes) with their settings and file counts.",
            input_schema: object(json!({}), &[]),
            handler: |ctx, _| Box::pin(list_folders(ctx)),
        },
    ]
}

async fn index_folder(ctx: ToolCtx, args: Args) -> ToolResult {
    let input = args.require("path", "index_folder")?;
    let roots = &ctx.state.config.index_roots;
    let folder = paths::resolve_folder(input, roots, ctx.sensitive_files())?;
    let (file_patterns, ignore_patterns) = (
        args.strings("file_patterns"),
        args.strings("ignore_patterns"),
    );
    let recursive = args.bool("recursive").unwrap_or(true);
    let filter = walk::Filter::new(
        &file_patterns,
        &ignore_patterns,
        recursive,
        ctx.sensitive_files().to_vec(),
    )?;
    let root = folder.clone();
    let found = tokio::task::spawn_blocking(move || walk::walk(&root, &filter))
        .await
        .map_err(|e| ToolError::Internal(format!("folder walk failed: {e}")))?;
    let folder = folder.to_string_lossy().into_owned();
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);

    let previous: HashSet<String> = files_of(&ctx, &folder)
        .await?
        .into_iter()
        .map(|n| n.id)
        .collect();
    let mut ops = Vec::with_capacity(found.files.len() + 1);
    let mut current = HashSet::new();
    for file in &found.files {
        let path = file.path.to_string_lossy();
        let extension = Path::new(&file.name)
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        let properties = json!({
            "path": path, "name": file.name, "extension": extension, "content": file.content,
            "size": file.size, "folder": folder, "indexed_at": now,
        });
        let id = path_id(FILE, &path);
        ops.push(upsert(&ctx, &previous, id.clone(), FILE, properties).await?);
        current.insert(id);
    }
    let removed: Vec<String> = previous.difference(&current).cloned().collect();
    ops.extend(
        removed
            .iter()
            .map(|id| WriteOp::DeleteNode { id: id.clone() }),
    );
    let config = json!({
        "path": folder, "recursive": recursive, "file_patterns": file_patterns, "ignore_patterns": ignore_patterns,
        "files_indexed": found.files.len(), "last_indexed": now, "watching": false,
    });
    let config_id = path_id(WATCH_CONFIG, &folder);
    ops.push(
        upsert(
            &ctx,
            &HashSet::new(),
            config_id.clone(),
            WATCH_CONFIG,
            config,
        )
        .await?,
    );
    ctx.apply(ops).await?;
    success(json!({
        "path": folder,
        "watchConfigId": config_id,
        "filesIndexed": found.files.len(),
        "filesRemoved": removed.len(),
        "skipped": found.skipped,
        "skippedCount": found.skipped_count,
        "truncated": found.truncated,
        "message": "Indexed. No continuous watching: call index_folder again to pick up changes.",
    }))
}

async fn remove_folder(ctx: ToolCtx, args: Args) -> ToolResult {
    let input = args.require("path", "remove_folder")?;
    let given = input.trim_end_matches('/');
    let roots = paths::canonical_roots(&ctx.state.config.index_roots);
    let resolved = paths::absolute(input, &roots).and_then(|p| p.canonicalize().ok());
    let candidates = std::iter::once(given.to_string())
        .chain(resolved.map(|p| p.to_string_lossy().into_owned()));
    let mut config = None;
    for candidate in candidates {
        if let Some(node) = ctx
            .store()
            .get_node(&path_id(WATCH_CONFIG, &candidate))
            .await?
        {
            config = Some(node);
            break;
        }
    }
    let config =
        config.ok_or_else(|| ToolError::NotFound(format!("Folder is not indexed: {input}")))?;
    let folder = config
        .properties
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let files = files_of(&ctx, folder).await?;
    let mut ops: Vec<WriteOp> = files
        .iter()
        .map(|n| WriteOp::DeleteNode { id: n.id.clone() })
        .collect();
    ops.push(WriteOp::DeleteNode {
        id: config.id.clone(),
    });
    ctx.apply(ops).await?;
    success(json!({ "path": folder, "filesRemoved": files.len() }))
}

async fn list_folders(ctx: ToolCtx) -> ToolResult {
    let query = NodeQuery {
        node_types: vec![WATCH_CONFIG.into()],
        ..NodeQuery::default()
    };
    let folders: Vec<Value> = ctx
        .store()
        .query_nodes(&query)
        .await?
        .into_iter()
        .map(|n| {
            let mut entry = Value::Object(n.properties);
            entry["id"] = Value::String(n.id);
            entry
        })
        .collect();
    success(json!({ "count": folders.len(), "folders": folders }))
}

/// Node ids derived from the path, so indexing the same file again updates its node.
fn path_id(prefix: &str, path: &str) -> String {
    format!(
        "{prefix}-{}",
        hex::encode(&Sha256::digest(path.as_bytes())[..16])
    )
}

async fn files_of(ctx: &ToolCtx, folder: &str) -> Result<Vec<Node>, ToolError> {
    let filters: Properties = [("folder".to_string(), json!(folder))]
        .into_iter()
        .collect();
    let query = NodeQuery {
        node_types: vec![FILE.into()],
        filters,
        limit: 0,
        offset: 0,
    };
    Ok(ctx.store().query_nodes(&query).await?)
}

/// Update when the node exists (known from `existing`, or found in the store: a file may have
/// been indexed through another folder), add otherwise.
async fn upsert(
    ctx: &ToolCtx,
    existing: &HashSet<String>,
    id: String,
    node_type: &str,
    properties: Value,
) -> Result<WriteOp, ToolError> {
    let properties = match properties {
        Value::Object(map) => map,
        _ => Properties::new(),
    };
    if existing.contains(&id) || ctx.store().get_node(&id).await?.is_some() {
        Ok(WriteOp::UpdateNode { id, properties })
    } else {
        Ok(WriteOp::AddNode(NewNode {
            id: Some(id),
            node_type: node_type.into(),
            properties,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ids_are_stable_and_distinct() {
        assert_eq!(path_id(FILE, "/a/b.md"), path_id(FILE, "/a/b.md"));
        assert_ne!(path_id(FILE, "/a/b.md"), path_id(FILE, "/a/c.md"));
        assert!(path_id(WATCH_CONFIG, "/a").starts_with("watch_config-"));
        assert_eq!(path_id(FILE, "/x").len(), "file-".len() + 32);
    }
}

#[cfg(test)]
mod tool_tests {
    use crate::mcp::testing::{call, state};
    use serde_json::json;
    use std::fs;

    #[tokio::test]
    async fn folders_are_indexed_refreshed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("notes/sub")).unwrap();
        fs::write(root.join("notes/a.md"), "alpha").unwrap();
        fs::write(root.join("notes/sub/b.txt"), "beta").unwrap();
        fs::write(root.join("notes/.env"), "SECRET=1").unwrap();
        let t = state(vec![root.clone()]);

        let first = call(&t.state, None, "index_folder", json!({"path":"notes"})).await;
        assert_eq!(
            (first["filesIndexed"].clone(), first["skippedCount"].clone()),
            (json!(2), json!(1))
        );
        let files = call(
            &t.state,
            None,
            "memory_node",
            json!({"operation":"query","type":"file"}),
        )
        .await;
        let a = files["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["properties"]["name"] == "a.md")
            .unwrap()
            .clone();
        assert_eq!(a["properties"]["content"], "alpha");
        assert_eq!(
            a["properties"]["folder"],
            root.join("notes").to_str().unwrap()
        );

        fs::write(root.join("notes/a.md"), "alpha 2").unwrap();
        fs::remove_file(root.join("notes/sub/b.txt")).unwrap();
        let second = call(
            &t.state,
            None,
            "index_folder",
            json!({"path": root.join("notes")}),
        )
        .await;
        assert_eq!(
            (
                second["filesIndexed"].clone(),
                second["filesRemoved"].clone()
            ),
            (json!(1), json!(1))
        );
        let again = call(
            &t.state,
            None,
            "memory_node",
            json!({"operation":"get","id":a["id"]}),
        )
        .await;
        assert_eq!(
            again["node"]["properties"]["content"], "alpha 2",
            "same id, updated content"
        );

        let listed = call(&t.state, None, "list_folders", json!({})).await;
        assert_eq!(listed["folders"][0]["files_indexed"], 1);
        let escape = call(
            &t.state,
            None,
            "index_folder",
            json!({"path":"notes/../.."}),
        )
        .await;
        assert_eq!(escape["isError"], true);

        let removed = call(&t.state, None, "remove_folder", json!({"path":"notes"})).await;
        assert_eq!(removed["filesRemoved"], 1);
        assert_eq!(
            call(&t.state, None, "list_folders", json!({})).await["count"],
            0
        );
        assert_eq!(
            call(
                &t.state,
                None,
                "memory_node",
                json!({"operation":"query","type":"file"})
            )
            .await["count"],
            0
        );
        assert_eq!(
            call(&t.state, None, "remove_folder", json!({"path":"notes"})).await["isError"],
            true
        );
    }
}
