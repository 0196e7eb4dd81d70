//! The 401 answer (RFC 6750 + MCP authorization): `WWW-Authenticate: Bearer` naming the realm
//! and the RFC 9728 metadata document, with `error="invalid_token"` when a credential was
//! presented but refused; and the metadata document itself.

use bytes::Bytes;
use pingora::http::ResponseHeader;

use super::routes::METADATA_PATH;

pub const REALM: &str = "mimir";

/// The resource identifier: `auth.resource`, or `https://<host>` for the request's validated Host.
pub fn resource(configured: &str, host: &str) -> String {
    if configured.is_empty() {
        format!("https://{host}")
    } else {
        configured.trim_end_matches('/').to_owned()
    }
}

/// Where the metadata of `resource` lives (RFC 9728 §3.1: the well-known segment goes between
/// the origin and the resource's path).
pub fn metadata_url(resource: &str) -> String {
    match url::Url::parse(resource) {
        Ok(url) => {
            let origin = url.origin().ascii_serialization();
            let path = url.path().trim_end_matches('/');
            format!("{origin}{METADATA_PATH}{path}")
        }
        Err(_) => format!("{resource}{METADATA_PATH}"),
    }
}

/// `WWW-Authenticate` for a request that had no credential (`error` = `None`) or a bad one.
pub fn www_authenticate(resource: &str, error: Option<&str>) -> String {
    let mut value = format!(
        "Bearer realm=\"{REALM}\", resource_metadata=\"{}\"",
        metadata_url(resource)
    );
    if let Some(error) = error {
        value += &format!(", error=\"{error}\"");
    }
    value
}

/// A complete 401 response (without the per-request stamps).
pub fn unauthorized(
    resource: &str,
    presented: bool,
    message: &str,
    request_id: &str,
) -> pingora::Result<(ResponseHeader, Bytes)> {
    let (mut resp, body) = crate::reply::errors::json_error(401, message, request_id)?;
    let error = presented.then_some("invalid_token");
    resp.insert_header("www-authenticate", www_authenticate(resource, error))?;
    Ok((resp, body))
}

/// RFC 9728 protected-resource metadata.
pub fn metadata(resource: &str, authorization_servers: &[String]) -> serde_json::Value {
    serde_json::json!({
        "resource": resource,
        "authorization_servers": authorization_servers,
        "bearer_methods_supported": ["header"],
        "resource_name": "Mimir",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_points_at_the_metadata() {
        let r = resource("", "mimir.example:8443");
        assert_eq!(r, "https://mimir.example:8443");
        assert_eq!(
            www_authenticate(&r, None),
            "Bearer realm=\"mimir\", resource_metadata=\"https://mimir.example:8443/.well-known/oauth-protected-resource\""
        );
        assert_eq!(
            metadata_url("https://mimir.example/mcp"),
            "https://mimir.example/.well-known/oauth-protected-resource/mcp"
        );
        assert!(www_authenticate(&r, Some("invalid_token")).ends_with(", error=\"invalid_token\""));
    }
}
