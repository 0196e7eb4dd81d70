//! Answers of the `auth_request` endpoint. Refusals reuse the gateway's builders (same JSON, same
//! `WWW-Authenticate`); nginx copies `WWW-Authenticate` of a 401 to the client by itself.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use pingora::http::ResponseHeader;

use crate::pipeline::identity::{USER_ID, USER_ROLES};

/// The normalized target nginx must forward (`proxy_pass http://core$mimir_target`), so the
/// core serves exactly the path that was authorized.
pub const TARGET: &str = "x-mimir-target";
/// On a 401 to a browser navigation: where to send it (`error_page 401` in nginx).
pub const LOGIN: &str = "x-mimir-login";

/// A generated response for the admin listener, with the request id.
pub fn from_parts(
    parts: pingora::Result<(ResponseHeader, Bytes)>,
    request_id: &str,
) -> Response<Vec<u8>> {
    let mut resp = match parts {
        Ok((head, body)) => {
            let mut resp = Response::new(body.to_vec());
            *resp.status_mut() = head.status;
            *resp.headers_mut() = head.headers.clone();
            resp
        }
        Err(e) => {
            tracing::error!(request_id = %request_id, "auth_request answer: {e}");
            let mut resp = Response::new(Vec::new());
            *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            resp
        }
    };
    set(&mut resp, crate::reply::REQUEST_ID_HEADER, request_id);
    resp
}

/// 200 for an allowed request: who the caller is, the target to forward, and the identity
/// assertion when the proxy signs one. `user` (id and roles) is `None` on public routes.
pub fn allowed(
    user: Option<(&str, &[String])>,
    target: &str,
    assertion: Option<(&HeaderName, HeaderValue)>,
    request_id: &str,
) -> Response<Vec<u8>> {
    let mut resp = Response::new(Vec::new());
    set(&mut resp, "content-length", "0");
    set(&mut resp, "cache-control", "no-store");
    set(&mut resp, crate::reply::REQUEST_ID_HEADER, request_id);
    set(&mut resp, TARGET, target);
    if let Some((id, roles)) = user {
        set(&mut resp, USER_ID, id);
        set(&mut resp, USER_ROLES, &roles.join(","));
    }
    if let Some((name, value)) = assertion {
        resp.headers_mut().insert(name.clone(), value);
    }
    resp
}

/// Values were checked to be header-safe where they were made (principal, request id,
/// normalized target); an unexpected one is dropped rather than sent malformed.
fn set(resp: &mut Response<Vec<u8>>, name: &'static str, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(value) => {
            resp.headers_mut().insert(name, value);
        }
        Err(_) => tracing::error!("auth_request answer: {name} is not a valid header value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_answers_carry_identity_and_target() {
        let roles = ["viewer".to_owned(), "analyst".to_owned()];
        let resp = allowed(Some(("alice", &roles)), "/api/nodes?x=1", None, "rid");
        assert_eq!(resp.status(), 200);
        let h = resp.headers();
        assert_eq!(h[USER_ID], "alice");
        assert_eq!(h[USER_ROLES], "viewer,analyst");
        assert_eq!(h[TARGET], "/api/nodes?x=1");
        assert_eq!(h[crate::reply::REQUEST_ID_HEADER], "rid");
        assert!(resp.body().is_empty());
        let public = allowed(None, "/health", None, "rid");
        assert!(!public.headers().contains_key(USER_ID));
    }
}
