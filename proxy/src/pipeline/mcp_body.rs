//! Reading a `POST /mcp` body whole before anything is sent upstream, so that every JSON-RPC
//! message is authorized first.
//!
//! The body is read in `request_filter` with pingora's retry buffer enabled: pingora replays
//! that buffer upstream (through `request_body_filter`) when the body was already consumed. The
//! buffer holds [`REPLAY_LIMIT`] bytes, so that is also the largest MCP body accepted.

use crate::authz::McpParseError;
use bytes::{Bytes, BytesMut};
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use serde_json::json;

/// pingora's retry buffer (`BODY_BUF_LIMIT` in pingora-core, HTTP/1 and HTTP/2): a larger body
/// could not be replayed.
pub const REPLAY_LIMIT: usize = 64 * 1024;

/// Reads the request body, at most `limit` bytes (and never more than [`REPLAY_LIMIT`]). The
/// outer error is the connection's (timeout, reset); the inner one is the client's 413.
pub async fn read(
    session: &mut Session,
    limit: usize,
) -> Result<std::result::Result<Bytes, McpParseError>> {
    let limit = limit.min(REPLAY_LIMIT);
    let too_large = Err(McpParseError::TooLarge { limit });
    let declared = session
        .req_header()
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Ok(too_large);
    }
    session.as_downstream_mut().enable_retry_buffering();
    let mut body = BytesMut::new();
    while let Some(chunk) = session.read_request_body().await? {
        if body.len() + chunk.len() > limit {
            return Ok(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Ok(body.freeze()))
}

/// The answer to a body that cannot be checked: 413 or 400 with a JSON-RPC error, as an MCP
/// client expects from the server.
pub fn parse_error(error: &McpParseError, request_id: &str) -> Result<(ResponseHeader, Bytes)> {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": error.rpc_code(),
            "message": error.to_string(),
            "data": {"request_id": request_id},
        },
    })
    .to_string();
    let mut resp = ResponseHeader::build(error.status(), Some(4))?;
    resp.insert_header("content-type", "application/json")?;
    resp.insert_header("content-length", body.len())?;
    resp.insert_header("cache-control", "no-store")?;
    resp.insert_header("x-content-type-options", "nosniff")?;
    Ok((resp, Bytes::from(body)))
}
