//! The pingora `ProxyHttp` implementation. It only wires the stages together, in order; each
//! stage lives in its own module:
//!
//! 1. request id ([`request_id`]) and client address ([`forwarded`]);
//! 2. header hygiene ([`identity`]);
//! 3. framing and size limits ([`framing`]);
//! 4. Host ([`forwarded`]);
//! 5. path normalization ([`normalize`]);
//! 6. forwarding headers ([`identity`]);
//! 7. IP allow/deny lists and the per-IP rate ([`traffic`]): 403 / 429;
//! 8. authentication ([`authn`]): public routes pass, the proxy's own endpoints are answered
//!    here, everything else needs a credential (401 otherwise); the verified identity is injected
//!    and the client's credentials removed ([`identity`]); an anonymous browser navigation is
//!    sent to the login page instead of the 401;
//! 9. authorization ([`authz`]): the principal's roles against the route rules; a `POST /mcp`
//!    body is read whole ([`mcp_body`]), checked message by message and replayed upstream;
//!    refused → 403 (docs/authorization.md). With `auth.enabled = false` (loopback only) there
//!    is no principal and no authorization: development passthrough;
//! 10. the caller's rates: API key, user, route group, MCP tools ([`traffic`]): 429, or 503
//!     when a shared limit cannot be consulted and fails closed;
//!
//! then the upstream, and on the way back HSTS + request id on every response, the tightest
//! rate limit's `RateLimit` fields on proxied responses, `tools/list`
//! answers reduced to the caller's tools ([`tools_filter`]), JSON errors ([`errors`]), metrics,
//! the access log and one audit record per request ([`audit`]). In strict
//! audit mode the record is durable before the response header leaves; a request that cannot be
//! audited is answered 503.

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{HOST, STRICT_TRANSPORT_SECURITY};
use http::{HeaderValue, Method, Uri};
use ipnet::IpNet;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::FailToProxy;
use pingora::upstreams::peer::HttpUpstreamRequestPolicy;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audit::{Audit, AuditEvent, RequestInfo};
use crate::authn::endpoints::{self, Reply};
use crate::authn::routes::{self, Route};
use crate::authn::{challenge, AuthFailure, Authenticator, Principal};
use crate::authz::{response as authz_response, Authorizer, McpRequest};
use crate::config::{LimitConfig, ProxyConfig};
use crate::errors::{self, Reject};
use crate::metrics::{self, Metrics};
use crate::normalize::PathOptions;
use crate::pipeline::traffic::{self, Refusal, Traffic};
use crate::pipeline::{mcp_body, tools_filter};
use crate::ratelimit::groups::GroupId;
use crate::ratelimit::Allowance;
use crate::tls::{self, UpstreamTls};
use crate::{forwarded, framing, identity, normalize, request_id};

/// How long an idle upstream connection stays in the keep-alive pool.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Where anonymous browser navigations are sent (`authz::response::login_redirect`).
const LOGIN_PATH: &str = "/login";
/// Longest path kept in the access log of a rejected request.
const LOGGED_PATH_MAX: usize = 256;

pub struct Gateway {
    identity_header: String,
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
    /// The checked `POST /mcp` body: exactly these bytes go upstream.
    mcp_body: Option<Bytes>,
    /// What that body asked for (audit fields, `tools/list` filtering).
    mcp: Option<McpRequest>,
    /// Set when the answer is a `tools/list` result to filter: the body collected so far.
    tools_answer: Option<Vec<u8>>,
    /// The route group of the normalized path (rate limits, IP lists).
    group: Option<GroupId>,
    /// The tightest rate limit that let the request through, reported on the response.
    allowance: Option<Allowance>,
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
        Ok(Self {
            identity_header: config.headers.identity_header.clone(),
            trusted_proxies: config.headers.trusted_proxies.clone(),
            path_options: PathOptions::from_config(config),
            limits: config.limits.clone(),
            hsts,
            peer,
            metrics,
            auth: if config.auth.enabled {
                Some(Arc::new(Authenticator::new(config)?))
            } else {
                tracing::warn!(
                    "auth.enabled = false: requests are forwarded unauthenticated and unauthorized"
                );
                None
            },
            authz,
            audit,
            traffic,
        })
    }

    /// Stages 1-6 on the request header. `Err` means answer with that status, forward nothing.
    fn admit(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<(), Reject> {
        let req = session.req_header();
        ctx.request_id =
            request_id::accept_or_generate(req.headers.get_all(request_id::HEADER).iter());
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

    /// Stage 7, before authentication. `Ok(true)` when a response was sent (403, 429).
    async fn limit_client(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let ip = client_ip(ctx)?;
        ctx.group = self.traffic.group(&ctx.path);
        let decision = self.traffic.before_auth(ip, ctx.group).await;
        self.apply_traffic(session, ctx, ip, decision).await
    }

    /// Stage 10, once the caller and the tools are known. `Ok(true)` when a response was sent.
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
                ctx.allowance = traffic::tighter(ctx.allowance.take(), allowance);
                return Ok(false);
            }
            Err(refusal) => refusal,
        };
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
                    let reply =
                        endpoints::serve(auth, endpoint, session, &ctx.host, &ctx.request_id).await;
                    self.send_reply(session, ctx, reply).await?;
                    return Ok(true);
                }
                Route::Public => {}
                Route::Protected => {
                    let req = session.req_header();
                    match auth.authenticate(&req.headers, req.uri.query()).await {
                        Ok(principal) => {
                            identity::inject_identity(session.req_header_mut(), &principal)?;
                            ctx.principal = Some(principal);
                        }
                        Err(failure) => {
                            self.send_auth_failure(session, ctx, auth, failure).await?;
                            return Ok(true);
                        }
                    }
                }
            }
        }
        identity::strip_credentials(session.req_header_mut())?;
        Ok(false)
    }

    async fn send_auth_failure(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        auth: &Authenticator,
        failure: AuthFailure,
    ) -> Result<()> {
        let (presented, message) = match &failure {
            // Not for /login itself: the browser would be sent round in a loop.
            AuthFailure::Missing if ctx.path != LOGIN_PATH && self.wants_login_page(session) => {
                let req = session.req_header();
                let target = req.uri.path_and_query().map_or("/", |t| t.as_str());
                let (resp, body) = authz_response::login_redirect(target)?;
                return self.write_generated(session, ctx, resp, body).await;
            }
            AuthFailure::Missing => (false, "authentication required"),
            AuthFailure::Invalid(reason) => {
                tracing::info!(request_id = %ctx.request_id, reason = %reason, "credential refused");
                (true, "invalid or expired credential")
            }
            AuthFailure::Malformed(why) => {
                return self
                    .send_error(session, ctx, Reject::bad_request(*why))
                    .await;
            }
        };
        let resource = challenge::resource(&auth.config.resource, &ctx.host);
        let (resp, body) = challenge::unauthorized(&resource, presented, message, &ctx.request_id)?;
        self.write_generated(session, ctx, resp, body).await
    }

    fn wants_login_page(&self, session: &Session) -> bool {
        let req = session.req_header();
        let accept = req
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        authz_response::wants_login_page(req.method.as_str(), accept)
    }

    /// Stage 9, for an authenticated caller. `Ok(true)` when a response was sent (403, or the
    /// 400/413 of an MCP body that cannot be checked).
    async fn authorize(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let (Some(authz), Some(principal)) = (&self.authz, ctx.principal.clone()) else {
            return Ok(false);
        };
        let method = session.req_header().method.as_str().to_owned();
        if authz.needs_mcp_body(&method, &ctx.path) {
            let (max_bytes, _) = authz.policy().mcp_limits();
            let limit =
                usize::try_from(self.limits.max_body_bytes).map_or(max_bytes, |m| m.min(max_bytes));
            let parsed = match mcp_body::read(session, limit).await? {
                Ok(body) => {
                    ctx.body_bytes = body.len() as u64;
                    let parsed = authz.parse_mcp(&body);
                    ctx.mcp_body = Some(body);
                    parsed
                }
                Err(e) => Err(e),
            };
            match parsed {
                Ok(request) => ctx.mcp = Some(request),
                Err(e) => {
                    let (resp, body) = mcp_body::parse_error(&e, &ctx.request_id)?;
                    self.write_generated(session, ctx, resp, body).await?;
                    return Ok(true);
                }
            }
        }
        let decision = authz.decide(&principal.roles, &method, &ctx.path, ctx.mcp.as_ref());
        if decision.allowed {
            return Ok(false);
        }
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
            resp.insert_header(name, value)?;
        }
        self.write_generated(session, ctx, resp, reply.body).await
    }

    /// HSTS and the request id go on every response, proxied or generated.
    fn stamp(&self, resp: &mut ResponseHeader, ctx: &RequestCtx) -> Result<()> {
        if let Some(hsts) = &self.hsts {
            resp.insert_header(STRICT_TRANSPORT_SECURITY, hsts.clone())?;
        }
        if !ctx.request_id.is_empty() {
            resp.insert_header(request_id::HEADER, ctx.request_id.as_str())?;
        }
        Ok(())
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
            mcp_method: ctx.mcp.as_ref().and_then(McpRequest::first_method),
            mcp_tool: ctx.mcp.as_ref().and_then(McpRequest::first_tool),
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
            Ok(()) => Ok(self.limit_client(session, ctx).await?
                || self.authenticate(session, ctx).await?
                || self.authorize(session, ctx).await?
                || self.limit_caller(session, ctx).await?),
            Err(reject) => {
                self.send_error(session, ctx, reject).await?;
                Ok(true)
            }
        }
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        // The MCP body was read and checked in request_filter; pingora replays it from its
        // retry buffer (also on an upstream retry). Send exactly the checked bytes.
        if let Some(checked) = &ctx.mcp_body {
            if body.is_some() {
                *body = Some(checked.clone());
            }
            return Ok(());
        }
        // Content-Length was checked up front; this catches chunked and HTTP/2 bodies.
        if let Some(chunk) = body {
            ctx.body_bytes += chunk.len() as u64;
            if ctx.body_bytes > self.limits.max_body_bytes {
                return Error::e_explain(
                    HTTPStatus(413),
                    "request body over limits.max_body_bytes",
                );
            }
        }
        Ok(())
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
        if self
            .audit_before_response(session, ctx, status)
            .await
            .is_err()
        {
            // Nothing was sent yet: fail_to_proxy answers with the 503 instead.
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
        self.stamp(upstream_response, ctx)
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
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
        let (reject, upstream_kind) = errors::classify(e);
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
        if !ctx.audited
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

/// The client IP `admit` resolved; every request that reaches the limits has one.
fn client_ip(ctx: &RequestCtx) -> Result<IpAddr> {
    ctx.client_ip
        .ok_or_else(|| Error::explain(InternalError, "client address unresolved"))
}

/// The 503 that replaces a response whose audit record could not be written (strict mode).
fn audit_unavailable(request_id: &str) -> Result<(ResponseHeader, Bytes)> {
    errors::json_error(503, "the audit log is unavailable", request_id)
}
