//! The MCP methods: `initialize`, `ping`, `tools/list` and `tools/call`.

use super::jsonrpc::{self, Request, RpcError, INVALID_REQUEST, METHOD_NOT_FOUND};
use super::schema;
use super::tools::{self, Args, ToolCtx, ToolDef, ToolError};
use crate::state::AppState;
use serde_json::{json, Map, Value};

/// Protocol revisions we speak, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["2025-06-18", "2025-03-26", "2024-11-05"];
/// First revision whose tool results carry `structuredContent`.
const STRUCTURED_CONTENT_SINCE: &str = "2025-06-18";

/// The client's version when we support it, else our latest (the client then decides).
pub fn negotiate(requested: &str) -> &'static str {
    SUPPORTED_VERSIONS
        .iter()
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(SUPPORTED_VERSIONS[0])
}

/// The `initialize` result and the negotiated version.
pub fn initialize(request: &Request) -> Result<(Value, &'static str), RpcError> {
    let params = request.params_object()?;
    let requested = params
        .get("protocolVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params("params.protocolVersion (a string) is required"))?;
    let version = negotiate(requested);
    let result = json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": { "name": "mimir-core", "version": env!("CARGO_PKG_VERSION") },
        "instructions": "Mimir knowledge-graph memory: store and link nodes (memory_node, memory_edge, memory_batch), \
    manage todos, search by meaning (vector_search_nodes) and index folders. Destructive operations return a preview and \
    a confirmationId first.",
    });
    Ok((result, version))
}

/// Who is calling, in which session.
pub struct Caller {
    pub state: AppState,
    pub actor: Option<String>,
    pub protocol_version: &'static str,
}

/// The JSON-RPC response to one request of an established session.
pub async fn handle(request: Request, caller: &Caller) -> Value {
    let result = match request.method.as_str() {
        "ping" => Ok(json!({})),
        "tools/list" => tools_list(&request),
        "tools/call" => tools_call(&request, caller).await,
        "initialize" => Err(RpcError::new(
            INVALID_REQUEST,
            "initialize must be sent alone, not in a batch",
        )),
        other => Err(RpcError::new(
            METHOD_NOT_FOUND,
            format!("Method not found: {other}"),
        )),
    };
    match result {
        Ok(result) => jsonrpc::success(request.id, result),
        Err(error) => jsonrpc::failure(request.id, error),
    }
}

/// Every tool on one page: there are too few to paginate, so any cursor is invalid.
fn tools_list(request: &Request) -> Result<Value, RpcError> {
    if request
        .params_object()?
        .get("cursor")
        .is_some_and(|c| !c.is_null())
    {
        return Err(RpcError::invalid_params("Invalid cursor"));
    }
    let tools: Vec<Value> = tools::registry()
        .iter()
        .map(|t| json!({ "name": t.name, "description": t.description, "inputSchema": t.input_schema }))
        .collect();
    Ok(json!({ "tools": tools }))
}

/// The tool a `tools/call` names and the arguments it is called with.
pub(super) fn tool_target(
    request: &Request,
) -> Result<(&'static ToolDef, Map<String, Value>), RpcError> {
    let params = request.params_object()?;
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params("params.name (the tool name) is required"))?;
    let tool = tools::find(name)
        .ok_or_else(|| RpcError::invalid_params(format!("Unknown tool: {name}")))?;
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            return Err(RpcError::invalid_params(
                "params.arguments must be an object",
            ))
        }
    };
    Ok((tool, arguments))
}

async fn tools_call(request: &Request, caller: &Caller) -> Result<Value, RpcError> {
    let (tool, arguments) = tool_target(request)?;
    let name = tool.name;
    // Revisions are dates, so string order is release order.
    let structured = caller.protocol_version >= STRUCTURED_CONTENT_SINCE;
    if let Err(problem) = schema::validate(&tool.input_schema, &arguments) {
        let outcome = Err(ToolError::Invalid(format!(
            "Invalid arguments for {name}: {problem}"
        )));
        return Ok(tools::call_result(name, outcome, structured));
    }
    tracing::debug!(
        tool = name,
        actor = caller.actor.as_deref(),
        "MCP tool call"
    );
    let ctx = ToolCtx {
        state: caller.state.clone(),
        actor: caller.actor.clone(),
    };
    // Its own task, so that a panic in a tool becomes an internal error instead of a dropped
    // connection (and a client hanging up does not cut a write short).
    let outcome = tokio::spawn((tool.handler)(ctx, Args::new(arguments)))
        .await
        .map_err(|e| {
            tracing::error!(tool = name, error = %e, "MCP tool task failed");
            RpcError::internal()
        })?;
    Ok(tools::call_result(name, outcome, structured))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_echoed_when_supported_else_latest() {
        assert_eq!(negotiate("2024-11-05"), "2024-11-05");
        assert_eq!(negotiate("2025-03-26"), "2025-03-26");
        assert_eq!(negotiate("2025-11-25"), "2025-06-18");
        assert_eq!(negotiate("garbage"), "2025-06-18");
    }

    #[test]
    fn initialize_needs_a_protocol_version() {
        let request = |params| Request {
            id: json!(1),
            method: "initialize".into(),
            params,
        };
        let (result, version) =
            initialize(&request(Some(json!({"protocolVersion":"2025-03-26"})))).unwrap();
        assert_eq!(version, "2025-03-26");
        assert_eq!(result["serverInfo"]["name"], "mimir-core");
        assert!(result["capabilities"]["tools"].is_object());
        assert_eq!(
            initialize(&request(None)).unwrap_err().code,
            jsonrpc::INVALID_PARAMS
        );
        assert_eq!(
            initialize(&request(Some(json!({"protocolVersion":5}))))
                .unwrap_err()
                .code,
            jsonrpc::INVALID_PARAMS
        );
    }

    #[tokio::test]
    async fn tool_calls_are_validated_before_running() {
        let t = crate::mcp::testing::state(vec![]);
        let unknown = crate::mcp::testing::call_rpc(&t.state, None, "nope", json!({})).await;
        assert_eq!(unknown["error"]["code"], jsonrpc::INVALID_PARAMS);
        assert_eq!(unknown["error"]["message"], "Unknown tool: nope");

        let wrong = crate::mcp::testing::call(
            &t.state,
            None,
            "memory_node",
            json!({"operation":"get","id":42}),
        )
        .await;
        assert_eq!(wrong["isError"], true);
        assert_eq!(
            wrong["error"],
            "Invalid arguments for memory_node: 'id' must be a string, got number"
        );
        let missing =
            crate::mcp::testing::call(&t.state, None, "memory_node", json!({"operation":"get"}))
                .await;
        assert_eq!(missing["error"], "'id' is required for operation 'get'");
        let bad_enum = crate::mcp::testing::call(
            &t.state,
            None,
            "vector_search_nodes",
            json!({"query":"x","depth":7}),
        )
        .await;
        assert_eq!(
            bad_enum["error"],
            "Invalid arguments for vector_search_nodes: 'depth' must be at most 3"
        );

        let caller = Caller {
            state: t.state.clone(),
            actor: None,
            protocol_version: "2025-06-18",
        };
        let request = Request {
            id: json!(9),
            method: "tools/call".into(),
            params: Some(json!({"name":"memory_node","arguments":[1]})),
        };
        assert_eq!(
            handle(request, &caller).await["error"]["code"],
            jsonrpc::INVALID_PARAMS
        );
    }
}
