//! Who the client is: the client IP behind trusted proxies, and the validated Host.
//!
//! `X-Forwarded-For` is only believed from peers in `headers.trusted_proxies`, and then only up
//! to the first address (from the right) that is not itself a trusted proxy: everything left of
//! that was written by the client and could be anything.

use http::HeaderValue;
use ipnet::IpNet;
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

/// The client as the proxy reports it to the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientChain {
    /// The address requests are attributed to (`X-Real-IP`).
    pub client_ip: IpAddr,
    /// `X-Forwarded-For` to send: the believed part of the incoming chain, then the TCP peer.
    pub forwarded_for: String,
}

impl ClientChain {
    /// `client_ip` as text: the chain starts with it, so it is not formatted a second time.
    pub fn client_ip_text(&self) -> &str {
        self.forwarded_for
            .split(", ")
            .next()
            .unwrap_or(&self.forwarded_for)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`, from dual-stack sockets) is the IPv4 address.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// One `X-Forwarded-For` element: a bare address, `a.b.c.d:port` or `[v6]:port`.
fn parse_element(element: &str) -> Option<IpAddr> {
    let element = element.trim();
    element
        .parse::<IpAddr>()
        .or_else(|_| element.parse::<SocketAddr>().map(|sa| sa.ip()))
        .ok()
        .map(canonical_ip)
}

/// Resolve the client for a connection from `peer` carrying the given `X-Forwarded-For` values.
pub fn client_chain<'a>(
    peer: IpAddr,
    xff: impl Iterator<Item = &'a HeaderValue>,
    trusted: &[IpNet],
) -> ClientChain {
    let peer = canonical_ip(peer);
    let mut believed: Vec<IpAddr> = Vec::new();
    if is_trusted(peer, trusted) {
        // All header lines form one list (RFC 9110 5.3); a non-ASCII line reads as one bad
        // element, which ends the walk.
        let elements: Vec<&str> = xff
            .flat_map(|v| v.to_str().unwrap_or("").split(','))
            .collect();
        for element in elements.iter().rev() {
            // A malformed element means the hop to its right is the last one we can vouch for.
            let Some(ip) = parse_element(element) else {
                break;
            };
            believed.push(ip);
            if !is_trusted(ip, trusted) {
                break;
            }
        }
        believed.reverse();
    }
    let client_ip = believed.first().copied().unwrap_or(peer);
    let mut forwarded_for = String::with_capacity(16 * (believed.len() + 1));
    for ip in believed.iter().chain(std::iter::once(&peer)) {
        if !forwarded_for.is_empty() {
            forwarded_for.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(forwarded_for, "{ip}");
    }
    ClientChain {
        client_ip,
        forwarded_for,
    }
}

/// The request's authority, checked: exactly one, a plausible `host[:port]`, no userinfo.
/// HTTP/2 carries it in `:authority`; HTTP/1 in `Host` (pingora already rejects duplicates and a
/// `Host` that disagrees with an absolute-form target).
pub fn validated_host(req: &pingora::http::RequestHeader) -> Result<String, &'static str> {
    let mut hosts = req.headers.get_all(http::header::HOST).iter();
    let raw = match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return Err("multiple Host headers"),
        (Some(host), None) => host.to_str().map_err(|_| "Host is not ASCII")?,
        (None, _) => match req.uri.authority() {
            Some(authority) => authority.as_str(),
            None => return Err("missing Host header"),
        },
    };
    if is_valid_authority(raw) {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err("invalid Host header")
    }
}

fn is_valid_authority(raw: &str) -> bool {
    if raw.is_empty() || raw.len() > 255 || raw.contains('@') {
        return false;
    }
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => (v6, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (v6, Some(port)),
                None => return false,
            },
        }
    } else {
        match raw.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (raw, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    let host_ok = raw.starts_with('[')
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')));
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn chain(peer: &str, xff: &[&str], trusted: &[&str]) -> ClientChain {
        let values: Vec<HeaderValue> = xff
            .iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect();
        client_chain(peer.parse().unwrap(), values.iter(), &nets(trusted))
    }

    #[test]
    fn untrusted_peer_is_the_client() {
        let c = chain("203.0.113.9", &["1.2.3.4"], &[]);
        assert_eq!(c.client_ip.to_string(), "203.0.113.9");
        assert_eq!(c.forwarded_for, "203.0.113.9");
        assert_eq!(c.client_ip_text(), "203.0.113.9");
    }

    #[test]
    fn trusted_peer_walks_right_to_left() {
        let c = chain(
            "10.0.0.2",
            &["6.6.6.6, 198.51.100.7", "10.0.0.1"],
            &["10.0.0.0/8"],
        );
        assert_eq!(c.client_ip.to_string(), "198.51.100.7");
        assert_eq!(c.forwarded_for, "198.51.100.7, 10.0.0.1, 10.0.0.2");
        assert_eq!(c.client_ip_text(), "198.51.100.7");
    }

    #[test]
    fn all_trusted_takes_leftmost() {
        let c = chain("10.0.0.2", &["10.0.0.1"], &["10.0.0.0/8"]);
        assert_eq!(c.client_ip.to_string(), "10.0.0.1");
    }

    #[test]
    fn garbage_stops_the_walk() {
        let c = chain(
            "10.0.0.2",
            &["1.1.1.1, nonsense, 10.0.0.1"],
            &["10.0.0.0/8"],
        );
        assert_eq!(c.client_ip.to_string(), "10.0.0.1");
        assert_eq!(c.forwarded_for, "10.0.0.1, 10.0.0.2");
    }

    #[test]
    fn ports_and_mapped_addresses() {
        let c = chain("::ffff:10.0.0.2", &["[2001:db8::1]:443"], &["10.0.0.0/8"]);
        assert_eq!(c.client_ip.to_string(), "2001:db8::1");
        assert_eq!(c.forwarded_for, "2001:db8::1, 10.0.0.2");
        let c = chain("::ffff:192.0.2.1", &[], &[]);
        assert_eq!(c.client_ip.to_string(), "192.0.2.1");
    }

    #[test]
    fn authorities() {
        for ok in [
            "localhost",
            "localhost:8443",
            "127.0.0.1:1",
            "[::1]:8443",
            "[::1]",
            "a-b.example_x.com",
        ] {
            assert!(is_valid_authority(ok), "{ok}");
        }
        for bad in [
            "",
            "user@host",
            "host:",
            "host:99999",
            "host:12a",
            "ho st",
            "[::1",
            "[zz]:1",
            "a/b",
            ":80",
        ] {
            assert!(!is_valid_authority(bad), "{bad}");
        }
    }
}
