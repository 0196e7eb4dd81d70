//! Collecting a `POST /mcp` body whole so that every JSON-RPC message is authorized before the
//! core can act on any of it.
//!
//! The gateway feeds each chunk the client sends (`request_body_filter`) to a [`Collector`] and
//! forwards nothing of it; at the end of the stream the whole body is parsed and checked, and
//! only then released upstream, in one piece and unchanged. The request header has gone to the
//! core by then, but a refused body is never completed: the upstream connection is dropped, so
//! the core never runs the request. Nothing here depends on pingora's 64 KiB retry buffer: any
//! body up to the MCP limit is accepted.

use crate::request::mcp::McpParseError;
use bytes::{Bytes, BytesMut};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use serde_json::json;

/// The body of one `POST /mcp` request.
#[derive(Debug)]
pub struct Collector {
    limit: usize,
    received: BytesMut,
    /// Set once the whole body was checked: exactly these bytes go upstream, also when pingora
    /// replays the body on an upstream retry.
    checked: Option<Bytes>,
}

/// What one chunk did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// More is coming; forward nothing yet.
    More,
    /// The whole body, to be checked.
    Complete(Bytes),
    /// Over the limit: 413.
    TooLarge,
}

impl Collector {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            received: BytesMut::new(),
            checked: None,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A declared `Content-Length` over the limit is refused before anything is read.
    pub fn declared_too_large(&self, req: &RequestHeader) -> bool {
        super::limits::declared_length(req).is_some_and(|n| n > self.limit as u64)
    }

    pub fn checked(&self) -> Option<&Bytes> {
        self.checked.as_ref()
    }

    /// Records that `body` passed the checks.
    pub fn set_checked(&mut self, body: Bytes) {
        self.checked = Some(body);
    }

    /// Takes the next chunk (`None` when the stream ended without one).
    pub fn push(&mut self, chunk: Option<Bytes>, end_of_stream: bool) -> Step {
        if let Some(chunk) = chunk {
            if self.received.len() + chunk.len() > self.limit {
                return Step::TooLarge;
            }
            self.received.extend_from_slice(&chunk);
        }
        if end_of_stream {
            Step::Complete(std::mem::take(&mut self.received).freeze())
        } else {
            Step::More
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_up_to_the_limit() {
        let mut c = Collector::new(5);
        assert_eq!(c.push(Some(Bytes::from_static(b"ab")), false), Step::More);
        assert_eq!(c.push(Some(Bytes::from_static(b"cde")), false), Step::More);
        assert_eq!(
            c.push(None, true),
            Step::Complete(Bytes::from_static(b"abcde"))
        );
        let mut c = Collector::new(5);
        assert_eq!(c.push(Some(Bytes::from_static(b"abc")), false), Step::More);
        assert_eq!(
            c.push(Some(Bytes::from_static(b"def")), true),
            Step::TooLarge
        );

        let mut req = RequestHeader::build("POST", b"/mcp", None).unwrap();
        req.insert_header("content-length", "6").unwrap();
        assert!(Collector::new(5).declared_too_large(&req));
        assert!(!Collector::new(6).declared_too_large(&req));
    }
}
