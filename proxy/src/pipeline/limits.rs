//! Traffic-control stages (docs/traffic-controls.md): IP lists, requests in flight and the
//! per-IP rate before authentication, the caller's rates (API key, user, route group, MCP tools)
//! after authorization, and the route group's body limit. The gateway answers a [`Refusal`] and
//! adds the tightest [`Allowance`] to the upstream's response.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use std::net::IpAddr;
use std::sync::Arc;

use crate::audit::AuditEvent;
use crate::reply::errors::json_error;
use crate::request::mcp::McpRequest;
use crate::traffic::connlimit::{Busy, SlotGuard, Slots};
use crate::traffic::groups::GroupId;
use crate::traffic::ipfilter::{IpDenied, IpFilter};
use crate::traffic::{Allowance, LimitKeys, Limited, Limiter};

/// `Retry-After` of a request refused for concurrency: slots free up as requests finish.
const BUSY_RETRY_SECONDS: u32 = 1;

pub struct Traffic {
    limiter: Arc<Limiter>,
    ip_filter: IpFilter,
    /// Requests in flight per client IP.
    in_flight: Arc<Slots>,
    /// Requests in flight in the whole process.
    busy: Busy,
}

/// Why a request is refused.
#[derive(Debug)]
pub enum Refusal {
    Ip(IpDenied),
    Rate(Limited),
    /// The client IP has `connections.max_in_flight_per_ip` requests in flight: 429.
    InFlight,
    /// The process has `connections.max_in_flight` requests in flight: 503.
    Busy,
}

impl Refusal {
    pub fn response(&self, request_id: &str) -> pingora::Result<(ResponseHeader, Bytes)> {
        let (status, message) = match self {
            Self::Ip(denied) => return denied.response(request_id),
            Self::Rate(limited) => return limited.response(request_id),
            Self::InFlight => (429, "too many requests in progress from this address"),
            Self::Busy => (503, "the proxy is busy; retry shortly"),
        };
        let (mut resp, body) = json_error(status, message, request_id)?;
        resp.insert_header("retry-after", BUSY_RETRY_SECONDS)?;
        Ok((resp, body))
    }

    pub fn audit_event(&self, ip: IpAddr, user_id: Option<&str>) -> AuditEvent {
        match self {
            Self::Ip(_) => AuditEvent::ip_denied(ip),
            Self::Rate(limited) => AuditEvent::rate_limited(Some(ip), user_id, &limited.spec.name),
            Self::InFlight => AuditEvent::rate_limited(Some(ip), user_id, "in-flight-ip"),
            Self::Busy => AuditEvent::rate_limited(Some(ip), user_id, "in-flight"),
        }
    }
}

/// The concurrency slots of one request, released when it is dropped (with the request's
/// context, however the request ends).
#[derive(Debug)]
pub struct Admission {
    _busy: Option<tokio::sync::OwnedSemaphorePermit>,
    _slot: SlotGuard,
}

impl Traffic {
    /// `in_flight`: requests in flight per client IP; `busy`: in the whole process.
    pub fn new(
        limiter: Arc<Limiter>,
        ip_filter: IpFilter,
        in_flight: Arc<Slots>,
        busy: Busy,
    ) -> Self {
        Self {
            limiter,
            ip_filter,
            in_flight,
            busy,
        }
    }

    /// The route group of a normalized path.
    pub fn group(&self, path: &str) -> Option<GroupId> {
        self.limiter.groups().find(path)
    }

    /// The body limit of a request: its group's `max_body_bytes`, never above `global`.
    pub fn max_body_bytes(&self, group: Option<GroupId>, global: u64) -> u64 {
        self.limiter.groups().max_body_bytes(group, global)
    }

    /// A slot among the requests in flight, in the process and for the client IP.
    pub fn admit(&self, ip: IpAddr) -> Result<Admission, Refusal> {
        let busy = self.busy.acquire().ok_or(Refusal::Busy)?;
        let slot = self.in_flight.acquire(ip).ok_or(Refusal::InFlight)?;
        Ok(Admission {
            _busy: busy,
            _slot: slot,
        })
    }

    /// Before authentication: the IP lists, then the per-IP rate, so that a flood of bad
    /// credentials never reaches the verifiers.
    pub async fn before_auth(
        &self,
        ip: IpAddr,
        group: Option<GroupId>,
    ) -> Result<Option<Allowance>, Refusal> {
        self.ip_filter.check(ip, group).map_err(Refusal::Ip)?;
        self.limiter.check_ip(ip).await.map_err(Refusal::Rate)
    }

    /// After authorization: the limits of the caller, the route group and the tools called.
    pub async fn after_auth(
        &self,
        ip: IpAddr,
        user: Option<&str>,
        api_key: Option<&str>,
        group: Option<GroupId>,
        mcp: Option<&McpRequest>,
    ) -> Result<Option<Allowance>, Refusal> {
        let tools: Vec<&str> = mcp
            .map(|m| m.messages.iter().filter_map(|msg| msg.tool()))
            .into_iter()
            .flatten()
            .map(|t| t.name.as_str())
            .collect();
        let keys = LimitKeys {
            ip,
            user,
            api_key,
            group,
            tools: &tools,
        };
        self.limiter.check(&keys).await.map_err(Refusal::Rate)
    }
}

/// The request's `Content-Length`, if it declares one (pingora has refused malformed values).
pub fn declared_length(req: &pingora::http::RequestHeader) -> Option<u64> {
    req.headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Of two allowances, the one with fewer requests left: the response reports the tightest.
pub fn tighter(a: Option<Allowance>, b: Option<Allowance>) -> Option<Allowance> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.remaining < a.remaining { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::config::{OnError, Period, Rate};
    use crate::traffic::LimitSpec;
    use std::time::Duration;

    fn allowance(remaining: u32) -> Option<Allowance> {
        Some(Allowance {
            spec: Arc::new(
                LimitSpec::new(
                    format!("l{remaining}"),
                    Rate::new(1, Period::Second, 1),
                    OnError::Open,
                )
                .unwrap(),
            ),
            remaining,
            reset: Duration::ZERO,
        })
    }

    #[test]
    fn the_tightest_allowance_is_reported() {
        let left = |a: Option<Allowance>| a.map(|a| a.remaining);
        assert_eq!(left(tighter(allowance(5), allowance(2))), Some(2));
        assert_eq!(left(tighter(allowance(2), allowance(5))), Some(2));
        assert_eq!(left(tighter(None, allowance(3))), Some(3));
        assert_eq!(left(tighter(allowance(3), None)), Some(3));
        assert_eq!(left(tighter(None, None)), None);
    }
}
