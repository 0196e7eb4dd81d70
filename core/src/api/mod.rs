//! REST API of the core: nodes, edges, privacy requests and health. Identity comes only from
//! the proxy (see `crate::identity`) and is recorded on writes.

mod edges;
mod error;
mod extract;
mod graph;
mod health;
mod listing;
mod nodes;
mod privacy;

use crate::state::AppState;
use crate::store::{WriteOp, WriteResult};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::Router;
use error::ApiError;

/// Largest page any listing returns, whatever `limit` asks for.
const MAX_LIMIT: usize = 1000;

pub fn routes() -> Router<AppState> {
    // Literal segments (`query`, `search`, …) take precedence over `{id}` in axum's router.
    Router::new()
        .route("/health", get(health::health))
        .route("/api/nodes", post(nodes::create))
        .route("/api/nodes/query", get(listing::query))
        .route("/api/nodes/search", get(listing::search))
        .route("/api/nodes/types", get(listing::types))
        .route("/api/nodes/types/{type}", get(listing::of_type))
        .route("/api/nodes/vector-search", get(listing::vector_search))
        .route(
            "/api/nodes/{id}",
            get(nodes::get)
                .put(nodes::replace)
                .patch(nodes::merge)
                .delete(nodes::delete),
        )
        .route("/api/nodes/{id}/edges", get(graph::edges))
        .route("/api/nodes/{id}/neighbors", get(graph::neighbors))
        .route("/api/edges", post(edges::create))
        .route("/api/edges/{id}", get(edges::get).delete(edges::delete))
        .route("/api/privacy/export", get(privacy::export))
        .route("/api/privacy/user/{id}", delete(privacy::erase))
        .route(
            "/api/privacy/consent/{id}",
            get(privacy::get_consent).put(privacy::put_consent),
        )
}

/// `limit` or its default, kept within 1..=MAX_LIMIT.
fn page_size(limit: Option<usize>, default: usize) -> usize {
    limit.unwrap_or(default).clamp(1, MAX_LIMIT)
}

/// A comma-separated list (`types=a,b`); blanks are ignored.
fn list(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Applies one write op attributed to the caller and returns its single result.
async fn write_one(
    state: &AppState,
    headers: &HeaderMap,
    op: WriteOp,
) -> Result<WriteResult, ApiError> {
    let actor = crate::identity::actor(headers);
    let mut results = state.store.apply(vec![op], actor.as_deref()).await?;
    results
        .pop()
        .ok_or_else(|| ApiError::internal("the store returned no result for a write"))
}
