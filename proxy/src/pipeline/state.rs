//! The gateway's shared state and each request's context, which every stage reads and writes.
//! The gateway ([`crate::gateway`]) builds the state and runs the stages in order.

use http::{HeaderName, HeaderValue};
use ipnet::IpNet;
use pingora::prelude::*;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use super::limits::{Admission, Traffic};
use super::mcp_body::Collector;
use crate::admin::metrics::Metrics;
use crate::audit::Audit;
use crate::authn::trail::AuthTrail;
use crate::authn::{Authenticator, Principal};
use crate::authserver::AuthServer;
use crate::authz::config::DeniedToolCalls;
use crate::authz::Authorizer;
use crate::config::LimitConfig;
use crate::request::mcp::McpRequest;
use crate::request::normalize::PathOptions;
use crate::traffic::groups::GroupId;
use crate::traffic::Allowance;

pub struct Gateway {
    pub(crate) identity_header: HeaderName,
    pub(crate) trusted_proxies: Vec<IpNet>,
    pub(crate) path_options: PathOptions,
    pub(crate) limits: LimitConfig,
    pub(crate) hsts: Option<HeaderValue>,
    /// Template for every upstream request: address, TLS and timeouts are fixed.
    pub(crate) peer: HttpPeer,
    pub(crate) metrics: Arc<Metrics>,
    /// `None` when `auth.enabled = false`.
    pub(crate) auth: Option<Arc<Authenticator>>,
    /// The authorization server for MCP clients (`[oauth]`); only with `auth`.
    pub(crate) oauth: Option<Arc<AuthServer>>,
    /// Kept current by the policy reloader; `None` exactly when `auth` is.
    pub(crate) authz: Option<Arc<Authorizer>>,
    /// `[authz] denied_tool_calls`.
    pub(crate) denied_tool_calls: DeniedToolCalls,
    pub(crate) audit: Audit,
    pub(crate) traffic: Traffic,
    /// Logins and refused credentials: audit records, metrics, brute-force blocks.
    pub(crate) trail: Arc<AuthTrail>,
}

/// Per-request state.
pub struct RequestCtx {
    pub(crate) started: Instant,
    pub(crate) request_id: String,
    pub(crate) client_ip: Option<IpAddr>,
    /// The normalized path once known; before that the raw path (query dropped), for the log.
    pub(crate) path: String,
    pub(crate) route: &'static str,
    pub(crate) body_bytes: u64,
    /// The validated Host.
    pub(crate) host: String,
    /// Who sent the request, once authenticated; read by the stages after authentication.
    pub principal: Option<Arc<Principal>>,
    /// The principal as authenticated, before the policy granted its roles: kept only while a
    /// shadow policy decides beside the live one, which grants roles its own way.
    pub(crate) presented: Option<Arc<Principal>>,
    /// The audit record is written (strict mode writes it before the response).
    pub(crate) audited: bool,
    /// A `POST /mcp` body being collected for authorization, then the checked bytes.
    pub(crate) mcp_body: Option<Collector>,
    /// What that body asked for (audit fields, `tools/list` filtering).
    pub(crate) mcp: Option<McpRequest>,
    /// Set when the answer is a `tools/list` result to filter: the body collected so far.
    pub(crate) tools_answer: Option<Vec<u8>>,
    /// The route group of the normalized path (rate limits, IP lists).
    pub(crate) group: Option<GroupId>,
    /// The tightest rate limit that let the request through, reported on the response.
    pub(crate) allowance: Option<Allowance>,
    /// The request's slots among the requests in flight, released with the context.
    pub(crate) admission: Option<Admission>,
    /// The body limit of the request's route group.
    pub(crate) max_body: u64,
    /// A refusal was sent from the body filter; the error that stops proxying is expected.
    pub(crate) answered: bool,
    /// Body bytes of the upstream's response (`None`: the proxy answered itself).
    pub(crate) response_bytes: Option<u64>,
    /// Strict mode could not write the record of the upstream's answer: it becomes a 503.
    pub(crate) audit_refused: bool,
}

/// The client IP `admit` resolved; every request that reaches the limits has one.
pub(crate) fn client_ip(ctx: &RequestCtx) -> Result<IpAddr> {
    ctx.client_ip
        .ok_or_else(|| Error::explain(InternalError, "client address unresolved"))
}
