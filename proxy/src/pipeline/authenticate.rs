//! Stage 8: the proxy's own endpoints are answered, public routes pass, anything else needs a
//! credential ([`super::authn_guarded`]); a refusal is answered as [`super::unauthenticated`]
//! decides. The caller leaves with the effective roles the policy grants.

use pingora::prelude::*;

use super::authn_guarded::{self, Refused};
use super::identity;
use super::state::{client_ip, Gateway, RequestCtx};
use super::unauthenticated::{self, Answer};
use crate::authn::endpoints;
use crate::authn::routes::{self, Route};
use crate::authn::trail::Attempt;
use crate::authn::{challenge, AuthFailure, Authenticator};
use crate::authserver::{self, Call};
use crate::authz::response as authz_response;
use crate::reply::errors::Reject;

impl Gateway {
    /// Stage 8. `Ok(true)` when a response was sent (401, or a proxy endpoint's answer).
    pub(crate) async fn authenticate(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<bool> {
        if let Some(auth) = &self.auth {
            let endpoint = self
                .oauth
                .as_ref()
                .zip(authserver::routes::classify(&ctx.path));
            if let Some((oauth, endpoint)) = endpoint {
                // Like the proxy's other endpoints: in a route group, limited before they work.
                if self.limit_caller(session, ctx).await? {
                    return Ok(true);
                }
                let attempt = attempt(session, ctx)?;
                let host = ctx.host.clone();
                let mut call = Call {
                    session,
                    host: &host,
                    attempt: &attempt,
                };
                let reply = oauth.serve(endpoint, &mut call).await;
                self.send_reply(session, ctx, reply).await?;
                return Ok(true);
            }
            match routes::classify(&ctx.path) {
                Route::Local(endpoint) => {
                    // The proxy's own endpoints (login, token) are in a route group like any
                    // path: its limit, shared through Redis when configured, applies before they
                    // check a password.
                    if self.limit_caller(session, ctx).await? {
                        return Ok(true);
                    }
                    let attempt = attempt(session, ctx)?;
                    let (host, id) = (&ctx.host, &ctx.request_id);
                    let trail = &self.trail;
                    let reply =
                        endpoints::serve(auth, endpoint, session, host, id, trail, &attempt).await;
                    self.send_reply(session, ctx, reply).await?;
                    return Ok(true);
                }
                Route::Public => {}
                Route::Protected => {
                    let attempt = attempt(session, ctx)?;
                    let req = session.req_header();
                    let (headers, query) = (&req.headers, req.uri.query());
                    let trail = &self.trail;
                    let verdict = authn_guarded::authenticate(
                        auth, trail, &attempt, headers, query, &ctx.host,
                    )
                    .await;
                    match verdict {
                        Ok(principal) => {
                            // Authorization exists exactly when authentication does.
                            ctx.principal = Some(match &self.authz {
                                Some(authz) => {
                                    ctx.presented = authz.has_shadow().then(|| principal.clone());
                                    authz.grant(principal)
                                }
                                None => principal,
                            });
                        }
                        Err(Refused::Blocked(blocked)) => {
                            let (resp, body) = blocked.response(&ctx.request_id)?;
                            self.write_generated(session, ctx, resp, body).await?;
                            return Ok(true);
                        }
                        Err(Refused::Failed(failure)) => {
                            self.send_auth_failure(session, ctx, auth, failure).await?;
                            return Ok(true);
                        }
                    }
                }
            }
        }
        identity::strip_credentials(session.req_header_mut())?;
        if let (Some(auth), Some(principal)) = (&self.auth, &ctx.principal) {
            // Once the target is final: the assertion is bound to it.
            identity::inject_identity(session.req_header_mut(), principal, auth)?;
        }
        Ok(false)
    }

    pub(crate) async fn send_auth_failure(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        auth: &Authenticator,
        failure: AuthFailure,
    ) -> Result<()> {
        let req = session.req_header();
        let accept = req
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        let answer = unauthenticated::answer(
            &failure,
            req.method.as_str(),
            &ctx.path,
            accept,
            &ctx.request_id,
        );
        let (presented, message) = match answer {
            Answer::Login => {
                let target = req.uri.path_and_query().map_or("/", |t| t.as_str());
                let (resp, body) = authz_response::login_redirect(target)?;
                return self.write_generated(session, ctx, resp, body).await;
            }
            Answer::Challenge { presented, message } => (presented, message),
            Answer::Malformed(why) => {
                return self
                    .send_error(session, ctx, Reject::bad_request(why))
                    .await;
            }
            Answer::CrossSite(why) => {
                return self.send_error(session, ctx, Reject::new(403, why)).await;
            }
        };
        let resource = challenge::resource(&auth.config.resource, &ctx.host);
        let (resp, body) = challenge::unauthorized(&resource, presented, message, &ctx.request_id)?;
        self.write_generated(session, ctx, resp, body).await
    }
}

/// The request as an authentication attempt (audit context, brute-force counting).
pub(crate) fn attempt(session: &Session, ctx: &RequestCtx) -> Result<Attempt> {
    let req = session.req_header();
    Ok(Attempt {
        ip: client_ip(ctx)?,
        user_agent: req
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        request_id: ctx.request_id.clone(),
        method: req.method.as_str().to_owned(),
        path: ctx.path.clone(),
    })
}
