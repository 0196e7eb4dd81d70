//! Node CRUD: `POST /api/nodes`, `GET|PUT|PATCH|DELETE /api/nodes/{id}`.

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::write_one;
use crate::state::{AppState, Scoped};
use crate::store::properties::flatten;
use crate::store::{NewNode, Node, Properties, WriteOp, WriteResult};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
pub struct CreateBody {
    #[serde(rename = "type")]
    node_type: Option<String>,
    properties: Option<Properties>,
    id: Option<String>,
}

#[derive(Deserialize)]
pub struct ReplaceBody {
    properties: Option<Properties>,
}

#[derive(Serialize)]
pub struct Written {
    success: bool,
    node: Node,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedNode {
    id: String,
    #[serde(rename = "type")]
    node_type: String,
    edges_removed: usize,
}

#[derive(Serialize)]
pub struct Deleted {
    success: bool,
    message: &'static str,
    deleted: DeletedNode,
}

fn written(result: WriteResult) -> Result<Json<Written>, ApiError> {
    match result {
        WriteResult::Node(node) => Ok(Json(Written {
            success: true,
            node,
        })),
        _ => Err(ApiError::internal(
            "the store answered a node write with another result",
        )),
    }
}

async fn existing(state: &AppState, id: &str) -> Result<Node, ApiError> {
    state
        .store
        .get_node(id)
        .await?
        .ok_or_else(|| ApiError::node_not_found(id))
}

pub async fn create(
    Scoped(state): Scoped,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(StatusCode, Json<Written>), ApiError> {
    let node_type = body
        .node_type
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("type is required"))?;
    let new = NewNode {
        id: body.id,
        node_type,
        properties: body.properties.unwrap_or_default(),
    };
    let node = written(write_one(&state, &headers, WriteOp::AddNode(new)).await?)?;
    Ok((StatusCode::CREATED, node))
}

pub async fn get(
    Scoped(state): Scoped,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Node>, ApiError> {
    Ok(Json(existing(&state, &id).await?))
}

/// Replaces all properties: keys absent from the body are removed (sent as `null`).
pub async fn replace(
    Scoped(state): Scoped,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReplaceBody>,
) -> Result<Json<Written>, ApiError> {
    let mut properties = flatten(
        body.properties
            .ok_or_else(|| ApiError::bad_request("properties is required"))?,
    );
    for (key, _) in existing(&state, &id).await?.properties {
        properties.entry(key).or_insert(Value::Null);
    }
    written(write_one(&state, &headers, WriteOp::UpdateNode { id, properties }).await?)
}

/// Merges the body into the node's properties (`null` removes a key).
pub async fn merge(
    Scoped(state): Scoped,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(properties): ApiJson<Properties>,
) -> Result<Json<Written>, ApiError> {
    if properties.is_empty() {
        return Err(ApiError::bad_request("no properties to update"));
    }
    existing(&state, &id).await?;
    written(write_one(&state, &headers, WriteOp::UpdateNode { id, properties }).await?)
}

pub async fn delete(
    Scoped(state): Scoped,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Json<Deleted>, ApiError> {
    let node_type = existing(&state, &id).await?.node_type;
    match write_one(&state, &headers, WriteOp::DeleteNode { id }).await? {
        WriteResult::Deleted { id, edges_removed } => Ok(Json(Deleted {
            success: true,
            message: "Node deleted",
            deleted: DeletedNode {
                id,
                node_type,
                edges_removed,
            },
        })),
        _ => Err(ApiError::internal(
            "the store answered a node delete with another result",
        )),
    }
}
