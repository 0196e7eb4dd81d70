//! What the gateway answers by itself: JSON errors and the headers every answer carries
//! ([`errors`]), and the whole replies of its own endpoints ([`Reply`]). Uses nothing else of the
//! crate, so every stage and endpoint can answer alike.

pub mod errors;

use bytes::Bytes;
use serde_json::json;

/// The request id every answer carries, and the upstream receives (`X-Request-ID`).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A complete answer of one of the proxy's own endpoints (login, token, metadata, the audit
/// viewer).
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    /// Extra headers (e.g. `Allow`).
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Reply {
    pub fn json(status: u16, value: serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: Bytes::from(value.to_string()),
        }
    }

    pub fn error(status: u16, code: &str, message: &str, request_id: &str) -> Self {
        Self::json(
            status,
            json!({"error": code, "message": message, "request_id": request_id}),
        )
    }

    pub fn method_not_allowed(allow: &'static str, request_id: &str) -> Self {
        let mut reply = Self::error(405, "method_not_allowed", "method not allowed", request_id);
        reply.headers.push(("allow", allow.to_owned()));
        reply
    }
}
