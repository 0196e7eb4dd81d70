//! Responses for refused requests, built here and sent by the gateway.
//!
//! - 403: the proxy's JSON error shape (`crate::reply::errors`) plus `missing_permissions` /
//!   `required_one_of` and, for MCP, which message was refused. Rule names stay in the log.
//! - Browsers without a session (a `GET`/`HEAD` whose `Accept` prefers HTML) are sent to
//!   `/login?next=<the original path and query>` instead of receiving a JSON 401.

use super::decision::Decision;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use serde_json::json;

/// 403 with a JSON body naming what is missing.
pub fn forbidden(
    decision: &Decision,
    request_id: &str,
) -> pingora::Result<(ResponseHeader, Bytes)> {
    let mut body = json!({
        "error": "forbidden",
        "message": decision.message(),
        "request_id": request_id,
        "reason": decision.reason.as_str(),
    });
    if !decision.missing_all_of.is_empty() {
        body["missing_permissions"] = json!(decision.missing_all_of);
    }
    if !decision.missing_any_of.is_empty() {
        body["required_one_of"] = json!(decision.missing_any_of);
    }
    if let Some(m) = &decision.mcp {
        body["mcp"] = json!({
            "index": m.index,
            "method": m.method,
            "tool": m.tool,
            "operation": m.operation,
        });
    }
    let body = body.to_string();
    let mut resp = ResponseHeader::build(403, Some(5))?;
    resp.insert_header("content-type", "application/json")?;
    resp.insert_header("content-length", body.len())?;
    resp.insert_header("cache-control", "no-store")?;
    resp.insert_header("x-content-type-options", "nosniff")?;
    Ok((resp, Bytes::from(body)))
}

/// JSON-RPC error code of a refused tool call (implementation-defined server error range).
pub const PERMISSION_DENIED: i64 = -32001;

/// A refused `tools/call` answered in JSON-RPC (`[authz] denied_tool_calls = "jsonrpc"`): 200
/// with an error object for the call's `id`.
pub fn jsonrpc_denied(
    decision: &Decision,
    id: &serde_json::Value,
) -> pingora::Result<(ResponseHeader, Bytes)> {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": PERMISSION_DENIED,
            "message": format!("permission denied: {}", decision.message()),
            "data": {"reason": decision.reason.as_str(), "missing_permissions": decision.missing_all_of},
        },
    })
    .to_string();
    let mut resp = ResponseHeader::build(200, Some(4))?;
    resp.insert_header("content-type", "application/json")?;
    resp.insert_header("content-length", body.len())?;
    resp.insert_header("cache-control", "no-store")?;
    Ok((resp, Bytes::from(body)))
}

/// The 403 of a request a broader OAuth grant would allow: the challenge names the `scope` to
/// ask for and where the resource's metadata is.
pub fn insufficient_scope(
    decision: &Decision,
    scope: &str,
    metadata_url: &str,
    request_id: &str,
) -> pingora::Result<(ResponseHeader, Bytes)> {
    let (mut resp, body) = forbidden(decision, request_id)?;
    resp.insert_header(
        "www-authenticate",
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"{scope}\", resource_metadata=\"{metadata_url}\""
        ),
    )?;
    Ok((resp, body))
}

/// Whether an unauthenticated request comes from a browser navigation that should see the login
/// page: `GET`/`HEAD` with an `Accept` header that names `text/html` (with q > 0). API clients
/// sending `*/*` or JSON get the 401.
pub fn wants_login_page(method: &str, accept: Option<&str>) -> bool {
    matches!(method, "GET" | "HEAD")
        && accept.is_some_and(|accept| {
            accept.split(',').any(|range| {
                let mut parts = range.split(';').map(str::trim);
                parts
                    .next()
                    .is_some_and(|media| media.eq_ignore_ascii_case("text/html"))
                    && parts.all(|p| {
                        p.strip_prefix("q=")
                            .is_none_or(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0))
                    })
            })
        })
}

/// 303 to `/login?next=<target>`. `target` is the normalized origin-form target (path and
/// query); anything else (an absolute or scheme-relative URL) is replaced by `/`, so the login
/// page can never be made to redirect off-site.
pub fn login_redirect(target: &str) -> pingora::Result<(ResponseHeader, Bytes)> {
    let local = target.starts_with('/') && !target.starts_with("//") && !target.contains('\\');
    let next = if local { target } else { "/" };
    let location = format!(
        "/login?next={}",
        form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
    );
    let mut resp = ResponseHeader::build(303, Some(4))?;
    resp.insert_header("location", location)?;
    resp.insert_header("content-length", 0)?;
    resp.insert_header("cache-control", "no-store")?;
    Ok((resp, Bytes::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::decision::{McpDenial, Reason};

    #[test]
    fn forbidden_names_missing_permissions_only() {
        let mut d = Decision::new(false, None, Reason::MissingPermission);
        d.missing_all_of = vec!["mcp:call:memory_node".into(), "nodes:delete".into()];
        d.mcp = Some(McpDenial {
            index: 2,
            method: Some("tools/call".into()),
            tool: Some("memory_node".into()),
            operation: Some("delete".into()),
        });
        let (head, body) = forbidden(&d, "rid").unwrap();
        assert_eq!(head.status.as_u16(), 403);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], "forbidden");
        assert_eq!(
            v["missing_permissions"],
            json!(["mcp:call:memory_node", "nodes:delete"])
        );
        assert_eq!(v["mcp"]["index"], 2);
        assert_eq!(
            v["message"],
            "permission denied: mcp:call:memory_node, nodes:delete required for MCP tool memory_node (operation delete)"
        );
        assert!(v.get("required_one_of").is_none());
    }

    #[test]
    fn login_page_only_for_html_navigation() {
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(wants_login_page("GET", Some(chrome)));
        assert!(wants_login_page("HEAD", Some("TEXT/HTML")));
        assert!(!wants_login_page("POST", Some(chrome)));
        assert!(!wants_login_page("GET", Some("*/*")));
        assert!(!wants_login_page("GET", Some("application/json")));
        assert!(!wants_login_page("GET", Some("text/html;q=0")));
        assert!(!wants_login_page("GET", None));
    }

    #[test]
    fn redirect_stays_on_site() {
        let location = |t| {
            let (h, _) = login_redirect(t).unwrap();
            assert_eq!(h.status.as_u16(), 303);
            h.headers["location"].to_str().unwrap().to_owned()
        };
        assert_eq!(
            location("/api/nodes?x=1&y=2"),
            "/login?next=%2Fapi%2Fnodes%3Fx%3D1%26y%3D2"
        );
        assert_eq!(location("//evil.example/"), "/login?next=%2F");
        assert_eq!(location("https://evil.example/"), "/login?next=%2F");
        assert_eq!(location("/\\evil.example"), "/login?next=%2F");
    }
}
