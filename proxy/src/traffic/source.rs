//! The address per-client limits count by: an IPv4 address (IPv4-mapped IPv6 included) in
//! full, an IPv6 address by its network of `traffic.ipv6_prefix` bits (/64 by default). One
//! IPv6 client is usually handed a whole /64 (often a /56 or /48) and can pick a fresh address
//! for every request; counted per address, it would get 2^64 budgets.
//!
//! Used for the per-IP rate, the route-group rate of anonymous callers, the per-peer accept
//! rate and connection slots, requests in flight per client and brute-force blocks. The IP
//! lists, trusted-proxy checks and audit records keep the full address.

use crate::request::forwarded::canonical_ip;
use ipnet::Ipv6Net;
use std::net::IpAddr;

/// IPv6 prefix length clients are grouped by unless configured.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceKeys {
    ipv6_prefix: u8,
}

impl SourceKeys {
    /// `ipv6_prefix` is validated (1–128); a longer one keeps IPv6 addresses whole.
    pub fn new(ipv6_prefix: u8) -> Self {
        Self { ipv6_prefix }
    }

    /// The key of a client address: the address itself, or the network of an IPv6 address.
    pub fn of(&self, ip: IpAddr) -> IpAddr {
        match canonical_ip(ip) {
            IpAddr::V6(v6) => Ipv6Net::new(v6, self.ipv6_prefix)
                .map_or(IpAddr::V6(v6), |net| IpAddr::V6(net.network())),
            v4 => v4,
        }
    }
}

impl Default for SourceKeys {
    fn default() -> Self {
        Self::new(DEFAULT_IPV6_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_is_grouped_by_prefix_ipv4_is_not() {
        let keys = SourceKeys::default();
        let a = keys.of(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_eq!(keys.of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), a);
        assert_ne!(keys.of(ip("2001:db8:1:3::1")), a);
        assert_eq!(keys.of(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_ne!(keys.of(ip("192.0.2.7")), keys.of(ip("192.0.2.8")));
        // IPv4-mapped IPv6 is the IPv4 address, never its ::ffff:0:0/64 network.
        assert_eq!(keys.of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_ne!(
            keys.of(ip("::ffff:192.0.2.7")),
            keys.of(ip("::ffff:192.0.2.8"))
        );

        let wide = SourceKeys::new(48);
        assert_eq!(wide.of(ip("2001:db8:1:ffff::9")), ip("2001:db8:1::"));
        let whole = SourceKeys::new(128);
        assert_eq!(whole.of(ip("2001:db8::1")), ip("2001:db8::1"));
        assert_ne!(whole.of(ip("2001:db8::1")), whole.of(ip("2001:db8::2")));
    }
}
