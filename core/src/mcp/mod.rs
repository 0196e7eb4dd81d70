//! MCP over Streamable HTTP at `/mcp`: a small JSON-RPC 2.0 layer (single messages and batches)
//! with per-client sessions, and the Mimir memory tools. See `docs/mcp.md`.
//!
//! We do not use `rmcp`: it follows the 2025-06-18 spec, which dropped JSON-RPC batches that
//! 2025-03-26 clients still send, and every tool needs the request's identity headers.

pub(crate) mod confirm;
mod dispatch;
mod jsonrpc;
mod origin;
mod quota;
mod schema;
mod session;
#[cfg(test)]
mod testing;
mod tools;
mod transport;

use crate::config::CoreConfig;
use crate::state::AppState;
use axum::routing::post;
use axum::Router;
use confirm::ConfirmStore;
use origin::OriginPolicy;
use session::SessionStore;
use std::num::NonZeroUsize;

/// Names of every MCP tool the core serves (the proxy's per-tool rules refer to them).
pub const TOOL_NAMES: &[&str] = &[
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

/// Default cap on one user's open sessions (`MIMIR_MCP_SESSIONS_PER_USER`): a few clients each.
pub const SESSIONS_PER_USER: NonZeroUsize = NonZeroUsize::new(16).unwrap();
/// Default cap on one user's pending confirmations (`MIMIR_MCP_CONFIRMATIONS_PER_USER`): a whole
/// batch of previews.
pub const CONFIRMATIONS_PER_USER: NonZeroUsize = NonZeroUsize::new(100).unwrap();

/// Process-wide MCP state: sessions, pending confirmations and the transport's policies.
pub struct McpState {
    sessions: SessionStore,
    pub(crate) confirmations: ConfirmStore,
    origins: OriginPolicy,
    /// Extra file names `index_folder` refuses, from upstream's `MIMIR_SENSITIVE_FILES`.
    sensitive_files: Vec<String>,
}

impl McpState {
    pub fn new(config: &CoreConfig) -> Self {
        Self {
            sessions: SessionStore::new(config.mcp_sessions_per_user.get()),
            confirmations: ConfirmStore::new(config.mcp_confirmations_per_user.get()),
            origins: OriginPolicy::from_list(
                std::env::var("MIMIR_ALLOWED_ORIGINS").ok().as_deref(),
            ),
            sensitive_files: comma_list(std::env::var("MIMIR_SENSITIVE_FILES").ok().as_deref()),
        }
    }
}

/// `/mcp`: POST carries JSON-RPC, DELETE ends a session, GET is refused (no server-initiated stream).
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/mcp",
        post(transport::post)
            .delete(transport::delete)
            .get(transport::get),
    )
}

/// One message of a `POST /mcp` body that the core acts on: its method and, for `tools/call`,
/// the tool and the `operation` argument the tool reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub method: String,
    pub tool: Option<String>,
    pub operation: Option<String>,
}

/// The messages of a `POST /mcp` body as the core reads them, by the transport's and the
/// dispatcher's own steps: `None` when the body is refused whole; per message, `None` when it
/// is answered with an error or not run (notifications, responses). The gateway authorizes MCP
/// bodies by its own reading of the same bytes, so this is public for the one thing that needs
/// it: the differential fuzz target (fuzz/) checking that both readings agree.
pub fn read_body(body: &[u8]) -> Option<Vec<Option<Invocation>>> {
    let items = match transport::read(body).ok()? {
        transport::Body::One(message) => vec![message],
        transport::Body::Batch(items) => items,
    };
    let read = |item| match jsonrpc::classify(item) {
        jsonrpc::Message::Request(request) if request.method == "tools/call" => {
            let (tool, arguments) = dispatch::tool_target(&request).ok()?;
            Some(Invocation {
                method: request.method,
                tool: Some(tool.name.to_owned()),
                operation: tools::Args::new(arguments)
                    .str("operation")
                    .map(str::to_owned),
            })
        }
        jsonrpc::Message::Request(request) => Some(Invocation {
            method: request.method,
            tool: None,
            operation: None,
        }),
        jsonrpc::Message::NoReply | jsonrpc::Message::Invalid(_) => None,
    };
    Some(items.into_iter().map(read).collect())
}

/// 128 random bits as hex: session and confirmation ids.
fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

fn comma_list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_match_the_registry() {
        let registered: Vec<&str> = tools::registry().iter().map(|t| t.name).collect();
        assert_eq!(registered, TOOL_NAMES);
    }

    #[test]
    fn random_ids_are_128_bit_hex_and_distinct() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn bodies_read_as_the_dispatcher_runs_them() {
        let call = |tool: &str, op: Option<&str>| {
            Some(Invocation {
                method: "tools/call".into(),
                tool: Some(tool.into()),
                operation: op.map(Into::into),
            })
        };
        assert_eq!(
            read_body(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"memory_node","arguments":{"operation":"delete"}}}"#),
            Some(vec![call("memory_node", Some("delete"))])
        );
        assert_eq!(
            read_body(br#"[{"jsonrpc":"2.0","method":"tools/call","params":{"name":"todo"}},
                          {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"nope"}},
                          {"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"todo","arguments":{"operation":null}}},
                          {"jsonrpc":"2.0","id":4,"method":"ping"}]"#),
            Some(vec![
                None,
                None,
                call("todo", None),
                Some(Invocation {
                    method: "ping".into(),
                    tool: None,
                    operation: None
                })
            ])
        );
        assert_eq!(read_body(b"[]"), None);
        assert_eq!(read_body(b"{"), None);
    }

    #[test]
    fn comma_lists_are_trimmed() {
        assert_eq!(comma_list(Some(" a, ,b ")), vec!["a", "b"]);
        assert!(comma_list(None).is_empty());
    }
}
