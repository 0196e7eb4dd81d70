//! Authentication behind the brute-force guard: a blocked client is refused before its credential
//! is checked, and a refused credential counts towards its block. One sequence for the
//! gateway and the nginx `auth_request` endpoint, so a guesser gains nothing by choosing either.

use http::HeaderMap;
use std::sync::Arc;

use crate::authn::trail::{Attempt, AuthTrail, Credentials};
use crate::authn::{AuthFailure, Authenticator, Principal};
use crate::traffic::bruteforce::Blocked;

#[derive(Debug)]
pub enum Refused {
    /// The client's source is blocked: 429.
    Blocked(Blocked),
    /// Not authenticated (recorded when a credential was presented and refused).
    Failed(AuthFailure),
}

/// A request with `headers` and `query`; `method` and `host` are for the session CSRF check.
pub async fn authenticate(
    auth: &Authenticator,
    trail: &AuthTrail,
    attempt: &Attempt,
    headers: &HeaderMap,
    query: Option<&str>,
    host: &str,
) -> Result<Arc<Principal>, Refused> {
    let presented = Credentials::of(headers, query, auth.config.allow_query_credentials);
    if presented.is_some() {
        if let Err(blocked) = trail.check(attempt) {
            trail.refused(attempt).await;
            return Err(Refused::Blocked(blocked));
        }
    }
    let verdict = auth
        .authenticate_request(headers, query, &attempt.method, host)
        .await;
    if let (Err(AuthFailure::Invalid(_)), Some(p)) = (&verdict, &presented) {
        let reason = p.refusal_reason();
        trail
            .failed(attempt, p.kind, p.method, p.name.as_deref(), reason)
            .await;
    }
    verdict.map_err(Refused::Failed)
}
