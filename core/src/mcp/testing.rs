//! Test helpers: an app state over a temporary embedded store, and tool calls through the
//! same dispatch path a client uses.

use super::dispatch::{self, Caller};
use super::jsonrpc::Request;
use crate::config::CoreConfig;
use crate::state::AppState;
use serde_json::{json, Value};
use std::path::PathBuf;

pub struct TestState {
    pub state: AppState,
    _data: tempfile::TempDir,
}

/// A fresh store; `index_roots` are the folders `index_folder` may read.
pub fn state(index_roots: Vec<PathBuf>) -> TestState {
    let data = tempfile::tempdir().unwrap();
    let mut config = CoreConfig::with_data_dir(data.path().to_path_buf());
    config.index_roots = index_roots;
    TestState {
        state: crate::embedded_state(config).unwrap(),
        _data: data,
    }
}

/// The JSON-RPC response to `tools/call` of `tool` by `actor` (protocol 2025-06-18).
pub async fn call_rpc(
    state: &AppState,
    actor: Option<&str>,
    tool: &str,
    arguments: Value,
) -> Value {
    let request = Request {
        id: json!(1),
        method: "tools/call".into(),
        params: Some(json!({ "name": tool, "arguments": arguments })),
    };
    let caller = Caller {
        state: state.clone(),
        actor: actor.map(str::to_string),
        protocol_version: "2025-06-18",
    };
    dispatch::handle(request, &caller).await
}

/// The structured result of a tool call, with `isError` copied in for convenience.
pub async fn call(state: &AppState, actor: Option<&str>, tool: &str, arguments: Value) -> Value {
    let response = call_rpc(state, actor, tool, arguments).await;
    let result = &response["result"];
    let mut body = result["structuredContent"].clone();
    body["isError"] = result.get("isError").cloned().unwrap_or(json!(false));
    body
}
