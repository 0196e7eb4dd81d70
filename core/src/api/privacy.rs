//! Privacy requests of a user (docs/governance.md): export of their data, erasure with a
//! two-step confirmation, and consent flags. Allowed to the admin role and to the user
//! themselves, as the verified identity says.

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::governance::consent;
use crate::governance::privacy::{self, Item};
use crate::identity::{valid_user_id, Caller, MAX_USER_ID_BYTES};
use crate::mcp::confirm::{self, ConfirmError};
use crate::state::{AppState, Scoped};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

/// What a confirmation token is bound to (with the caller): erasing this user.
const ERASE: &str = "privacy_erase";

fn authorize(caller: &Caller, user: &str) -> Result<(), ApiError> {
    if !valid_user_id(user) {
        return Err(ApiError::bad_request(format!(
            "user must be 1 to {MAX_USER_ID_BYTES} bytes without control characters"
        )));
    }
    if caller.is_admin() || caller.user_id.as_deref() == Some(user) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "privacy requests are for the user themselves or an admin",
    ))
}

#[derive(Deserialize)]
pub struct ExportParams {
    user: Option<String>,
}

/// `GET /api/privacy/export?user=ID`: `{"user", "nodes": [...], "edges": [...]}`, streamed as
/// it is read, holding only what the caller's clearance shows. A failure part-way aborts the
/// response, so a truncated export never passes for a complete one.
pub async fn export(
    Scoped(state): Scoped,
    caller: Caller,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let user = params
        .user
        .ok_or_else(|| ApiError::bad_request("user is required"))?;
    authorize(&caller, &user)?;
    let (out, chunks) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(produce(state, user, out));
    let stream = futures_util::stream::unfold(chunks, |mut chunks| async move {
        chunks.recv().await.map(|chunk| (chunk, chunks))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn chunk(text: String) -> Result<Bytes, std::io::Error> {
    Ok(Bytes::from(text))
}

async fn produce(state: AppState, user: String, out: mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let (tx, mut items) = mpsc::channel(64);
    let store = state.store.clone();
    let reader = user.clone();
    let sending = async move { privacy::send(store.as_ref(), &reader, &tx).await };
    let writing = async {
        let mut text = format!("{{\"user\":{},\"nodes\":[", json!(user));
        let (mut in_edges, mut first) = (false, true);
        while let Some(item) = items.recv().await {
            let value = match item {
                Item::Node(node) => json!(node),
                Item::Edge(edge) => {
                    if !in_edges {
                        text.push_str("],\"edges\":[");
                        (in_edges, first) = (true, true);
                    }
                    json!(edge)
                }
            };
            if !first {
                text.push(',');
            }
            first = false;
            text.push_str(&value.to_string());
            if out.send(chunk(std::mem::take(&mut text))).await.is_err() {
                break;
            }
        }
        if !in_edges {
            text.push_str("],\"edges\":[");
        }
        text.push_str("]}");
        text
    };
    let (sent, tail) = tokio::join!(sending, writing);
    let last = match sent {
        Ok(()) => chunk(tail),
        Err(e) => {
            tracing::error!(error = %e, "privacy export failed part-way");
            Err(std::io::Error::other("export failed"))
        }
    };
    let _ = out.send(last).await;
}

#[derive(Deserialize)]
pub struct EraseParams {
    confirm: Option<String>,
}

/// `DELETE /api/privacy/user/{id}`: without `confirm`, a preview and a single-use token
/// (five minutes, bound to the caller); with `?confirm=TOKEN`, the erasure.
pub async fn erase(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<String>,
    ApiQuery(params): ApiQuery<EraseParams>,
) -> Result<Json<Value>, ApiError> {
    authorize(&caller, &user)?;
    let mut bound = Map::new();
    bound.insert("user".into(), user.clone().into());
    let digest = confirm::digest(ERASE, &bound);
    // Erasure sees the whole store: nothing of the user may stay behind a clearance.
    let plan = privacy::plan(state.store.as_ref(), &user).await?;
    let requester = caller.user_id.as_deref();
    let Some(token) = params.confirm else {
        let token = state
            .mcp
            .confirmations
            .issue(digest, requester)
            .map_err(|_| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many confirmations are pending; try again in a few minutes",
                )
            })?;
        return Ok(Json(json!({
            "needsConfirmation": true,
            "confirmationToken": token,
            "expiresInSeconds": confirm::TTL.as_secs(),
            "preview": {
                "nodesToDelete": plan.nodes_deleted.len(),
                "nodesToAnonymize": plan.nodes_anonymized.len(),
                "edgesToDelete": plan.edges_deleted.len(),
            },
            "message": "Call again with ?confirm=<confirmationToken> to erase this user's data.",
        })));
    };
    match state.mcp.confirmations.redeem(&token, digest, requester) {
        Ok(()) => {}
        Err(ConfirmError::Unknown) => {
            return Err(ApiError::bad_request(
                "unknown, expired or already used confirmation token; call again without confirm",
            ))
        }
        Err(ConfirmError::Mismatch) => {
            return Err(ApiError::bad_request(
                "the confirmation token was issued for another user or caller",
            ))
        }
    }
    privacy::erase(state.store.as_ref(), &user, &plan, requester).await?;
    Ok(Json(
        json!({ "success": true, "user": user, "erased": plan }),
    ))
}

/// `GET /api/privacy/consent/{id}`.
pub async fn get_consent(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&caller, &user)?;
    let (flags, updated) = consent::get(state.store.as_ref(), &user).await?;
    Ok(Json(
        json!({ "user": user, "consent": flags, "updated": updated }),
    ))
}

/// `PUT /api/privacy/consent/{id}` with `{"flag": true, …}`: replaces the user's flags.
pub async fn put_consent(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<String>,
    ApiJson(flags): ApiJson<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    authorize(&caller, &user)?;
    // Not attributed to the caller: the record is the user's alone, so that erasing an admin
    // who set it never removes it.
    consent::put(state.store.as_ref(), &user, &flags, None).await?;
    let (flags, updated) = consent::get(state.store.as_ref(), &user).await?;
    Ok(Json(
        json!({ "user": user, "consent": flags, "updated": updated }),
    ))
}
