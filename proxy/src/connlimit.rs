//! Per-IP connection limits.
//!
//! pingora 0.9's connection filter sees each TCP connection once, before the TLS handshake, and
//! is never told when it closes, so open connections cannot be counted there. Two limits are
//! enforced instead:
//! - [`ConnectionGate`] (the connection filter): the global IP lists for peers that are not
//!   trusted proxies, and a GCRA rate of new connections per peer address. Refused connections
//!   are closed without a byte sent.
//! - [`InFlight`]: requests in progress per client IP, held by a guard that lives in the
//!   request context and is released when the request ends, whatever way it ends.
//!
//! A client that opens connections and trickles its headers (slowloris) is bounded by the
//! accept rate here and cut off by `limits.client_header_timeout_seconds`.

use crate::forwarded::canonical_ip;
use crate::ipfilter::IpFilter;
use crate::ratelimit::config::ConnectionLimits;
use crate::ratelimit::local::{Bucket, Outcome};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct ConnectionGate {
    ip_filter: Arc<IpFilter>,
    accept: Option<AcceptRate>,
}

/// `Bucket` is not `Debug`; pingora's filter trait requires it.
struct AcceptRate(Bucket<IpAddr>);

impl std::fmt::Debug for AcceptRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptRate")
    }
}

impl ConnectionGate {
    pub fn new(cfg: &ConnectionLimits, max_keys: usize, ip_filter: Arc<IpFilter>) -> Self {
        Self {
            ip_filter,
            accept: cfg
                .accept_per_ip
                .map(|r| AcceptRate(Bucket::new(r.quota(), max_keys, Default::default()))),
        }
    }

    pub fn admits(&self, peer: IpAddr) -> bool {
        let peer = canonical_ip(peer);
        if !self.ip_filter.admits_peer(peer) {
            tracing::info!(peer = %peer, "connection refused by the IP lists");
            return false;
        }
        match &self.accept {
            Some(AcceptRate(bucket)) => match bucket.check(&peer) {
                Outcome::Allowed { .. } => true,
                Outcome::Denied { .. } => {
                    tracing::debug!(peer = %peer, "connection refused: too many new connections");
                    false
                }
            },
            None => true,
        }
    }

    /// Drops idle peers from the accept-rate table.
    pub fn sweep(&self) {
        if let Some(AcceptRate(bucket)) = &self.accept {
            bucket.sweep();
        }
    }
}

#[async_trait::async_trait]
impl pingora_core::listeners::ConnectionFilter for ConnectionGate {
    async fn should_accept(&self, addr: Option<&SocketAddr>) -> bool {
        // No address (a Unix socket): nothing to limit by.
        addr.is_none_or(|a| self.admits(a.ip()))
    }
}

/// Requests in flight per client IP. Entries exist only while a request is in flight, so the
/// table is as large as the proxy's concurrency, never larger.
#[derive(Debug, Default)]
pub struct InFlight {
    max: u32,
    counts: Mutex<HashMap<IpAddr, u32>>,
}

/// Holds one slot until dropped (holds nothing when there is no limit).
#[derive(Debug)]
pub struct InFlightGuard {
    slot: Option<(Arc<InFlight>, IpAddr)>,
}

impl InFlight {
    /// `max == 0`: no limit (every acquire succeeds, nothing is counted).
    pub fn new(max: u32) -> Arc<Self> {
        Arc::new(Self {
            max,
            counts: Mutex::default(),
        })
    }

    /// `None`: the IP already has `max` requests in flight (answer 429).
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<InFlightGuard> {
        if self.max == 0 {
            return Some(InFlightGuard { slot: None });
        }
        let ip = canonical_ip(ip);
        let mut counts = self.counts.lock().expect("not poisoned");
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(InFlightGuard {
            slot: Some((self.clone(), ip)),
        })
    }

    pub fn in_flight(&self, ip: IpAddr) -> u32 {
        let counts = self.counts.lock().expect("not poisoned");
        counts.get(&canonical_ip(ip)).copied().unwrap_or(0)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let Some((owner, ip)) = &self.slot else {
            return;
        };
        let mut counts = owner.counts.lock().expect("not poisoned");
        if let Some(n) = counts.get_mut(ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::config::{Period, Rate, TrafficConfig};

    #[test]
    fn in_flight_slots_are_released() {
        let f = InFlight::new(2);
        let ip: IpAddr = "2001:db8::7".parse().unwrap();
        let a = f.acquire(ip).unwrap();
        let b = f.acquire(ip).unwrap();
        assert!(f.acquire(ip).is_none());
        // Another address has its own slots; IPv4-mapped is the IPv4 address.
        let v4 = f.acquire("192.0.2.1".parse().unwrap()).unwrap();
        assert_eq!(f.in_flight("::ffff:192.0.2.1".parse().unwrap()), 1);
        drop(a);
        assert!(f.acquire(ip).is_some());
        drop((b, v4));
        assert!(f.counts.lock().unwrap().is_empty());
        let unlimited = InFlight::new(0);
        let _guards: Vec<_> = (0..10).map(|_| unlimited.acquire(ip).unwrap()).collect();
        assert_eq!(unlimited.in_flight(ip), 0);
    }

    #[test]
    fn gate_applies_lists_and_accept_rate() {
        let mut cfg = TrafficConfig::default();
        cfg.ip.deny = vec!["203.0.113.0/24".parse().unwrap()];
        cfg.connections.accept_per_ip = Some(Rate::new(1, Period::Minute, 2));
        let filter = Arc::new(IpFilter::new(&cfg, &[]));
        let gate = ConnectionGate::new(&cfg.connections, 100, filter);
        assert!(!gate.admits("203.0.113.5".parse().unwrap()));
        let peer: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(gate.admits(peer));
        assert!(gate.admits(peer));
        assert!(!gate.admits(peer), "third connection within the burst of 2");
        assert!(gate.admits("198.51.100.2".parse().unwrap()));
    }
}
