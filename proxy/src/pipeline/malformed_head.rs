//! HTTP/1 request heads pingora's parser refuses. pingora answers those itself with a bare 400
//! (`Server: Pingora`, no body) before any gateway stage runs, so they would reach no log line,
//! metric or audit record, and request smuggling attempts (conflicting `Content-Length` and
//! `Transfer-Encoding`, duplicate `Host`, folded or nameless header lines) are such heads.
//!
//! [`may_be_refused`] picks, with one `httparse` pass, the heads pingora could refuse; only
//! those are parsed by pingora's own parser on a throwaway session ([`pingora_refusal`]), so the
//! verdict is pingora's and ordinary requests are parsed once. A head the selection misses and
//! pingora still refuses gets pingora's bare 400, as before; either way it is never forwarded.
//! [`Refusal::answer`] sends the gateway's JSON 400 and records it like any other refusal.

use bytes::BytesMut;
use http::HeaderValue;
use pingora::protocols::http::v1::server::HttpSession as HttpSessionV1;
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use std::io::Cursor;
use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::admin::metrics::Metrics;
use crate::audit::{Audit, AuditEvent, RequestInfo};
use crate::pipeline::request_id;
use crate::reply::errors;

/// pingora's limit on header lines; more is a refusal.
const MAX_HEADERS: usize = 256;
/// Characters of a refused request's path kept for the log and the audit record, as for others.
const LOGGED_PATH_CHARS: usize = 256;

/// Whether pingora might refuse `head` (a complete head, as `request_head::read` returns it):
/// it does not parse, its target is not origin-form, or it carries framing or authority fields
/// pingora checks further (`Transfer-Encoding`, anything but one plain `Content-Length`, more
/// than one `Host`, userinfo in `Host`).
pub fn may_be_refused(head: &[u8]) -> bool {
    // Uninitialized: this runs on every request, and zeroing 256 slots would cost more than
    // parsing a typical head.
    let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    if !matches!(
        req.parse_with_uninit_headers(head, &mut headers),
        Ok(httparse::Status::Complete(_))
    ) {
        return true;
    }
    if !req.path.is_some_and(|path| path.starts_with('/')) {
        return true;
    }
    let (mut hosts, mut lengths) = (0, 0);
    for field in req.headers.iter() {
        let name = field.name;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return true;
        }
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            if hosts > 1 || field.value.contains(&b'@') {
                return true;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            if lengths > 1 || field.value.is_empty() || !field.value.iter().all(u8::is_ascii_digit)
            {
                return true;
            }
        }
    }
    false
}

/// pingora's verdict on `head`: why its HTTP/1 parser refuses it, or `None` when it accepts it.
/// The reason is pingora's fixed description or the parser's error, never the request bytes
/// (they may carry credentials).
pub async fn pingora_refusal(head: &BytesMut) -> Option<String> {
    // Reads past the head see an empty stream: the verdict is about these bytes alone.
    let mut session = HttpSessionV1::new(Box::new(Cursor::new(Vec::<u8>::new())));
    session.set_pipelined_prefix(head.clone());
    let error = session.read_request().await.err()?;
    let reason = match (&error.context, &error.cause) {
        (Some(context), _) if !context.as_str().starts_with("buf:") => context.as_str().to_owned(),
        (_, Some(cause)) => cause.to_string(),
        _ => "malformed request head".to_owned(),
    };
    Some(reason)
}

/// The method and path (without the query, which may carry credentials) of a refused head, for
/// the record: `-` when the request line does not parse.
fn request_line(head: &[u8]) -> (String, String) {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let _ = req.parse(head);
    let path = req.path.map_or_else(
        || "-".to_owned(),
        |p| {
            let path = p.split(['?', '#']).next().unwrap_or("");
            path.chars().take(LOGGED_PATH_CHARS).collect()
        },
    );
    (req.method.unwrap_or("-").to_owned(), path)
}

/// Answers and records refused heads: the gateway's JSON 400, counted, logged and audited.
pub struct Refusal {
    pub hsts: Option<HeaderValue>,
    pub metrics: Arc<Metrics>,
    pub audit: Audit,
}

impl Refusal {
    /// Send the 400 on `stream` and close it.
    pub async fn answer(&self, stream: Stream, peer: Option<IpAddr>, head: &[u8], reason: &str) {
        let started = Instant::now();
        let request_id = request_id::generate();
        let (method, path) = request_line(head);
        tracing::warn!(
            target: "mimir_proxy::access",
            method = %method,
            path = ?path,
            status = 400,
            request_id = %request_id,
            peer = %peer.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
            reason,
            "request head refused"
        );
        self.metrics
            .observe_request("other", 400, started.elapsed());
        if self.audit.is_enabled() {
            let event = AuditEvent::request(&RequestInfo {
                method: &method,
                path: &path,
                status: 400,
                duration: started.elapsed(),
                request_id: &request_id,
                source_ip: peer,
                ..RequestInfo::default()
            })
            .with_reason(reason);
            // The refusal serves nothing, so it goes out even if the record cannot be written.
            let recorded = if self.audit.is_strict() {
                self.audit.record_durable(event).await
            } else {
                self.audit.record(event).await
            };
            if recorded.is_err() {
                tracing::error!(request_id = %request_id, "audit log unavailable: refusal not recorded");
            }
        }
        let Ok((mut resp, body)) = errors::json_error(400, reason, &request_id) else {
            return;
        };
        if errors::stamp(&mut resp, self.hsts.as_ref(), &request_id).is_err() {
            return;
        }
        let mut session = ServerSession::new_http1(stream);
        // A write error means the client is gone; there is no one left to tell.
        let _ = session.write_error_response(resp, body).await;
        session.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> BytesMut {
        BytesMut::from(text.as_bytes())
    }

    #[test]
    fn ordinary_requests_are_parsed_once() {
        for text in [
            "GET /api/nodes?x=1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer t\r\n\r\n",
            "POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Length: 42\r\n\r\n",
            "GET / HTTP/1.0\r\n\r\n",
        ] {
            assert!(!may_be_refused(text.as_bytes()), "{text:?}");
        }
    }

    #[tokio::test]
    async fn pingora_decides_what_is_refused() {
        let refused = [
            "GET / HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n",
            "GARBAGE\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
            "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        ];
        for text in refused {
            assert!(may_be_refused(text.as_bytes()), "{text:?}");
            let reason = pingora_refusal(&head(text)).await;
            assert!(reason.is_some(), "{text:?} accepted");
            // Never the request bytes themselves.
            assert!(!reason.unwrap().contains("buf:"), "{text:?}");
        }
        // Selected for the exact check, and accepted by it.
        for text in [
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 0\r\n\r\n",
        ] {
            assert!(may_be_refused(text.as_bytes()), "{text:?}");
            assert_eq!(pingora_refusal(&head(text)).await, None, "{text:?}");
        }
    }

    #[test]
    fn request_line_of_a_refused_head() {
        let line = request_line(b"GET /a/b?token=secret HTTP/1.1\r\nNo colon\r\n\r\n");
        assert_eq!(line, ("GET".to_owned(), "/a/b".to_owned()));
        assert_eq!(request_line(b"\x01\x02\r\n\r\n"), ("-".into(), "-".into()));
        let long = format!("GET /{} HTTP/1.1\r\nNo colon\r\n\r\n", "a".repeat(1000));
        assert_eq!(request_line(long.as_bytes()).1.len(), LOGGED_PATH_CHARS);
    }
}
