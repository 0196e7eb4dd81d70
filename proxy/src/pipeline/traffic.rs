//! Traffic-control stages (docs/traffic-controls.md): IP lists and the per-IP rate before
//! authentication, the caller's rates (API key, user, route group, MCP tools) after
//! authorization. The gateway answers a [`Refusal`] and adds the tightest [`Allowance`] to the
//! upstream's response.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use std::net::IpAddr;
use std::sync::Arc;

use crate::audit::AuditEvent;
use crate::authz::McpRequest;
use crate::ipfilter::{IpDenied, IpFilter};
use crate::ratelimit::groups::GroupId;
use crate::ratelimit::{Allowance, LimitKeys, Limited, Limiter};

pub struct Traffic {
    limiter: Arc<Limiter>,
    ip_filter: IpFilter,
}

/// Why a request is refused.
#[derive(Debug)]
pub enum Refusal {
    Ip(IpDenied),
    Rate(Limited),
}

impl Refusal {
    pub fn response(&self, request_id: &str) -> pingora::Result<(ResponseHeader, Bytes)> {
        match self {
            Self::Ip(denied) => denied.response(request_id),
            Self::Rate(limited) => limited.response(request_id),
        }
    }

    pub fn audit_event(&self, ip: IpAddr, user_id: Option<&str>) -> AuditEvent {
        match self {
            Self::Ip(_) => AuditEvent::ip_denied(ip),
            Self::Rate(limited) => AuditEvent::rate_limited(Some(ip), user_id, &limited.spec.name),
        }
    }
}

impl Traffic {
    pub fn new(limiter: Arc<Limiter>, ip_filter: IpFilter) -> Self {
        Self { limiter, ip_filter }
    }

    /// The route group of a normalized path.
    pub fn group(&self, path: &str) -> Option<GroupId> {
        self.limiter.groups().find(path)
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
    use crate::ratelimit::config::{OnError, Period, Rate};
    use crate::ratelimit::LimitSpec;
    use std::time::Duration;

    fn allowance(remaining: u32) -> Option<Allowance> {
        Some(Allowance {
            spec: Arc::new(LimitSpec {
                name: format!("l{remaining}"),
                rate: Rate::new(1, Period::Second, 1),
                on_error: OnError::Open,
            }),
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
