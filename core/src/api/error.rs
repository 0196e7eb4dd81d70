//! The REST error body `{error, message}` and how store errors map to HTTP statuses.

use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    /// An error whose `error` field is the status's reason phrase.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let error = status.canonical_reason().unwrap_or("Error");
        Self {
            status,
            error,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// Upstream Mimir's 404 body for nodes, kept so existing clients match on it.
    pub fn node_not_found(id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            error: "Node not found",
            message: format!("no node with id {id:?}"),
        }
    }

    pub fn edge_not_found(id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            error: "Edge not found",
            message: format!("no edge with id {id:?}"),
        }
    }

    /// A failure that is ours, not the client's: details go to the log only.
    pub fn internal(detail: &str) -> Self {
        tracing::error!(%detail, "REST request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request could not be completed; see the server log",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => {
                Self::new(StatusCode::NOT_FOUND, format!("not found: {what}"))
            }
            StoreError::Invalid(why) => Self::bad_request(why),
            StoreError::Conflict(why) => Self::new(StatusCode::CONFLICT, why),
            StoreError::Forbidden(why) => Self::new(StatusCode::FORBIDDEN, why),
            StoreError::Backend(detail) => Self::internal(&detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.error,
            message: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}
