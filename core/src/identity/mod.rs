//! The caller's identity as asserted by the proxy. The core trusts nothing else: a signed
//! assertion (docs/identity-assertion.md) when one is presented or required, otherwise the
//! `X-User-ID` header of a loopback caller with the configured unasserted clearance.

pub mod assertion;

use crate::governance::Sensitivity;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

pub const USER_ID_HEADER: &str = "x-user-id";
/// The role that may act on any user's privacy requests.
pub const ADMIN_ROLE: &str = "admin";

/// Longest user id: a subject of up to 256 bytes qualified by its source
/// (docs/identity-assertion.md).
pub const MAX_USER_ID_BYTES: usize = 512;

/// Non-empty, at most [`MAX_USER_ID_BYTES`], no control characters.
pub(crate) fn valid_user_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_USER_ID_BYTES && !value.chars().any(char::is_control)
}

/// The verified user id from `X-User-ID`, or `None` when absent or malformed
/// (empty, longer than [`MAX_USER_ID_BYTES`], or containing control characters).
pub fn actor(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(USER_ID_HEADER)?.to_str().ok()?.trim();
    valid_user_id(value).then(|| value.to_string())
}

/// Who is calling, as the handlers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub user_id: Option<String>,
    pub roles: Vec<String>,
    /// The highest sensitivity the caller may read and write.
    pub clearance: Sensitivity,
    /// True when a verified assertion vouches for all of the above.
    pub asserted: bool,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|role| role == ADMIN_ROLE)
    }
}

fn refuse(error: &'static str, message: &str) -> Response {
    let body = json!({ "error": error, "message": message });
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// A caller without a verified assertion: `X-User-ID` and the configured clearance.
fn unasserted(request: &Request, config: &crate::config::CoreConfig) -> Caller {
    Caller {
        user_id: actor(request.headers()),
        roles: Vec::new(),
        clearance: config.unasserted_clearance,
        asserted: false,
    }
}

/// Middleware in front of every route: establishes the [`Caller`] or answers 401.
pub async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let config = &state.config;
    let presented = request.headers().get(config.identity_header.as_str());
    let caller = match (presented, state.verifier.as_deref()) {
        (Some(token), Some(verifier)) => {
            let uri = request.uri();
            let arrived = assertion::Request {
                method: request.method().as_str(),
                target: uri.path_and_query().map_or(uri.path(), |t| t.as_str()),
            };
            let claims = match token
                .to_str()
                .map_err(|e| e.to_string())
                .and_then(|t| verifier.verify(t, &arrived))
            {
                Ok(claims) => claims,
                Err(reason) => {
                    tracing::warn!(%reason, "identity assertion refused");
                    return refuse("identity_invalid", "the identity assertion is not valid");
                }
            };
            let headers = request.headers_mut();
            if actor(headers).is_some_and(|user| user != claims.sub)
                || (headers.contains_key(USER_ID_HEADER) && actor(headers).is_none())
            {
                return refuse(
                    "identity_invalid",
                    "X-User-ID does not match the identity assertion",
                );
            }
            // Every handler that reads X-User-ID now reads the asserted subject.
            match HeaderValue::from_str(&claims.sub) {
                Ok(value) => headers.insert(USER_ID_HEADER, value),
                Err(_) => return refuse("identity_invalid", "the identity assertion is not valid"),
            };
            Caller {
                user_id: Some(claims.sub),
                roles: claims.roles,
                clearance: claims.clearance,
                asserted: true,
            }
        }
        // Without a key nothing can be verified; enforcement is off (the key is required with
        // it), so the caller is treated as unasserted: the assertion can lift no clearance.
        (Some(_), None) => {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    "identity assertions arrive but no proxy public key is configured: they are \
                     ignored; set MIMIR_PROXY_PUBLIC_KEY_FILE to use them"
                )
            });
            unasserted(&request, config)
        }
        (None, _) => {
            let health = request.method() == Method::GET && request.uri().path() == "/health";
            if config.require_proxy_identity && !health {
                return refuse(
                    "identity_required",
                    "a signed identity assertion from the proxy is required",
                );
            }
            unasserted(&request, config)
        }
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            tracing::error!("a route is served without the identity gate");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(USER_ID_HEADER, value.parse().unwrap());
        h
    }

    #[test]
    fn reads_valid_and_rejects_malformed() {
        assert_eq!(actor(&headers("alice")).as_deref(), Some("alice"));
        assert_eq!(actor(&headers("   ")), None);
        assert_eq!(actor(&headers(&"a".repeat(513))), None);
        assert_eq!(actor(&HeaderMap::new()), None);
    }
}
