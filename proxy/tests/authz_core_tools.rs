//! The shipped tool table against the real core: it names exactly the core's tools and, for
//! tools with an `operation` argument, exactly the operations their schemas offer; and the
//! core's real `tools/list` answer is filtered per role.
//!
//! Runs the core binary: `MIMIR_CORE_BIN`, default `target/debug/mimir-core`
//! (`cargo build -p mimir-core`).

#[allow(dead_code)]
mod support;

use mimir_proxy::authz::config::{RbacSource, Sources};
use mimir_proxy::authz::source::Fetcher;
use mimir_proxy::authz::{loader, routes, Authorizer};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// Every tool the core serves (`mimir_core::mcp::TOOL_NAMES`).
const CORE_TOOLS: [&str; 13] = [
    "memory_node",
    "memory_edge",
    "memory_batch",
    "memory_lock",
    "todo",
    "todo_list",
    "get_task_context",
    "memory_clear",
    "vector_search_nodes",
    "get_embedding_stats",
    "index_folder",
    "remove_folder",
    "list_folders",
];

/// Asks the real core for `tools/list`; returns the request body sent and the raw answer.
async fn core_tools_list() -> (Vec<u8>, Vec<u8>) {
    let core = support::start_core().await;
    let url = format!("http://{}/mcp", core.addr);
    let client = reqwest::Client::new();
    let init = client
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("x-user-id", "tester")
        .body(
            json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                "protocolVersion":"2025-06-18","capabilities":{},
                "clientInfo":{"name":"authz-test","version":"1"}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = json!({"jsonrpc":"2.0","id":"list-1","method":"tools/list"})
        .to_string()
        .into_bytes();
    let answer = client
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("x-user-id", "tester")
        .header("mcp-session-id", session)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    (body, answer.bytes().await.unwrap().to_vec())
}

fn tool_names(answer: &Value) -> BTreeSet<String> {
    answer["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn tool_table_matches_the_core() {
    let (_, answer) = core_tools_list().await;
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let table = routes::load(&config_dir().join("routes.toml"))
        .unwrap()
        .tools;

    let core: BTreeSet<String> = CORE_TOOLS.iter().map(|s| s.to_string()).collect();
    assert_eq!(tool_names(&answer), core);
    assert_eq!(table.keys().cloned().collect::<BTreeSet<_>>(), core);

    for tool in answer["result"]["tools"].as_array().unwrap() {
        let name = tool["name"].as_str().unwrap();
        let def = &table[name];
        match tool["inputSchema"]["properties"]["operation"]["enum"].as_array() {
            Some(ops) => {
                let ops: BTreeSet<String> =
                    ops.iter().map(|o| o.as_str().unwrap().to_owned()).collect();
                let listed = def
                    .operations
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name} has operations; list them"));
                assert_eq!(
                    listed.keys().cloned().collect::<BTreeSet<_>>(),
                    ops,
                    "{name}"
                );
            }
            None => assert!(
                def.all_of.is_some(),
                "{name} has no operation argument; use all_of"
            ),
        }
    }
}

#[tokio::test]
async fn real_tools_list_is_filtered_per_role() {
    let (request_body, answer) = core_tools_list().await;
    let sources = Sources {
        rbac: RbacSource::File(config_dir().join("rbac.json")),
        routes: config_dir().join("routes.toml"),
        auth_header: None,
        poll_interval: Duration::from_secs(60),
        timeout: Duration::from_secs(5),
        ca: None,
        allow_http: false,
    };
    let fetcher = Fetcher::new(&sources).unwrap();
    let authz = Authorizer::new(loader::load(&sources, &fetcher).await.unwrap().policy);
    let request = authz.parse_mcp(&request_body).unwrap();
    assert!(request.lists_tools());
    let visible = |role: &str| {
        let out = authz
            .filter_tools_list(&[role.to_owned()], &request, &answer)
            .unwrap();
        tool_names(&serde_json::from_slice(&out).unwrap())
    };
    let all: BTreeSet<String> = CORE_TOOLS.iter().map(|s| s.to_string()).collect();
    assert_eq!(visible("admin"), all);
    let developer: BTreeSet<String> = all
        .iter()
        .filter(|t| *t != "memory_clear")
        .cloned()
        .collect();
    assert_eq!(visible("developer"), developer);
    let analyst: BTreeSet<String> = [
        "memory_node",
        "memory_edge",
        "memory_lock",
        "todo",
        "todo_list",
        "get_task_context",
        "vector_search_nodes",
        "get_embedding_stats",
        "list_folders",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(visible("analyst"), analyst);
    assert!(visible("viewer").is_empty());
    assert!(visible("nobody-role").is_empty());
}
