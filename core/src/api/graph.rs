//! Graph walks from a node: `GET /api/nodes/{id}/edges` and `/neighbors`.

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use crate::state::Scoped;
use crate::store::{Direction, Edge, StoreError, Subgraph};
use axum::Json;
use serde::{Deserialize, Serialize};

/// Deepest walk served; the neighbourhood grows exponentially with depth.
const MAX_DEPTH: usize = 5;

#[derive(Deserialize)]
pub struct WalkParams {
    #[serde(default)]
    direction: Direction,
    #[serde(rename = "type")]
    edge_type: Option<String>,
    depth: Option<usize>,
}

#[derive(Serialize)]
pub struct Edges {
    edges: Vec<Edge>,
    count: usize,
}

/// A missing start node is reported with the node 404 body.
fn start_missing(id: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(_) => ApiError::node_not_found(id),
        other => other.into(),
    }
}

pub async fn edges(
    Scoped(state): Scoped,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<WalkParams>,
) -> Result<Json<Edges>, ApiError> {
    let edges = state
        .store
        .edges_of(&id, params.direction, params.edge_type.as_deref())
        .await
        .map_err(|e| start_missing(&id, e))?;
    Ok(Json(Edges {
        count: edges.len(),
        edges,
    }))
}

pub async fn neighbors(
    Scoped(state): Scoped,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<WalkParams>,
) -> Result<Json<Subgraph>, ApiError> {
    let depth = params.depth.unwrap_or(1);
    if !(1..=MAX_DEPTH).contains(&depth) {
        return Err(ApiError::bad_request(format!(
            "depth must be between 1 and {MAX_DEPTH}"
        )));
    }
    let subgraph = state
        .store
        .neighborhood(&id, params.direction, params.edge_type.as_deref(), depth)
        .await
        .map_err(|e| start_missing(&id, e))?;
    Ok(Json(subgraph))
}
