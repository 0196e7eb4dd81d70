//! IP allow/deny lists (IPv4 and IPv6 CIDR), global and per route group, evaluated on the client
//! IP that `forwarded::client_chain` resolved (so `X-Forwarded-For` counts only from trusted
//! proxies). IPv4-mapped IPv6 addresses are compared as IPv4.
//!
//! Order: global deny, global allow, then the group's deny and allow. Deny wins; a non-empty
//! allow list admits only its networks.

use crate::request::forwarded::canonical_ip;
use crate::traffic::config::{IpRules, TrafficConfig};
use crate::traffic::groups::GroupId;
use ipnet::IpNet;
use std::net::IpAddr;

#[derive(Debug, Clone, Default)]
struct Rules {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

impl Rules {
    fn new(allow: &[IpNet], deny: &[IpNet]) -> Self {
        // Overlapping networks are merged so that a long list costs what its union costs.
        Self {
            allow: IpNet::aggregate(&allow.to_vec()),
            deny: IpNet::aggregate(&deny.to_vec()),
        }
    }

    fn admits(&self, ip: IpAddr) -> bool {
        let hit = |nets: &[IpNet]| nets.iter().any(|n| n.contains(&ip));
        !hit(&self.deny) && (self.allow.is_empty() || hit(&self.allow))
    }
}

/// Which list refused the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpDenied {
    Global,
    Group(GroupId),
}

impl IpDenied {
    /// 403 with the proxy's JSON error body; the message names no rule.
    pub fn response(
        &self,
        request_id: &str,
    ) -> pingora::Result<(pingora::http::ResponseHeader, bytes::Bytes)> {
        crate::reply::errors::json_error(403, "access from this address is not allowed", request_id)
    }
}

#[derive(Debug, Clone)]
pub struct IpFilter {
    global: Rules,
    groups: Vec<Rules>,
    trusted_proxies: Vec<IpNet>,
}

impl IpFilter {
    pub fn new(cfg: &TrafficConfig, trusted_proxies: &[IpNet]) -> Self {
        let IpRules { allow, deny } = &cfg.ip;
        Self {
            global: Rules::new(allow, deny),
            groups: cfg
                .groups
                .iter()
                .map(|g| Rules::new(&g.allow, &g.deny))
                .collect(),
            trusted_proxies: trusted_proxies.to_vec(),
        }
    }

    /// Per request, before authentication: `client_ip` from `forwarded::client_chain`, `group`
    /// from `RouteGroups::find` on the normalized path.
    pub fn check(&self, client_ip: IpAddr, group: Option<GroupId>) -> Result<(), IpDenied> {
        let ip = canonical_ip(client_ip);
        if !self.global.admits(ip) {
            return Err(IpDenied::Global);
        }
        match group {
            Some(g) if !self.groups[g.0].admits(ip) => Err(IpDenied::Group(g)),
            _ => Ok(()),
        }
    }

    /// Per connection, before the TLS handshake: a peer that is not a trusted proxy is the
    /// client itself, so the global lists already apply. A trusted proxy's connections are
    /// judged per request, on the address it forwards.
    pub fn admits_peer(&self, peer: IpAddr) -> bool {
        let peer = canonical_ip(peer);
        self.trusted_proxies.iter().any(|n| n.contains(&peer)) || self.global.admits(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], deny: &[&str]) -> IpFilter {
        let mut cfg = TrafficConfig::default();
        cfg.ip.allow = allow.iter().map(|n| n.parse().unwrap()).collect();
        cfg.ip.deny = deny.iter().map(|n| n.parse().unwrap()).collect();
        IpFilter::new(&cfg, &["10.0.0.0/8".parse().unwrap()])
    }

    #[test]
    fn deny_wins_and_allow_restricts() {
        let f = filter(&["192.0.2.0/24", "2001:db8::/32"], &["192.0.2.66/32"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(f.check(ip("192.0.2.1"), None), Ok(()));
        assert_eq!(f.check(ip("192.0.2.66"), None), Err(IpDenied::Global));
        assert_eq!(f.check(ip("198.51.100.1"), None), Err(IpDenied::Global));
        assert_eq!(f.check(ip("2001:db8::1"), None), Ok(()));
        assert_eq!(f.check(ip("2001:db9::1"), None), Err(IpDenied::Global));
        // IPv4-mapped addresses are the IPv4 address.
        assert_eq!(f.check(ip("::ffff:192.0.2.1"), None), Ok(()));
        assert_eq!(
            f.check(ip("::ffff:192.0.2.66"), None),
            Err(IpDenied::Global)
        );
        // Trusted proxies are judged per request.
        assert!(f.admits_peer(ip("10.1.2.3")));
        assert!(!f.admits_peer(ip("198.51.100.1")));
    }
}
