//! The pingora `ProxyHttp` implementation. It only wires the stages together, in order; each
//! stage lives in its own module:
//!
//! 1. request id ([`request_id`]) and client address ([`forwarded`]);
//! 2. header hygiene ([`identity`]);
//! 3. framing and size limits ([`framing`]);
//! 4. Host ([`forwarded`]);
//! 5. path normalization ([`normalize`]);
//! 6. forwarding headers ([`identity`]);
//! 7. IP allow/deny lists, requests in flight (process, client IP), the per-IP rate and the
//!    route group's body limit ([`traffic`]): 403 / 503 / 429 / 413;
//! 8. authentication ([`authn`]): public routes pass, the proxy's own endpoints are answered
//!    here (after their route group's rate, stage 10 with the client IP as the caller),
//!    everything else needs a credential (401 otherwise); the verified identity, with the
//!    effective roles the policy grants it, is injected and the client's credentials removed
//!    ([`identity`]); an anonymous browser navigation is sent to the login page instead of the
//!    401;
//! 9. authorization ([`authz`]): the principal's effective roles against the route rules; a
//!    `POST /mcp` body is collected whole in `request_body_filter` ([`mcp_body`]), checked
//!    message by message, and only then released upstream; refused → 403
//!    (docs/authorization.md). With `auth.enabled = false` (loopback only) there is no
//!    principal and no authorization: development passthrough;
//! 10. the caller's rates: API key, user, route group, MCP tools ([`traffic`]): 429, or 503
//!     when a shared limit cannot be consulted and fails closed (for `POST /mcp`, once the body
//!     is checked);
//!
//! then the upstream, and on the way back HSTS + request id on every response, the tightest
//! rate limit's `RateLimit` fields on proxied responses, `tools/list`
//! answers reduced to the caller's tools ([`tools_filter`]), JSON errors ([`errors`]), metrics,
//! the access log and one audit record per request ([`audit`]). In strict
//! audit mode the record is durable before the response header leaves; a request that cannot be
//! audited is answered 503.

use async_trait::async_trait;
use bytes::Bytes;
use http::header::HOST;
use http::{HeaderName, HeaderValue, Method, Uri};
use ipnet::IpNet;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::FailToProxy;
use pingora::upstreams::peer::HttpUpstreamRequestPolicy;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::admin::metrics::{self, Denial, Metrics};
use crate::audit::{viewer, Audit, AuditEvent, RequestInfo};
use crate::authn::endpoints;
use crate::authn::iam_watch::IamWatch;
use crate::authn::routes::{self, Route};
use crate::authn::trail::{Attempt, AuthTrail};
use crate::authn::{challenge, AuthFailure, Authenticator, Principal};
use crate::authz::{response as authz_response, Authorizer};
use crate::config::{LimitConfig, ProxyConfig};
use crate::pipeline::authn_guarded::{self, Refused};
use crate::pipeline::framing;
use crate::pipeline::identity;
use crate::pipeline::limits::{self, Admission, Refusal, Traffic};
use crate::pipeline::mcp_body::{Collector, Step};
use crate::pipeline::request_id;
use crate::pipeline::unauthenticated::{self, Answer};
use crate::pipeline::{mcp_body, tools_filter};
use crate::reply::errors::{self, Reject};
use crate::reply::Reply;
use crate::request::forwarded;
use crate::request::mcp::{McpParseError, McpRequest};
use crate::request::normalize;
use crate::request::normalize::PathOptions;
use crate::tls::{self, UpstreamTls};
use crate::traffic::groups::GroupId;
use crate::traffic::Allowance;

/// How long an idle upstream connection stays in the keep-alive pool.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest path kept in the access log of a rejected request.
const LOGGED_PATH_MAX: usize = 256;

pub struct Gateway {
    identity_header: HeaderName,
    trusted_proxies: Vec<IpNet>,
    path_options: PathOptions,
    limits: LimitConfig,
    hsts: Option<HeaderValue>,
    /// Template for every upstream request: address, TLS and timeouts are fixed.
    peer: HttpPeer,
    metrics: Arc<Metrics>,
    /// `None` when `auth.enabled = false`.
    auth: Option<Arc<Authenticator>>,
    /// Kept current by the policy reloader; `None` exactly when `auth` is.
    authz: Option<Arc<Authorizer>>,
    audit: Audit,
    traffic: Traffic,
    /// Logins and refused credentials: audit records, metrics, brute-force blocks.
    trail: Arc<AuthTrail>,
}

/// Per-request state.
pub struct RequestCtx {
    started: Instant,
    request_id: String,
    client_ip: Option<IpAddr>,
    /// The normalized path once known; before that the raw path (query dropped), for the log.
    path: String,
    route: &'static str,
    body_bytes: u64,
    /// The validated Host.
    host: String,
    /// Who sent the request, once authenticated; read by the stages after authentication.
    pub principal: Option<Arc<Principal>>,
    /// The audit record is written (strict mode writes it before the response).
    audited: bool,
    /// A `POST /mcp` body being collected for authorization, then the checked bytes.
    mcp_body: Option<Collector>,
    /// What that body asked for (audit fields, `tools/list` filtering).
    mcp: Option<McpRequest>,
    /// Set when the answer is a `tools/list` result to filter: the body collected so far.
    tools_answer: Option<Vec<u8>>,
    /// The route group of the normalized path (rate limits, IP lists).
    group: Option<GroupId>,
    /// The tightest rate limit that let the request through, reported on the response.
    allowance: Option<Allowance>,
    /// The request's slots among the requests in flight, released with the context.
    admission: Option<Admission>,
    /// The body limit of the request's route group.
    max_body: u64,
    /// A refusal was sent from the body filter; the error that stops proxying is expected.
    answered: bool,
    /// Body bytes of the upstream's response (`None`: the proxy answered itself).
    response_bytes: Option<u64>,
    /// Strict mode could not write the record of the upstream's answer: it becomes a 503.
    audit_refused: bool,
}

impl Gateway {
    pub fn new(
        config: &ProxyConfig,
        metrics: Arc<Metrics>,
        audit: Audit,
        authz: Option<Arc<Authorizer>>,
        traffic: Traffic,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            config.auth.enabled == authz.is_some(),
            "authorization applies exactly when authentication is enabled"
        );
        use anyhow::Context;
        let upstream = &config.upstream;
        // Resolved once here: pingora's HttpPeer::new panics on a name that does not resolve.
        let address = upstream
            .address
            .to_socket_addrs()
            .with_context(|| format!("upstream.address {:?}", upstream.address))?
            .next()
            .with_context(|| {
                format!(
                    "upstream.address {:?} resolves to nothing",
                    upstream.address
                )
            })?;
        let mut peer = HttpPeer::new(address, upstream.tls, upstream.sni.clone());
        peer.options.connection_timeout = Some(Duration::from_millis(upstream.connect_timeout_ms));
        peer.options.read_timeout = Some(Duration::from_secs(upstream.read_timeout_seconds));
        peer.options.write_timeout = Some(Duration::from_secs(upstream.write_timeout_seconds));
        peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
        peer.options.http_upstream_request_policy = HttpUpstreamRequestPolicy::deny_upgrades();
        let upstream_tls = UpstreamTls::load(upstream)?;
        peer.options.ca = upstream_tls.ca;
        peer.client_cert_key = upstream_tls.client_cert_key;
        let hsts = tls::hsts_value(config.server.hsts_max_age)
            .map(HeaderValue::try_from)
            .transpose()?;
        let trail = Arc::new(AuthTrail::new(
            &config.traffic,
            audit.clone(),
            metrics.clone(),
        ));
        Ok(Self {
            // Parsed (and lower-cased) once; validation already refused invalid names.
            identity_header: HeaderName::try_from(config.headers.identity_header.as_str())?,
            trusted_proxies: config.headers.trusted_proxies.clone(),
            path_options: PathOptions::from_config(config),
            limits: config.limits.clone(),
            hsts,
            peer,
            metrics,
            auth: if config.auth.enabled {
                IamWatch::new(
                    config.auth.keys_file.clone(),
                    config.auth.lockdown_file.clone(),
                )
                .spawn(audit.clone())?;
                Some(Arc::new(Authenticator::new(config)?))
            } else {
                tracing::warn!(
                    "auth.enabled = false: requests are forwarded unauthenticated and unauthorized"
                );
                None
            },
            authz,
            trail,
            audit,
            traffic,
        })
    }

    /// The authenticator, shared with the `auth_request` endpoint (`None` with auth disabled).
    pub fn authenticator(&self) -> Option<Arc<Authenticator>> {
        self.auth.clone()
    }

    /// The `Strict-Transport-Security` value the proxy's own responses carry, if any.
    pub fn hsts(&self) -> Option<HeaderValue> {
        self.hsts.clone()
    }

    /// The brute-force guard and authentication trail, shared with the `auth_request` endpoint.
    pub fn auth_trail(&self) -> Arc<AuthTrail> {
        self.trail.clone()
    }

    /// Stages 1-6 on the request header. `Err` means answer with that status, forward nothing.
    fn admit(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<(), Reject> {
        let req = session.req_header();
        ctx.request_id = request_id::accept_or_generate(
            req.headers.get_all(crate::reply::REQUEST_ID_HEADER).iter(),
        );
        let raw_path = req.raw_path();
        let raw_path = &raw_path[..raw_path.len().min(LOGGED_PATH_MAX)];
        ctx.path = String::from_utf8_lossy(raw_path)
            .split('?')
            .next()
            .unwrap_or("")
            .to_owned();

        // The incoming X-Forwarded-For is read (trusted peers only) before hygiene removes it.
        let peer_ip = session
            .client_addr()
            .and_then(|addr| addr.as_inet())
            .map(|addr| addr.ip())
            .ok_or_else(|| Reject::new(500, "client address unavailable"))?;
        let client = forwarded::client_chain(
            peer_ip,
            req.headers.get_all("x-forwarded-for").iter(),
            &self.trusted_proxies,
        );
        ctx.client_ip = Some(client.client_ip);

        identity::strip_client_headers(session.req_header_mut(), &self.identity_header);

        let req = session.req_header();
        if let Some(h1) = session.as_downstream().as_http1() {
            framing::check_h1_framing(req, &h1.get_headers_raw_bytes())?;
        }
        framing::check_limits(req, &self.limits)?;

        let host = forwarded::validated_host(req).map_err(Reject::bad_request)?;
        ctx.host = host.clone();

        // One normalization; the upstream gets exactly the target the checks saw.
        let target = normalize::normalize_target(req.raw_path(), &self.path_options)
            .map_err(|e| Reject::bad_request(e.to_string()))?;
        let path = target.split('?').next().unwrap_or_default();
        ctx.route = metrics::route_group(path);
        ctx.path = path.to_owned();
        let uri =
            Uri::try_from(target).map_err(|_| Reject::bad_request("invalid request target"))?;

        let req = session.req_header_mut();
        req.set_uri(uri);
        // HTTP/2 carried the authority in the URI just replaced; HTTP/1 gets the checked value.
        let internal = |_| Reject::new(500, "internal error");
        req.insert_header(HOST, host.as_str()).map_err(internal)?;
        identity::set_forwarding_headers(req, &client, &host, &ctx.request_id).map_err(internal)?;

        // Slow request bodies: each read must make progress within the body timeout.
        session.set_read_timeout(Some(Duration::from_secs(
            self.limits.client_body_timeout_seconds,
        )));
        Ok(())
    }

    /// Stage 7, before authentication. `Ok(true)` when a response was sent (403, 503, 429,
    /// 413).
    async fn limit_client(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let ip = client_ip(ctx)?;
        ctx.group = self.traffic.group(&ctx.path);
        let decision = match self.traffic.admit(ip) {
            Ok(admission) => {
                ctx.admission = Some(admission);
                self.traffic.before_auth(ip, ctx.group).await
            }
            Err(refusal) => Err(refusal),
        };
        if self.apply_traffic(session, ctx, ip, decision).await? {
            return Ok(true);
        }
        ctx.max_body = self
            .traffic
            .max_body_bytes(ctx.group, self.limits.max_body_bytes);
        if limits::declared_length(session.req_header()).is_some_and(|n| n > ctx.max_body) {
            let reject = Reject::new(413, "request body too large");
            self.send_error(session, ctx, reject).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Stage 10, once the caller and the tools are known (or, for the proxy's own endpoints,
    /// with the client IP as the caller). `Ok(true)` when a response was sent.
    async fn limit_caller(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let ip = client_ip(ctx)?;
        let principal = ctx.principal.clone();
        let decision = self
            .traffic
            .after_auth(
                ip,
                principal.as_ref().map(|p| p.user_id.as_str()),
                principal.as_ref().and_then(|p| p.key_id.as_deref()),
                ctx.group,
                ctx.mcp.as_ref(),
            )
            .await;
        self.apply_traffic(session, ctx, ip, decision).await
    }

    /// Keeps the tightest allowance, or answers the refusal and records why.
    async fn apply_traffic(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        ip: IpAddr,
        decision: std::result::Result<Option<Allowance>, Refusal>,
    ) -> Result<bool> {
        let refusal = match decision {
            Ok(allowance) => {
                ctx.allowance = limits::tighter(ctx.allowance.take(), allowance);
                return Ok(false);
            }
            Err(refusal) => refusal,
        };
        self.metrics.denied(match refusal {
            Refusal::Ip(_) => Denial::Ip,
            _ => Denial::RateLimit,
        });
        let user = ctx.principal.as_ref().map(|p| p.user_id.as_str());
        tracing::info!(request_id = %ctx.request_id, client_ip = %ip, "refused: {refusal:?}");
        if self
            .audit
            .record(refusal.audit_event(ip, user))
            .await
            .is_err()
        {
            tracing::error!(request_id = %ctx.request_id, "audit log unavailable: refusal not recorded");
        }
        let (resp, body) = refusal.response(&ctx.request_id)?;
        self.write_generated(session, ctx, resp, body).await?;
        Ok(true)
    }

    /// Stage 8. `Ok(true)` when a response was sent (401, or a proxy endpoint's answer).
    async fn authenticate(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        if let Some(auth) = &self.auth {
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
                                Some(authz) => authz.grant(principal),
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

    /// The audit viewer (`/admin/audit`), after authentication and authorization let the
    /// caller through (route rule `audit-viewer`). `Ok(true)` when it answered.
    async fn serve_viewer(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        if !viewer::handles(&ctx.path) {
            return Ok(false);
        }
        if ctx.principal.is_none() {
            // Development passthrough has no caller to check: the viewer is never public.
            let reject = Reject::new(404, "the audit viewer needs authentication");
            self.send_error(session, ctx, reject).await?;
            return Ok(true);
        }
        let req = session.req_header();
        let file = self.audit.file_path().map(Path::to_owned);
        let query = req.uri.query();
        let reply = viewer::serve(file, &req.method, &ctx.path, query, &ctx.request_id).await;
        self.send_reply(session, ctx, reply).await?;
        Ok(true)
    }

    async fn send_auth_failure(
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

    /// Stage 9, for an authenticated caller. `Ok(true)` when a response was sent (403, or the
    /// 413 of an MCP body declared too large). A request whose MCP body must be checked is
    /// decided once the body is in ([`Self::check_mcp_body`]).
    async fn authorize(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let Some(authz) = &self.authz else {
            return Ok(false);
        };
        if ctx.principal.is_none() {
            return Ok(false);
        }
        let method = session.req_header().method.as_str().to_owned();
        if !authz.needs_mcp_body(&method, &ctx.path) {
            return self.decide(session, ctx, authz).await;
        }
        let (max_bytes, _) = authz.policy().mcp_limits();
        let limit = usize::try_from(ctx.max_body).map_or(max_bytes, |m| m.min(max_bytes));
        let collector = Collector::new(limit);
        if collector.declared_too_large(session.req_header()) {
            self.refuse_mcp_body(session, ctx, &McpParseError::TooLarge { limit })
                .await?;
            return Ok(true);
        }
        ctx.mcp_body = Some(collector);
        Ok(false)
    }

    /// The end of stage 9 and stage 10 for a complete `POST /mcp` body. `Ok(true)` when a
    /// response was sent (400, 403, 429, 503).
    async fn check_mcp_body(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        body: &Bytes,
    ) -> Result<bool> {
        let Some(authz) = &self.authz else {
            return Error::e_explain(InternalError, "MCP body collected without authorization");
        };
        ctx.body_bytes = body.len() as u64;
        match authz.parse_mcp(body) {
            Ok(request) => ctx.mcp = Some(request),
            Err(e) => {
                self.refuse_mcp_body(session, ctx, &e).await?;
                return Ok(true);
            }
        }
        Ok(self.decide(session, ctx, authz).await? || self.limit_caller(session, ctx).await?)
    }

    /// Ends proxying after the body filter sent a refusal; the upstream connection, which
    /// never got the whole body, is dropped.
    fn answered(&self, session: &Session, ctx: &mut RequestCtx) -> Result<()> {
        ctx.answered = true;
        let status = session
            .response_written()
            .map_or(400, |r| r.status.as_u16());
        Error::e_explain(HTTPStatus(status), "refused before the body went upstream")
    }

    async fn refuse_mcp_body(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        error: &McpParseError,
    ) -> Result<()> {
        let (resp, body) = mcp_body::parse_error(error, &ctx.request_id)?;
        self.write_generated(session, ctx, resp, body).await
    }

    /// The principal's roles against the route rules (and the parsed MCP request, if any).
    /// `Ok(true)` when the 403 was sent.
    async fn decide(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        authz: &Authorizer,
    ) -> Result<bool> {
        let Some(principal) = ctx.principal.clone() else {
            return Ok(false);
        };
        let method = session.req_header().method.as_str();
        let decision = authz.decide(&principal.roles, method, &ctx.path, ctx.mcp.as_ref());
        if decision.allowed {
            return Ok(false);
        }
        self.metrics.denied(Denial::Authz);
        tracing::info!(
            request_id = %ctx.request_id,
            user = %principal.user_id,
            "{decision}"
        );
        let (resp, body) = authz_response::forbidden(&decision, &ctx.request_id)?;
        self.write_generated(session, ctx, resp, body).await?;
        Ok(true)
    }

    async fn send_reply(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        reply: Reply,
    ) -> Result<()> {
        let mut resp = ResponseHeader::build(reply.status, Some(6))?;
        resp.insert_header("content-type", reply.content_type)?;
        resp.insert_header("content-length", reply.body.len())?;
        resp.insert_header("cache-control", "no-store")?;
        resp.insert_header("x-content-type-options", "nosniff")?;
        for (name, value) in reply.headers {
            // Appended: a reply may set several cookies.
            resp.append_header(name, value)?;
        }
        self.write_generated(session, ctx, resp, reply.body).await
    }

    fn stamp(&self, resp: &mut ResponseHeader, ctx: &RequestCtx) -> Result<()> {
        errors::stamp(resp, self.hsts.as_ref(), &ctx.request_id)
    }

    async fn send_error(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        reject: Reject,
    ) -> Result<()> {
        let (resp, body) = errors::json_error(reject.status, &reject.message, &ctx.request_id)?;
        self.write_generated(session, ctx, resp, body).await
    }

    /// The request's audit record.
    fn audit_event(&self, session: &Session, ctx: &RequestCtx, status: u16) -> AuditEvent {
        let req = session.req_header();
        let (user_id, roles) = match &ctx.principal {
            Some(p) => (Some(p.user_id.as_str()), p.roles.as_slice()),
            None => (None, &[][..]),
        };
        AuditEvent::request(&RequestInfo {
            method: req.method.as_str(),
            path: &ctx.path,
            status,
            duration: ctx.started.elapsed(),
            request_id: &ctx.request_id,
            source_ip: ctx.client_ip,
            user_agent: req
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
            user_id,
            roles,
            mcp: ctx.mcp.as_ref(),
        })
    }

    /// Strict mode: the record must be durable before the response leaves. `Err` means it is
    /// not, and the response must become a 503.
    async fn audit_before_response(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
        status: u16,
    ) -> std::result::Result<(), ()> {
        if !self.audit.is_strict() || ctx.audited {
            return Ok(());
        }
        ctx.audited = true;
        let event = self.audit_event(session, ctx, status);
        self.audit.record_durable(event).await.map_err(|e| {
            tracing::error!(request_id = %ctx.request_id, "{e}: refusing the request");
        })
    }

    /// Write a response the proxy produced itself (stamped), then close the connection.
    async fn write_generated(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        resp: ResponseHeader,
        body: Bytes,
    ) -> Result<()> {
        let (mut resp, body) = match self
            .audit_before_response(session, ctx, resp.status.as_u16())
            .await
        {
            Ok(()) => (resp, body),
            Err(()) => audit_unavailable(&ctx.request_id)?,
        };
        self.stamp(&mut resp, ctx)?;
        // Unread request bytes may follow: never reuse the connection after an error.
        session.set_keepalive(None);
        let head = session.req_header().method == Method::HEAD;
        session.write_response_header(Box::new(resp), head).await?;
        if !head {
            session.write_response_body(Some(body), true).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            started: Instant::now(),
            request_id: String::new(),
            client_ip: None,
            path: String::new(),
            route: "other",
            body_bytes: 0,
            host: String::new(),
            principal: None,
            audited: false,
            mcp_body: None,
            mcp: None,
            tools_answer: None,
            group: None,
            allowance: None,
            admission: None,
            max_body: self.limits.max_body_bytes,
            answered: false,
            response_bytes: None,
            audit_refused: false,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let admitted = self.admit(session, ctx).and_then(|()| {
            // Strict audit: nothing is served while records cannot be written.
            if self.audit.is_strict() && !self.audit.is_available() {
                Err(Reject::new(503, "the audit log is unavailable"))
            } else {
                Ok(())
            }
        });
        match admitted {
            // A `POST /mcp` request's own rates are charged once its body is checked.
            Ok(()) => Ok(self.limit_client(session, ctx).await?
                || self.authenticate(session, ctx).await?
                || self.authorize(session, ctx).await?
                || (ctx.mcp_body.is_none() && self.limit_caller(session, ctx).await?)
                || self.serve_viewer(session, ctx).await?),
            Err(reject) => {
                self.send_error(session, ctx, reject).await?;
                Ok(true)
            }
        }
    }

    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(collector) = ctx.mcp_body.as_mut() {
            // An upstream retry replays the body: send exactly the checked bytes again.
            if let Some(checked) = collector.checked() {
                if body.is_some() {
                    *body = Some(checked.clone());
                }
                return Ok(());
            }
            let complete = match collector.push(body.take(), end_of_stream) {
                // An empty chunk forwards nothing (`None` would end the upstream body).
                Step::More => {
                    *body = Some(Bytes::new());
                    return Ok(());
                }
                Step::TooLarge => {
                    let limit = collector.limit();
                    self.refuse_mcp_body(session, ctx, &McpParseError::TooLarge { limit })
                        .await?;
                    return self.answered(session, ctx);
                }
                Step::Complete(complete) => complete,
            };
            // The core may have refused the request on its header alone: nothing to check.
            if session.response_written().is_some() {
                return self.answered(session, ctx);
            }
            if self.check_mcp_body(session, ctx, &complete).await? {
                return self.answered(session, ctx);
            }
            if let Some(collector) = ctx.mcp_body.as_mut() {
                collector.set_checked(complete.clone());
            }
            *body = Some(complete);
            return Ok(());
        }
        // Content-Length was checked up front; this catches chunked and HTTP/2 bodies.
        if let Some(chunk) = body {
            ctx.body_bytes += chunk.len() as u64;
            if ctx.body_bytes > ctx.max_body {
                return Error::e_explain(HTTPStatus(413), "request body over its limit");
            }
        }
        Ok(())
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &RequestCtx, _error: &Error) -> bool {
        ctx.answered
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        Ok(Box::new(self.peer.clone()))
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let status = upstream_response.status.as_u16();
        ctx.response_bytes = Some(0);
        if self
            .audit_before_response(session, ctx, status)
            .await
            .is_err()
        {
            // Nothing was sent yet: fail_to_proxy answers with the 503 instead.
            ctx.audit_refused = true;
            return Error::e_explain(HTTPStatus(503), "the audit log is unavailable");
        }
        // Only authorized requests have a parsed MCP body.
        if ctx.mcp.as_ref().is_some_and(McpRequest::lists_tools) {
            tools_filter::prepare(upstream_response, session.as_downstream().is_http2())?;
            ctx.tools_answer = Some(Vec::new());
        }
        if let Some(allowance) = &ctx.allowance {
            for (name, value) in allowance.headers() {
                upstream_response.insert_header(name, value)?;
            }
        }
        // A session used after a quiet spell gets its idle window renewed.
        if let Some(cookie) = ctx
            .principal
            .as_ref()
            .and_then(|p| p.refresh_cookie.as_deref())
        {
            upstream_response.append_header(http::header::SET_COOKIE, cookie)?;
        }
        self.stamp(upstream_response, ctx)
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        if let Some(chunk) = body {
            *ctx.response_bytes.get_or_insert(0) += chunk.len() as u64;
        }
        let Some(collected) = ctx.tools_answer.as_mut() else {
            return Ok(None);
        };
        tools_filter::collect(collected, body.take())?;
        if end_of_stream {
            let (Some(authz), Some(principal), Some(request)) =
                (&self.authz, &ctx.principal, &ctx.mcp)
            else {
                return Error::e_explain(InternalError, "tools/list answer without a request");
            };
            let filtered = authz
                .filter_tools_list(&principal.roles, request, collected)
                .or_else(|e| Error::e_explain(HTTPStatus(502), e.to_string()))?;
            *body = Some(Bytes::from(filtered));
        }
        Ok(None)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let (mut reject, upstream_kind) = errors::classify(e);
        if ctx.audit_refused {
            reject = Reject::new(503, "the audit log is unavailable");
        }
        if let Some(kind) = upstream_kind {
            self.metrics.upstream_error(kind);
        }
        // Once the response has started (e.g. the upstream reset mid-stream) the only honest
        // signal left is closing the connection, which pingora does.
        let status = reject.status;
        if status > 0 && session.response_written().is_none() {
            if let Err(write_error) = self.send_error(session, ctx, reject).await {
                tracing::debug!(request_id = %ctx.request_id, "could not send error response: {write_error}");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.started.elapsed();
        self.metrics.observe_request(ctx.route, status, elapsed);
        let user = ctx.principal.as_ref().map(|p| p.user_id.as_str());
        self.metrics
            .observe_caller(ctx.route, user, ctx.response_bytes);
        // Never headers or query strings: they may carry credentials.
        tracing::info!(
            target: "mimir_proxy::access",
            method = %session.req_header().method,
            path = ?ctx.path,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            request_id = %ctx.request_id,
            client_ip = %ctx.client_ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
            user = ctx.principal.as_ref().map_or("-", |p| p.user_id.as_str()),
            auth = ctx.principal.as_ref().map_or("-", |p| p.method.as_str()),
            key_id = ctx.principal.as_ref().and_then(|p| p.key_id.as_deref()).unwrap_or("-"),
            "request"
        );
        // Building the record costs allocations on every request: only when it is kept.
        if !ctx.audited
            && self.audit.is_enabled()
            && self
                .audit
                .record(self.audit_event(session, ctx, status))
                .await
                .is_err()
        {
            tracing::error!(request_id = %ctx.request_id, "audit log unavailable: request not recorded");
        }
    }
}

/// The request as an authentication attempt (audit context, brute-force counting).
fn attempt(session: &Session, ctx: &RequestCtx) -> Result<Attempt> {
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

/// The client IP `admit` resolved; every request that reaches the limits has one.
fn client_ip(ctx: &RequestCtx) -> Result<IpAddr> {
    ctx.client_ip
        .ok_or_else(|| Error::explain(InternalError, "client address unresolved"))
}

/// The 503 that replaces a response whose audit record could not be written (strict mode).
fn audit_unavailable(request_id: &str) -> Result<(ResponseHeader, Bytes)> {
    errors::json_error(503, "the audit log is unavailable", request_id)
}
