//! The MCP tools: one module per tool group, each exporting its definitions (name, description,
//! input schema, handler). Shared here: the call context, errors and the result envelope.

mod args;
mod batch;
mod clear;
mod context;
mod edge;
mod folders;
mod lock;
mod node;
mod todo;
mod vector;

pub use args::Args;

use super::confirm::{self, ConfirmError};
use crate::state::AppState;
use crate::store::{GraphStore, Node, Properties, StoreError, WriteOp, WriteResult};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;

/// Node types the tool schemas offer (upstream's list).
pub const NODE_TYPES: &[&str] = &[
    "todo", "todoList", "memory", "file", "function", "class", "module", "concept", "person",
    "project", "custom",
];
/// Edge types the tool schemas offer (upstream's list).
pub const EDGE_TYPES: &[&str] = &[
    "contains",
    "depends_on",
    "relates_to",
    "implements",
    "calls",
    "imports",
    "assigned_to",
    "parent_of",
    "blocks",
    "references",
];
/// Largest page a query may ask for.
pub const MAX_LIMIT: u64 = 1000;

pub type ToolResult = Result<Value, ToolError>;
type Handler = fn(ToolCtx, Args) -> Pin<Box<dyn Future<Output = ToolResult> + Send>>;

pub struct ToolDef {
    pub name: &'static str,
    pub description: &'static str,
    pub input_schema: Value,
    pub handler: Handler,
}

static REGISTRY: LazyLock<Vec<ToolDef>> = LazyLock::new(|| {
    [
        node::definitions(),
        edge::definitions(),
        batch::definitions(),
        lock::definitions(),
        todo::definitions(),
        context::definitions(),
        clear::definitions(),
        vector::definitions(),
        folders::definitions(),
    ]
    .into_iter()
    .flatten()
    .collect()
});

pub fn registry() -> &'static [ToolDef] {
    &REGISTRY
}

pub fn find(name: &str) -> Option<&'static ToolDef> {
    registry().iter().find(|t| t.name == name)
}

#[derive(Debug)]
pub enum ToolError {
    /// The caller's mistake; the message is shown as is.
    Invalid(String),
    NotFound(String),
    Store(StoreError),
    /// A fault of ours; the detail is logged, never shown.
    Internal(String),
}

impl From<StoreError> for ToolError {
    fn from(e: StoreError) -> Self {
        ToolError::Store(e)
    }
}

impl ToolError {
    /// The message a client may see; backend and internal details go to the log instead.
    pub fn client_message(&self, tool: &str) -> String {
        match self {
            ToolError::Invalid(m) | ToolError::NotFound(m) => m.clone(),
            ToolError::Store(StoreError::Backend(detail)) | ToolError::Internal(detail) => {
                tracing::error!(tool, %detail, "MCP tool failed");
                "Internal error while running the tool".into()
            }
            ToolError::Store(e) => e.to_string(),
        }
    }
}

/// What a tool handler gets: the app state and the verified caller.
#[derive(Clone)]
pub struct ToolCtx {
    pub state: AppState,
    pub actor: Option<String>,
}

impl ToolCtx {
    pub fn store(&self) -> &dyn GraphStore {
        self.state.store.as_ref()
    }

    /// One transaction attributed to the caller.
    pub async fn apply(&self, ops: Vec<WriteOp>) -> Result<Vec<WriteResult>, ToolError> {
        Ok(self.state.store.apply(ops, self.actor.as_deref()).await?)
    }

    /// True when the call carries a valid confirmation for exactly these arguments; false when
    /// the caller has not confirmed yet (the tool then answers with [`Self::ask_confirmation`]).
    pub fn confirmed(&self, tool: &str, args: &Args) -> Result<bool, ToolError> {
        if args.bool("confirm") != Some(true) {
            return Ok(false);
        }
        let id = args.str("confirmationId").ok_or_else(|| {
            ToolError::Invalid(
                "confirm=true needs the confirmationId returned by the preview call".into(),
            )
        })?;
        let digest = confirm::digest(tool, args.map());
        match self.state.mcp.confirmations.redeem(id, digest, self.actor.as_deref()) {
            Ok(()) => Ok(true),
            Err(ConfirmError::Unknown) => Err(ToolError::Invalid(
                "Unknown, expired or already used confirmationId; call again without confirm for a new preview".into(),
            )),
            Err(ConfirmError::Mismatch) => Err(ToolError::Invalid(
                "confirmationId was issued for different parameters; repeat the previewed call exactly".into(),
            )),
        }
    }

    pub fn ask_confirmation(
        &self,
        tool: &str,
        args: &Args,
        preview: Value,
        message: String,
    ) -> Result<Value, ToolError> {
        let digest = confirm::digest(tool, args.map());
        let id = self
            .state
            .mcp
            .confirmations
            .issue(digest, self.actor.as_deref())
            .map_err(|_| {
                ToolError::Invalid(
                    "Too many confirmations are pending on this server: try again in a few minutes"
                        .into(),
                )
            })?;
        Ok(json!({
            "needsConfirmation": true,
            "confirmationId": id,
            "expiresInSeconds": confirm::TTL.as_secs(),
            "preview": preview,
            "message": format!("{message} Call again with the same parameters plus confirm=true and this confirmationId to proceed."),
        }))
    }

    /// The node `id`, or a "not found" error.
    pub async fn node(&self, id: &str) -> Result<Node, ToolError> {
        let node = self.store().get_node(id).await?;
        node.ok_or_else(|| ToolError::NotFound(format!("Node not found: {id}")))
    }

    /// The node `id` if it exists and has type `node_type`.
    pub async fn node_of_type(
        &self,
        id: &str,
        node_type: &str,
        label: &str,
    ) -> Result<Node, ToolError> {
        match self.store().get_node(id).await? {
            Some(node) if node.node_type == node_type => Ok(node),
            _ => Err(ToolError::NotFound(format!("{label} not found: {id}"))),
        }
    }

    pub fn sensitive_files(&self) -> &[String] {
        &self.state.mcp.sensitive_files
    }
}

/// For an operation the schema's enum should have refused already.
pub fn unknown_operation(operation: &str) -> ToolError {
    ToolError::Invalid(format!("Unknown operation: {operation}"))
}

/// `{success: true, ...fields}`.
pub fn success(fields: Value) -> ToolResult {
    let mut object = match fields {
        Value::Object(map) => map,
        other => [("result".to_string(), other)].into_iter().collect(),
    };
    object.insert("success".into(), Value::Bool(true));
    Ok(Value::Object(object))
}

/// Node properties from an argument, nested objects flattened to `a_b` keys as upstream does.
pub fn properties(args: &Args, key: &str) -> Properties {
    crate::store::properties::flatten(args.object(key))
}

/// The first node written by a one-op `apply`.
pub fn written_node(results: Vec<WriteResult>) -> Result<Node, ToolError> {
    match results.into_iter().next() {
        Some(WriteResult::Node(node)) => Ok(node),
        other => Err(ToolError::Internal(format!(
            "store returned {other:?} for a node write"
        ))),
    }
}

/// A node for listings: long text values (file contents) shortened so answers stay small.
pub fn node_summary(node: &Node) -> Value {
    const MAX_CHARS: usize = 500;
    let mut value = serde_json::to_value(node).unwrap_or(Value::Null);
    if let Some(properties) = value.get_mut("properties").and_then(Value::as_object_mut) {
        for v in properties.values_mut() {
            if let Some(s) = v.as_str().filter(|s| s.chars().count() > MAX_CHARS) {
                *v = Value::String(s.chars().take(MAX_CHARS).chain(['…']).collect());
            }
        }
    }
    value
}

/// The MCP `tools/call` result: text content with the pretty JSON, and the same value as
/// structured content on protocol versions that know it.
pub fn call_result(tool: &str, outcome: ToolResult, structured: bool) -> Value {
    let (body, is_error) = match outcome {
        Ok(value) => (value, false),
        Err(e) => (
            json!({ "success": false, "error": e.client_message(tool) }),
            true,
        ),
    };
    let text = serde_json::to_string_pretty(&body).unwrap_or_default();
    let mut result = json!({ "content": [{ "type": "text", "text": text }] });
    if is_error {
        result["isError"] = Value::Bool(true);
    }
    if structured {
        result["structuredContent"] = body;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_hide_backend_details() {
        let e = ToolError::Store(StoreError::Backend("disk I/O error at /var/lib/x".into()));
        let result = call_result("memory_node", Err(e), true);
        assert_eq!(result["isError"], true);
        let text = result["content"][0]["text"].as_str().unwrap();
        assert!(!text.contains("/var/lib"), "{text}");
        assert_eq!(result["structuredContent"]["success"], false);
        let e = ToolError::Store(StoreError::NotFound("node x".into()));
        assert_eq!(e.client_message("t"), "not found: node x");
    }

    #[test]
    fn results_carry_text_and_optionally_structured_content() {
        let result = call_result("t", success(json!({"a": 1})), false);
        assert!(result.get("structuredContent").is_none());
        assert!(result.get("isError").is_none());
        let text: Value =
            serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, json!({"a": 1, "success": true}));
    }

    #[test]
    fn long_texts_are_shortened_in_summaries() {
        let mut properties = Properties::new();
        properties.insert("content".into(), Value::String("x".repeat(2000)));
        let node = Node {
            id: "n".into(),
            node_type: "file".into(),
            properties,
            created: String::new(),
            updated: String::new(),
            created_by: None,
            updated_by: None,
            sensitivity: None,
            pii: Vec::new(),
        };
        let summary = node_summary(&node);
        assert_eq!(
            summary["properties"]["content"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            501
        );
    }
}
