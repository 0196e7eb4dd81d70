//! Edge CRUD: `POST /api/edges`, `GET|DELETE /api/edges/{id}`.

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::write_one;
use crate::state::Scoped;
use crate::store::{Edge, NewEdge, Properties, WriteOp, WriteResult};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
pub struct CreateBody {
    source: Option<String>,
    target: Option<String>,
    #[serde(rename = "type")]
    edge_type: Option<String>,
    properties: Option<Properties>,
}

#[derive(Serialize)]
pub struct Created {
    success: bool,
    edge: Edge,
}

#[derive(Serialize)]
pub struct DeletedEdge {
    id: String,
}

#[derive(Serialize)]
pub struct Deleted {
    success: bool,
    deleted: DeletedEdge,
}

fn required(value: Option<String>, name: &str) -> Result<String, ApiError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
}

pub async fn create(
    Scoped(state): Scoped,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let new = NewEdge {
        source: required(body.source, "source")?,
        target: required(body.target, "target")?,
        edge_type: required(body.edge_type, "type")?,
        properties: body.properties.unwrap_or_default(),
    };
    match write_one(&state, &headers, WriteOp::AddEdge(new)).await? {
        WriteResult::Edge(edge) => Ok((
            StatusCode::CREATED,
            Json(Created {
                success: true,
                edge,
            }),
        )),
        _ => Err(ApiError::internal(
            "the store answered an edge write with another result",
        )),
    }
}

pub async fn get(
    Scoped(state): Scoped,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Edge>, ApiError> {
    let edge = state
        .store
        .get_edge(&id)
        .await?
        .ok_or_else(|| ApiError::edge_not_found(&id))?;
    Ok(Json(edge))
}

pub async fn delete(
    Scoped(state): Scoped,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Json<Deleted>, ApiError> {
    if state.store.get_edge(&id).await?.is_none() {
        return Err(ApiError::edge_not_found(&id));
    }
    write_one(&state, &headers, WriteOp::DeleteEdge { id: id.clone() }).await?;
    Ok(Json(Deleted {
        success: true,
        deleted: DeletedEdge { id },
    }))
}
