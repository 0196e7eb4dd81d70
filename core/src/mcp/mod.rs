//! MCP Streamable HTTP transport and tools (placeholder until the MCP module lands).
use crate::state::AppState;
use axum::Router;

/// Names of every MCP tool the core serves.
pub const TOOL_NAMES: &[&str] = &[];

#[derive(Default)]
pub struct McpState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
