//! `GET /auth/verify` on the admin listener: the proxy as nginx's `auth_request` service
//! (docs/nginx.md). nginx sends the client's credentials with `X-Original-Method` and
//! `X-Original-URI`; the answer is the gateway's decision for that request:
//!
//! - the target is normalized as the gateway does it, and the normalized target goes back in
//!   `X-Mimir-Target` for nginx to forward, so the core serves exactly what was authorized;
//! - IP lists and the per-IP rate on the client address (`X-Forwarded-For` / `X-Real-IP`, believed
//!   from `headers.trusted_proxies` only; nothing else may ask);
//! - public routes: 200 without identity; otherwise the gateway's authenticator behind its
//!   brute-force guard (429 while blocked; 401 with `WWW-Authenticate`, plus `X-Mimir-Login` for
//!   browser navigations), the route rules (403), then the caller's rates (429);
//! - 200 with `X-User-ID`, `X-User-Roles` and the signed identity assertion when the proxy signs
//!   one.
//!
//! MCP per-tool rules need the body, which `auth_request` never sees: a route with `mcp = true`
//! (`POST /mcp`) is refused with 403 `mcp_body_required` (fail closed). Each decision is one audit
//! record, as for a request through the gateway.
//!
//! Uses the same stages as the gateway (`pipeline`) and everything they use; used only by the
//! admin listener, which receives it as an endpoint.

pub mod original;
pub mod reply;

use http::Response;
use ipnet::IpNet;
use pingora::http::RequestHeader;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::admin::listener::{AdminEndpoint, VERIFY_PATH};
use crate::admin::metrics::Metrics;
use crate::audit::{Audit, AuditEvent, RequestInfo};
use crate::authn::routes::{self, Route};
use crate::authn::trail::{Attempt, AuthTrail};
use crate::authn::{challenge, Authenticator, Principal};
use crate::authz::{response as authz_response, Authorizer};
use crate::config::ProxyConfig;
use crate::keys::assertion::Binding;
use crate::pipeline::authn_guarded::{self, Refused};
use crate::pipeline::limits::{Refusal, Traffic};
use crate::pipeline::request_id;
use crate::pipeline::shadow::{self, Decided};
use crate::pipeline::unauthenticated::{self, Answer};
use crate::reply::errors;
use crate::request::forwarded;
use crate::request::normalize::PathOptions;
use crate::traffic::connlimit::{Busy, Slots};
use crate::traffic::ipfilter::IpFilter;
use crate::traffic::source::SourceKeys;
use crate::traffic::Limiter;
use original::Original;

pub struct AuthVerify {
    auth: Arc<Authenticator>,
    /// The gateway's brute-force guard: failures here count there, and the reverse.
    trail: Arc<AuthTrail>,
    authz: Arc<Authorizer>,
    traffic: Traffic,
    audit: Audit,
    /// Shadow mode's mismatches count here as in the gateway.
    metrics: Arc<Metrics>,
    trusted_proxies: Vec<IpNet>,
    paths: PathOptions,
}

/// One decision: the answer and what the audit record needs.
struct Verdict {
    response: Response<Vec<u8>>,
    principal: Option<Arc<Principal>>,
}

impl AuthVerify {
    /// Shares the gateway's authenticator (and its identity signer), policy and rate budgets,
    /// so that both decide alike.
    pub fn new(
        config: &ProxyConfig,
        auth: Arc<Authenticator>,
        trail: Arc<AuthTrail>,
        authz: Arc<Authorizer>,
        limiter: Arc<Limiter>,
        audit: Audit,
        metrics: Arc<Metrics>,
    ) -> Self {
        // The in-flight limits count requests the gateway carries; an answer here holds nothing.
        let traffic = Traffic::new(
            limiter,
            IpFilter::new(&config.traffic, &config.headers.trusted_proxies),
            Slots::new(0, &[], SourceKeys::default()),
            Busy::new(0),
        );
        Self {
            auth,
            trail,
            authz,
            traffic,
            audit,
            metrics,
            trusted_proxies: config.headers.trusted_proxies.clone(),
            paths: config.path_options(),
        }
    }

    async fn decide(&self, original: &Original, req: &RequestHeader, request_id: &str) -> Verdict {
        let ip = original.client_ip;
        let path = original.path();
        let group = self.traffic.group(path);
        if let Err(refusal) = self.traffic.before_auth(ip, group).await {
            return self.refuse_traffic(&refusal, ip, None, request_id).await;
        }
        if !matches!(routes::classify(path), Route::Protected) {
            // Public, or answered by the proxy's own endpoints: no identity to vouch for.
            return Verdict {
                response: reply::allowed(None, &original.target, None, request_id),
                principal: None,
            };
        }
        let host = match forwarded::validated_host(req) {
            Ok(host) => host,
            Err(why) => return refused(400, why, request_id),
        };
        let attempt = Attempt {
            ip,
            user_agent: original.user_agent.clone(),
            request_id: request_id.to_owned(),
            method: original.method.clone(),
            path: path.to_owned(),
        };
        let verdict = authn_guarded::authenticate(
            &self.auth,
            &self.trail,
            &attempt,
            &req.headers,
            original.query(),
            &host,
        )
        .await;
        // The principal as authenticated is kept for a shadow policy, which grants its own roles.
        let (principal, presented) = match verdict {
            Ok(principal) => {
                let presented = self.authz.has_shadow().then(|| principal.clone());
                (self.authz.grant(principal), presented)
            }
            Err(Refused::Blocked(blocked)) => {
                return Verdict {
                    response: reply::from_parts(blocked.response(request_id), request_id),
                    principal: None,
                }
            }
            Err(Refused::Failed(failure)) => {
                let accept = req
                    .headers
                    .get(http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok());
                let answer =
                    unauthenticated::answer(&failure, &original.method, path, accept, request_id);
                return self.unauthenticated(answer, original, &host, request_id);
            }
        };
        let (method, presented) = (original.method.as_str(), presented.as_deref());
        let (decision, shadow) =
            self.authz
                .decide_shadowed(&principal.roles, presented, method, path, None);
        if let Some(shadow) = shadow {
            let request = Decided {
                request_id,
                client_ip: Some(ip),
                method,
                path,
                mcp: None,
                principal: &principal,
            };
            shadow::record_mismatch(&self.metrics, &self.audit, &request, &decision, &shadow).await;
        }
        if !decision.allowed {
            tracing::info!(request_id = %request_id, user = %principal.user_id, "{decision}");
            return Verdict {
                response: reply::from_parts(
                    authz_response::forbidden(&decision, request_id),
                    request_id,
                ),
                principal: Some(principal),
            };
        }
        let caller = self
            .traffic
            .after_auth(
                ip,
                Some(&principal.user_id),
                principal.key_id.as_deref(),
                group,
                None,
            )
            .await;
        if let Err(refusal) = caller {
            let mut verdict = self
                .refuse_traffic(&refusal, ip, Some(&principal.user_id), request_id)
                .await;
            verdict.principal = Some(principal);
            return verdict;
        }
        // nginx forwards exactly this method and target (`$mimir_target`) to the core.
        let request = Binding {
            method: &original.method,
            target: original.target.as_bytes(),
        };
        let assertion = match self.auth.assertion(&principal, &request) {
            Ok(assertion) => assertion,
            Err(e) => {
                tracing::error!(request_id = %request_id, "identity assertion: {e:#}");
                let mut verdict = refused(500, "internal error", request_id);
                verdict.principal = Some(principal);
                return verdict;
            }
        };
        Verdict {
            response: reply::allowed(
                Some((&principal.qualified_id, &principal.roles)),
                &original.target,
                Some(assertion),
                request_id,
            ),
            principal: Some(principal),
        }
    }

    /// 401 (browsers also learn where to log in), 400 for ambiguous credentials, 403 for a
    /// session request failing the CSRF checks.
    fn unauthenticated(
        &self,
        answer: Answer,
        original: &Original,
        host: &str,
        request_id: &str,
    ) -> Verdict {
        let (presented, message) = match answer {
            Answer::Malformed(why) => return refused(400, why, request_id),
            Answer::CrossSite(why) => return refused(403, why, request_id),
            Answer::Challenge { presented, message } => (presented, message),
            Answer::Login => (false, "authentication required"),
        };
        let resource = challenge::resource(&self.auth.config.resource, host);
        let mut response = reply::from_parts(
            challenge::unauthorized(&resource, presented, message, request_id),
            request_id,
        );
        if answer == Answer::Login {
            // auth_request cannot pass a redirect on; nginx's error_page 401 sends it.
            let location = authz_response::login_redirect(&original.target)
                .ok()
                .and_then(|(head, _)| head.headers.get(http::header::LOCATION).cloned());
            if let Some(location) = location {
                response.headers_mut().insert(reply::LOGIN, location);
            }
        }
        Verdict {
            response,
            principal: None,
        }
    }

    /// 403 / 429 from the traffic controls, recorded like the gateway records them.
    async fn refuse_traffic(
        &self,
        refusal: &Refusal,
        ip: IpAddr,
        user: Option<&str>,
        request_id: &str,
    ) -> Verdict {
        tracing::info!(request_id = %request_id, client_ip = %ip, "refused: {refusal:?}");
        if self
            .audit
            .record(refusal.audit_event(ip, user))
            .await
            .is_err()
        {
            tracing::error!(request_id = %request_id, "audit log unavailable: refusal not recorded");
        }
        Verdict {
            response: reply::from_parts(refusal.response(request_id), request_id),
            principal: None,
        }
    }
}

#[async_trait::async_trait]
impl AdminEndpoint for AuthVerify {
    /// The answer to one subrequest from `peer`.
    async fn answer(&self, peer: IpAddr, req: &RequestHeader) -> Response<Vec<u8>> {
        let started = Instant::now();
        let request_id = request_id::accept_or_generate(
            req.headers.get_all(crate::reply::REQUEST_ID_HEADER).iter(),
        );
        let peer = forwarded::canonical_ip(peer);
        let (verdict, method, path, client_ip, user_agent) =
            if !matches!(req.method.as_str(), "GET" | "HEAD") {
                let verdict = refused(405, "use GET", &request_id);
                (
                    verdict,
                    req.method.to_string(),
                    VERIFY_PATH.to_owned(),
                    peer,
                    None,
                )
            } else if !self.trusted_proxies.iter().any(|n| n.contains(&peer)) {
                // Only a trusted proxy's view of the client counts; anyone else could pose as any
                // address and probe credentials unseen by the per-IP limits.
                tracing::warn!(%peer, "auth_request from a peer outside headers.trusted_proxies");
                let verdict = refused(
                    403,
                    "auth_request is answered only to headers.trusted_proxies",
                    &request_id,
                );
                (
                    verdict,
                    "GET".to_owned(),
                    VERIFY_PATH.to_owned(),
                    peer,
                    None,
                )
            } else {
                match original::read(peer, &req.headers, &self.trusted_proxies, &self.paths) {
                    Ok(original) => {
                        let verdict = self.decide(&original, req, &request_id).await;
                        let path = original.path().to_owned();
                        (
                            verdict,
                            original.method,
                            path,
                            original.client_ip,
                            original.user_agent,
                        )
                    }
                    Err(e) => {
                        let verdict = refused(400, &e.message, &request_id);
                        (verdict, "-".to_owned(), e.raw_path, e.client_ip, None)
                    }
                }
            };
        let status = verdict.response.status().as_u16();
        let (user_id, roles) = match &verdict.principal {
            Some(p) => (Some(p.user_id.as_str()), p.roles.as_slice()),
            None => (None, &[][..]),
        };
        let event = AuditEvent::request(&RequestInfo {
            method: &method,
            path: &path,
            status,
            duration: started.elapsed(),
            request_id: &request_id,
            source_ip: Some(client_ip),
            user_agent: user_agent.as_deref(),
            user_id,
            roles,
            mcp: None,
        });
        if self.audit.is_strict() {
            // Nothing is allowed that is not on record.
            if self.audit.record_durable(event).await.is_err() {
                tracing::error!(request_id = %request_id, "audit log unavailable: refusing");
                return refused(503, "the audit log is unavailable", &request_id).response;
            }
        } else if self.audit.record(event).await.is_err() {
            tracing::error!(request_id = %request_id, "audit log unavailable: decision not recorded");
        }
        verdict.response
    }
}

/// A JSON error answer without a caller.
fn refused(status: u16, message: &str, request_id: &str) -> Verdict {
    let mut response =
        reply::from_parts(errors::json_error(status, message, request_id), request_id);
    if status == 405 {
        response.headers_mut().insert(
            http::header::ALLOW,
            http::HeaderValue::from_static("GET, HEAD"),
        );
    }
    Verdict {
        response,
        principal: None,
    }
}
