//! JSON error responses. Every error the proxy produces itself has one shape,
//! `{"error": "<code>", "message": "...", "request_id": "..."}`, and never leaks internals
//! (addresses, pingora error chains): those go to the log only.

use bytes::Bytes;
use http::header::STRICT_TRANSPORT_SECURITY;
use http::HeaderValue;
use pingora::http::ResponseHeader;
use pingora::{Error, ErrorSource, ErrorType};
use std::borrow::Cow;

/// The machine-readable `error` code for a status.
pub fn error_code(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        414 => "uri_too_long",
        429 => "too_many_requests",
        431 => "request_header_fields_too_large",
        502 => "bad_gateway",
        503 => "service_unavailable",
        504 => "gateway_timeout",
        402..=499 => "client_error",
        _ => "internal_error",
    }
}

/// A complete error response: header (without the per-request stamps) and body.
pub fn json_error(
    status: u16,
    message: &str,
    request_id: &str,
) -> pingora::Result<(ResponseHeader, Bytes)> {
    let body = serde_json::json!({
        "error": error_code(status),
        "message": message,
        "request_id": request_id,
    })
    .to_string();
    let mut resp = ResponseHeader::build(status, Some(5))?;
    resp.insert_header("content-type", "application/json")?;
    resp.insert_header("content-length", body.len())?;
    resp.insert_header("cache-control", "no-store")?;
    resp.insert_header("x-content-type-options", "nosniff")?;
    Ok((resp, Bytes::from(body)))
}

/// HSTS (when configured) and the request id (when known): every response carries them,
/// proxied or generated.
pub fn stamp(
    resp: &mut ResponseHeader,
    hsts: Option<&HeaderValue>,
    request_id: &str,
) -> pingora::Result<()> {
    if let Some(hsts) = hsts {
        resp.insert_header(STRICT_TRANSPORT_SECURITY, hsts.clone())?;
    }
    if !request_id.is_empty() {
        resp.insert_header(super::REQUEST_ID_HEADER, request_id)?;
    }
    Ok(())
}

/// A refusal: the status for the client (0 when the client is gone and nothing can be sent)
/// and a message safe to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub status: u16,
    pub message: Cow<'static, str>,
}

impl Reject {
    pub fn new(status: u16, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(400, message)
    }
}

/// Classify a pingora error: upstream refused/unreachable → 502, upstream too slow → 504,
/// client too slow → 408, client broke the protocol → 400. The second value is the `kind`
/// label of `mimir_proxy_upstream_errors_total` when the upstream failed.
pub fn classify(e: &Error) -> (Reject, Option<&'static str>) {
    use ErrorType::*;
    let client = |status, message: &'static str| (Reject::new(status, message), None);
    let upstream = |status, message: &'static str, kind| (Reject::new(status, message), Some(kind));
    if let HTTPStatus(code) = e.etype() {
        return client(*code, default_message(*code));
    }
    match (e.esource(), e.etype()) {
        (_, ConnectTimedout | TLSHandshakeTimedout) => upstream(
            504,
            "the upstream service did not accept the connection in time",
            "connect_timeout",
        ),
        (_, ConnectRefused | ConnectNoRoute | ConnectError | BindError | SocketError) => {
            upstream(502, "the upstream service is unavailable", "connect")
        }
        (_, TLSHandshakeFailure | InvalidCert | HandshakeError) => upstream(
            502,
            "the TLS handshake with the upstream service failed",
            "tls",
        ),
        (ErrorSource::Upstream, ReadTimedout | WriteTimedout) => upstream(
            504,
            "the upstream service did not answer in time",
            "timeout",
        ),
        (ErrorSource::Upstream, InvalidHTTPHeader) => upstream(
            502,
            "the upstream service sent an invalid response",
            "protocol",
        ),
        (ErrorSource::Upstream, _) => {
            upstream(502, "the upstream service closed the connection", "closed")
        }
        (ErrorSource::Downstream, ReadTimedout) => {
            client(408, "the request body arrived too slowly")
        }
        (ErrorSource::Downstream, ReadError | WriteError | ConnectionClosed | WriteTimedout) => {
            client(0, "client went away")
        }
        (ErrorSource::Downstream, _) => client(400, default_message(400)),
        _ => client(500, default_message(500)),
    }
}

/// A message for statuses raised as `HTTPStatus(code)` without a more specific one.
pub fn default_message(status: u16) -> &'static str {
    match status {
        400 => "malformed request",
        408 => "the request arrived too slowly",
        413 => "request body too large",
        414 => "request URI too long",
        431 => "request headers too large",
        502 => "the upstream service is unavailable",
        504 => "the upstream service did not answer in time",
        401..=499 => "request rejected",
        _ => "internal error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape() {
        let (resp, body) = json_error(502, "down", "rid-1").unwrap();
        assert_eq!(resp.status.as_u16(), 502);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], "bad_gateway");
        assert_eq!(v["message"], "down");
        assert_eq!(v["request_id"], "rid-1");
        assert_eq!(error_code(401), "unauthorized");
        assert_eq!(error_code(403), "forbidden");
        assert_eq!(error_code(429), "too_many_requests");
        assert_eq!(
            resp.headers
                .get("content-length")
                .unwrap()
                .to_str()
                .unwrap(),
            body.len().to_string()
        );
    }

    #[test]
    fn classification() {
        let up = |t| {
            let mut e = Error::new(t);
            e.as_up();
            e
        };
        let down = |t| {
            let mut e = Error::new(t);
            e.as_down();
            e
        };
        assert_eq!(classify(&up(ErrorType::ConnectRefused)).1, Some("connect"));
        assert_eq!(classify(&up(ErrorType::ConnectTimedout)).0.status, 504);
        assert_eq!(classify(&up(ErrorType::ReadTimedout)).0.status, 504);
        assert_eq!(classify(&up(ErrorType::ConnectionClosed)).0.status, 502);
        assert_eq!(classify(&down(ErrorType::ReadTimedout)).0.status, 408);
        assert_eq!(classify(&down(ErrorType::ConnectionClosed)).0.status, 0);
        assert_eq!(
            classify(&Error::new(ErrorType::HTTPStatus(413))).0.status,
            413
        );
        assert_eq!(
            classify(&Error::new(ErrorType::InternalError)).0.status,
            500
        );
    }
}
