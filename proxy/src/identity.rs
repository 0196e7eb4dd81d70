//! Header hygiene: nothing a client sends may look like it came from the proxy.
//!
//! [`strip_client_headers`] runs first in the request pipeline, so every later stage (and the
//! upstream) only sees identity and forwarding headers the proxy itself set with
//! [`set_forwarding_headers`].

use http::header::{HeaderName, CONNECTION};
use pingora::http::RequestHeader;
use pingora::Result;

use crate::forwarded::ClientChain;
use crate::request_id;

/// Families of request headers only the proxy may set (`X-User-ID`, `X-User-Roles`,
/// `X-Forwarded-For`, `X-Forwarded-User`, ...).
const PROXY_OWNED_PREFIXES: &[&str] = &["x-user-", "x-forwarded-"];
/// Single proxy-owned headers; the configured identity header is added at run time.
const PROXY_OWNED: &[&str] = &["x-mimir-identity", "x-real-ip", "forwarded"];
/// Connection-specific fields (RFC 9110 7.6.1) besides the framing ones pingora owns
/// (`Connection`, `Transfer-Encoding`, `Content-Length`). Upgrades are not forwarded: the core
/// speaks plain HTTP and SSE only.
const HOP_BY_HOP: &[&str] = &[
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
    "proxy-authorization",
];
/// `Connection` options that only steer this hop's connection handling.
const CONNECTION_OPTIONS_KEPT: &[&str] = &["close", "keep-alive"];

/// Remove proxy-owned and hop-by-hop request headers, including any the client nominated in
/// `Connection`, and reduce `Connection` to `close`/`keep-alive`.
pub fn strip_client_headers(req: &mut RequestHeader, identity_header: &str) {
    let nominated: Vec<String> = req
        .headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect();
    let identity_header = identity_header.to_ascii_lowercase();
    let doomed: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|name| {
            let name = name.as_str();
            PROXY_OWNED_PREFIXES.iter().any(|p| name.starts_with(p))
                || PROXY_OWNED.contains(&name)
                || HOP_BY_HOP.contains(&name)
                || name == identity_header
                || (nominated.iter().any(|n| n == name) && !is_framing(name))
        })
        .cloned()
        .collect();
    for name in &doomed {
        req.remove_header(name);
    }
    let kept: Vec<&str> = nominated
        .iter()
        .map(String::as_str)
        .filter(|token| CONNECTION_OPTIONS_KEPT.contains(token))
        .collect();
    req.remove_header(&CONNECTION);
    if !kept.is_empty() {
        // Tokens from a fixed list: always a valid header value.
        let _ = req.insert_header(CONNECTION, kept.join(", "));
    }
}

/// Fields that define message framing; nominating them in `Connection` must not delete them
/// (pingora rejects such requests itself when it builds the upstream request).
fn is_framing(name: &str) -> bool {
    matches!(name, "content-length" | "transfer-encoding" | "host")
}

/// The forwarding headers the upstream gets, all computed by the proxy.
pub fn set_forwarding_headers(
    req: &mut RequestHeader,
    client: &ClientChain,
    host: &str,
    request_id: &str,
) -> Result<()> {
    req.insert_header("x-forwarded-for", client.forwarded_for.as_str())?;
    req.insert_header("x-forwarded-proto", "https")?;
    req.insert_header("x-forwarded-host", host)?;
    req.insert_header("x-real-ip", client.client_ip.to_string())?;
    req.insert_header(request_id::HEADER, request_id)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        for (name, value) in headers {
            req.append_header(name.to_string(), *value).unwrap();
        }
        req
    }

    #[test]
    fn strips_identity_forwarding_and_hop_by_hop() {
        let mut req = request(&[
            ("X-User-ID", "admin"),
            ("x-user-roles", "admin"),
            ("X-Forwarded-User", "admin"),
            ("X-Forwarded-For", "1.2.3.4"),
            ("X-Forwarded-Proto", "http"),
            ("Forwarded", "for=1.2.3.4"),
            ("X-Real-IP", "1.2.3.4"),
            ("X-Mimir-Identity", "forged"),
            ("X-Custom-Assertion", "forged"),
            ("Keep-Alive", "timeout=5"),
            ("Upgrade", "websocket"),
            ("Proxy-Authorization", "Basic eA=="),
            ("X-Secret-Hop", "1"),
            ("Connection", "close, X-Secret-Hop, Upgrade, Content-Length"),
            ("Authorization", "Bearer t"),
            ("Accept", "*/*"),
        ]);
        strip_client_headers(&mut req, "X-Custom-Assertion");
        let mut names: Vec<&str> = req.headers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "authorization", "connection"]);
        assert_eq!(req.headers.get("connection").unwrap(), "close");
    }

    #[test]
    fn connection_without_kept_options_is_removed() {
        let mut req = request(&[("Connection", "X-Forwarded-For")]);
        strip_client_headers(&mut req, "x-mimir-identity");
        assert!(req.headers.is_empty());
    }
}
