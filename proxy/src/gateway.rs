//! The pingora `ProxyHttp` implementation: it builds the gateway's state and calls the stages of
//! [`crate::pipeline`] in their order, one pingora phase after another. No stage logic lives
//! here.
//!
//! - `request_filter`: stages 1-6 ([`crate::pipeline::admit`]), then traffic before
//!   authentication, authentication, authorization and the caller's rates
//!   ([`crate::pipeline::throttle`], [`crate::pipeline::authenticate`],
//!   [`crate::pipeline::authorize`]); the audit viewer after them;
//! - `request_body_filter`: a `POST /mcp` body collected and checked before any of it leaves
//!   ([`crate::pipeline::mcp_body`]), every other body held to its limit;
//! - `response_filter` / `response_body_filter`: HSTS and request id on every response, the
//!   tightest rate limit's `RateLimit` fields, a renewed session cookie, `tools/list` answers
//!   reduced to the caller's tools ([`crate::pipeline::tools_filter`]);
//! - `fail_to_proxy`: JSON errors; `logging`: metrics, access log and the audit record
//!   ([`crate::pipeline::record`]). In strict audit mode the record is durable before the
//!   response header leaves ([`crate::pipeline::respond`]); a request that cannot be audited is
//!   answered 503.
//!
//! With `auth.enabled = false` (loopback only) there is no principal and no authorization:
//! development passthrough.

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::FailToProxy;
use pingora::upstreams::peer::HttpUpstreamRequestPolicy;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::admin::metrics::Metrics;
use crate::audit::Audit;
use crate::authn::iam_watch::IamWatch;
use crate::authn::trail::AuthTrail;
use crate::authn::Authenticator;
use crate::authserver::AuthServer;
use crate::authz::Authorizer;
use crate::config::ProxyConfig;
use crate::pipeline::limits::Traffic;
use crate::pipeline::state::{Gateway, RequestCtx};
use crate::pipeline::tools_filter;
use crate::reply::errors::{self, Reject};
use crate::request::mcp::McpRequest;
use crate::tls::{self, UpstreamTls};

/// How long an idle upstream connection stays in the keep-alive pool.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

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
        let auth = if config.auth.enabled {
            IamWatch::new(
                config.auth.keys_file.clone(),
                config.auth.lockdown_file.clone(),
            )
            .spawn(audit.clone())?;
            Some(Arc::new(Authenticator::new(&config.authn_settings())?))
        } else {
            tracing::warn!(
                "auth.enabled = false: requests are forwarded unauthenticated and unauthorized"
            );
            None
        };
        let oauth = match (&auth, &authz) {
            (Some(auth), Some(authz)) if config.oauth.enabled => {
                let server = Arc::new(AuthServer::new(
                    &config.oauth,
                    &config.auth.keys_file,
                    config.traffic.ipv6_prefix,
                    auth.clone(),
                    authz.clone(),
                    trail.clone(),
                )?);
                server.watch_revocations()?;
                Some(server)
            }
            _ => None,
        };
        Ok(Self {
            // Parsed (and lower-cased) once; validation already refused invalid names.
            identity_header: HeaderName::try_from(config.headers.identity_header.as_str())?,
            trusted_proxies: config.headers.trusted_proxies.clone(),
            path_options: config.path_options(),
            limits: config.limits.clone(),
            hsts,
            peer,
            metrics,
            auth,
            oauth,
            authz,
            denied_tool_calls: config.authz.denied_tool_calls,
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
            presented: None,
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
        if ctx.mcp_body.is_some() {
            return self
                .collect_mcp_body(session, body, end_of_stream, ctx)
                .await;
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
            for (name, value) in allowance.headers()? {
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
        self.filter_tools_answer(body, end_of_stream, ctx)?;
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
        self.record(session, ctx).await;
    }
}
