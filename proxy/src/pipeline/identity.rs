//! Header hygiene: nothing a client sends may look like it came from the proxy.
//!
//! [`strip_client_headers`] runs first in the request pipeline, so every later stage (and the
//! upstream) only sees identity and forwarding headers the proxy itself set with
//! [`set_forwarding_headers`] and, after authentication, [`inject_identity`].
//! [`strip_credentials`] removes the client's credentials before forwarding: the upstream never
//! sees a token, key or session cookie (no token passthrough).

use http::header::{HeaderName, HeaderValue, CONNECTION};
use pingora::http::RequestHeader;
use pingora::Result;

use crate::authn::credentials::{QUERY_CREDENTIALS, SESSION_COOKIE};
use crate::authn::{Authenticator, Principal};
use crate::keys::assertion::Binding;
use crate::request::forwarded::ClientChain;

/// The verified user id (`<source>|<id>`) and roles (comma-separated) the core receives.
pub const USER_ID: &str = "x-user-id";
pub const USER_ROLES: &str = "x-user-roles";

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
pub fn strip_client_headers(req: &mut RequestHeader, identity_header: &HeaderName) {
    let nominated: Vec<String> = req
        .headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect();
    let doomed: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|name| {
            let name = name.as_str();
            PROXY_OWNED_PREFIXES.iter().any(|p| name.starts_with(p))
                || PROXY_OWNED.contains(&name)
                || HOP_BY_HOP.contains(&name)
                || name == identity_header.as_str()
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
    req.insert_header("x-forwarded-proto", HeaderValue::from_static("https"))?;
    req.insert_header("x-forwarded-host", host)?;
    req.insert_header("x-real-ip", client.client_ip_text())?;
    req.insert_header(crate::reply::REQUEST_ID_HEADER, request_id)?;
    Ok(())
}

/// Set the authenticated identity (`X-User-ID` is the source-qualified id) and, next to it, the
/// signed assertion of it, bound to this request's method and target as forwarded: called after
/// the last change to them (docs/identity-assertion.md). Values were checked to be header-safe
/// when the principal was built.
pub fn inject_identity(
    req: &mut RequestHeader,
    principal: &Principal,
    auth: &Authenticator,
) -> Result<()> {
    req.insert_header(USER_ID, principal.qualified_id.as_str())?;
    req.insert_header(USER_ROLES, principal.roles.join(","))?;
    let request = Binding {
        method: req.method.as_str(),
        target: req.raw_path(),
    };
    let (name, assertion) = auth.assertion(principal, &request).map_err(|e| {
        pingora::Error::because(pingora::ErrorType::InternalError, "identity assertion", e)
    })?;
    req.insert_header(name.clone(), assertion)?;
    Ok(())
}

/// Remove `Authorization`, `X-API-Key`, the session cookie (other cookies stay) and credential
/// query parameters.
pub fn strip_credentials(req: &mut RequestHeader) -> Result<()> {
    req.remove_header(&http::header::AUTHORIZATION);
    req.remove_header("x-api-key");
    let cookies: Vec<String> = req
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    if cookies.iter().any(|c| c.contains(SESSION_COOKIE)) {
        req.remove_header(&http::header::COOKIE);
        let kept: Vec<&str> = cookies
            .iter()
            .flat_map(|c| c.split(';'))
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .filter(|pair| pair.split('=').next() != Some(SESSION_COOKIE))
            .collect();
        if !kept.is_empty() {
            req.insert_header(http::header::COOKIE, kept.join("; "))?;
        }
    }
    if let Some(query) = req.uri.query() {
        let is_credential = |pair: &&str| {
            let name = pair.split('=').next().unwrap_or("");
            QUERY_CREDENTIALS.contains(&name)
        };
        if query.split('&').any(|pair| is_credential(&pair)) {
            let kept: Vec<&str> = query.split('&').filter(|p| !is_credential(p)).collect();
            let path = req.uri.path();
            let target = if kept.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{}", kept.join("&"))
            };
            let uri = http::Uri::try_from(target).map_err(|e| {
                pingora::Error::because(pingora::ErrorType::InternalError, "uri", e)
            })?;
            req.set_uri(uri);
        }
    }
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
        // The configured name is matched whatever its case (parsed as the gateway does).
        let configured = HeaderName::try_from("X-Custom-Assertion").unwrap();
        strip_client_headers(&mut req, &configured);
        let mut names: Vec<&str> = req.headers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "authorization", "connection"]);
        assert_eq!(req.headers.get("connection").unwrap(), "close");
    }

    #[test]
    fn credentials_never_reach_the_upstream() {
        let mut req =
            RequestHeader::build("GET", b"/api/x?a=1&access_token=t&api_key=k&b=2", None).unwrap();
        for (name, value) in [
            ("Authorization", "Bearer t"),
            ("X-API-Key", "mimir_k"),
            ("Cookie", "theme=dark; __Host-mimir_session=secret"),
            ("Cookie", "lang=en"),
        ] {
            req.append_header(name, value).unwrap();
        }
        strip_credentials(&mut req).unwrap();
        let mut names: Vec<&str> = req.headers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["cookie"]);
        assert_eq!(req.headers.get("cookie").unwrap(), "theme=dark; lang=en");
        assert_eq!(req.uri.to_string(), "/api/x?a=1&b=2");
    }

    #[test]
    fn connection_without_kept_options_is_removed() {
        let mut req = request(&[("Connection", "X-Forwarded-For")]);
        strip_client_headers(&mut req, &HeaderName::from_static("x-mimir-identity"));
        assert!(req.headers.is_empty());
    }
}
