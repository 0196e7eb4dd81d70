//! `GET /health`: liveness for load balancers and the proxy, shaped like upstream Mimir's.

use axum::Json;
use serde::Serialize;

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
    version: &'static str,
    mode: &'static str,
    tools: usize,
}

pub async fn health() -> Json<Health> {
    Json(Health {
        status: "healthy",
        version: env!("CARGO_PKG_VERSION"),
        mode: "session",
        tools: crate::mcp::TOOL_NAMES.len(),
    })
}
