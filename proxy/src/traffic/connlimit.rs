//! Connection and concurrency limits.
//!
//! pingora 0.9's connection filter sees each TCP connection once, before the TLS handshake, and
//! is never told when it closes. So:
//! - [`ConnectionGate`] (the connection filter): the global IP lists for peers that are not
//!   trusted proxies, and a GCRA rate of new connections per peer address. Refused connections
//!   are closed without a byte sent (answering would cost the TLS handshake the rate is there to
//!   spare) and reported through [`Refusals`].
//! - [`Slots`] per address, held by guards that are released on drop, whatever way the holder
//!   ends: open connections per peer address (taken by the connection handler in `server.rs`
//!   for the connection's lifetime) and requests in flight per client IP (taken by the gateway
//!   for the request's lifetime).
//! - [`Busy`]: requests in flight in the whole process.
//!
//! Trusted proxies are exempt from the per-peer limits: all their clients share their address,
//! and those clients are limited per request on the address the proxy forwards. Every limit
//! here counts an IPv6 address by its network ([`SourceKeys`]).

use crate::request::forwarded::canonical_ip;
use crate::traffic::config::TrafficConfig;
use crate::traffic::ipfilter::IpFilter;
use crate::traffic::local::{Bucket, Outcome};
use crate::traffic::refusals::{Refusals, Refused};
use crate::traffic::source::SourceKeys;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct ConnectionGate {
    ip_filter: Arc<IpFilter>,
    accept: Option<AcceptRate>,
    trusted_proxies: Vec<IpNet>,
    sources: SourceKeys,
    refusals: Arc<Refusals>,
}

/// pingora's filter trait requires `Debug`; the refusal reporter is not.
impl std::fmt::Debug for ConnectionGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionGate")
            .field("accept", &self.accept)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

/// `Bucket` is not `Debug`; pingora's filter trait requires it.
struct AcceptRate(Bucket<IpAddr>);

impl std::fmt::Debug for AcceptRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptRate")
    }
}

impl ConnectionGate {
    pub fn new(
        cfg: &TrafficConfig,
        ip_filter: Arc<IpFilter>,
        trusted_proxies: &[IpNet],
        refusals: Arc<Refusals>,
    ) -> Self {
        let max_keys = cfg.max_keys;
        Self {
            ip_filter,
            accept: cfg
                .connections
                .accept_per_ip
                .map(|r| AcceptRate(Bucket::new(r.quota(), max_keys, Default::default()))),
            trusted_proxies: trusted_proxies.to_vec(),
            sources: SourceKeys::new(cfg.ipv6_prefix),
            refusals,
        }
    }

    pub fn admits(&self, peer: IpAddr) -> Result<(), Refused> {
        let peer = canonical_ip(peer);
        if !self.ip_filter.admits_peer(peer) {
            return Err(Refused::IpList);
        }
        if is_trusted(&self.trusted_proxies, peer) {
            return Ok(());
        }
        match &self.accept {
            Some(AcceptRate(bucket)) => match bucket.check(&self.sources.of(peer)) {
                Outcome::Allowed { .. } => Ok(()),
                Outcome::Denied { .. } => Err(Refused::AcceptRate),
            },
            None => Ok(()),
        }
    }

    /// Drops idle peers from the accept-rate table, and starts a new reporting window.
    pub fn sweep(&self) {
        if let Some(AcceptRate(bucket)) = &self.accept {
            bucket.sweep();
        }
        self.refusals.sweep();
    }
}

impl crate::traffic::Sweep for ConnectionGate {
    fn sweep(&self) {
        ConnectionGate::sweep(self);
    }
}

#[async_trait::async_trait]
impl pingora_core::listeners::ConnectionFilter for ConnectionGate {
    async fn should_accept(&self, addr: Option<&SocketAddr>) -> bool {
        // No address (a Unix socket): nothing to limit by.
        let Some(addr) = addr else {
            return true;
        };
        match self.admits(addr.ip()) {
            Ok(()) => true,
            Err(refused) => {
                self.refusals.report(addr.ip(), refused).await;
                false
            }
        }
    }
}

fn is_trusted(trusted_proxies: &[IpNet], ip: IpAddr) -> bool {
    trusted_proxies.iter().any(|n| n.contains(&ip))
}

/// At most `max` holders per address (open connections of a peer, requests in flight of a
/// client). Entries exist only while held, so the table is as large as the proxy's
/// concurrency, never larger.
#[derive(Debug)]
pub struct Slots {
    max: u32,
    exempt: Vec<IpNet>,
    sources: SourceKeys,
    counts: Mutex<HashMap<IpAddr, u32>>,
}

/// Holds one slot until dropped (holds nothing when the address is not limited).
#[derive(Debug)]
pub struct SlotGuard {
    slot: Option<(Arc<Slots>, IpAddr)>,
}

impl Slots {
    /// `max == 0`: no limit. Addresses in `exempt` (trusted proxies) are never limited.
    pub fn new(max: u32, exempt: &[IpNet], sources: SourceKeys) -> Arc<Self> {
        Arc::new(Self {
            max,
            exempt: exempt.to_vec(),
            sources,
            counts: Mutex::default(),
        })
    }

    /// `None`: the address (an IPv6 address's network) already holds `max` slots.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<SlotGuard> {
        if self.max == 0 || is_trusted(&self.exempt, canonical_ip(ip)) {
            return Some(SlotGuard { slot: None });
        }
        let ip = self.sources.of(ip);
        let mut counts = self.counts.lock().expect("not poisoned");
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(SlotGuard {
            slot: Some((self.clone(), ip)),
        })
    }

    pub fn held(&self, ip: IpAddr) -> u32 {
        let counts = self.counts.lock().expect("not poisoned");
        counts.get(&self.sources.of(ip)).copied().unwrap_or(0)
    }
}

impl Drop for SlotGuard {
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

/// Requests in flight in the whole process: beyond `max` the proxy is busy (503).
#[derive(Debug)]
pub struct Busy(Option<Arc<Semaphore>>);

impl Busy {
    /// `max == 0`: no limit.
    pub fn new(max: u32) -> Self {
        Self((max > 0).then(|| Arc::new(Semaphore::new(max as usize))))
    }

    /// `None`: `max` requests are in flight. `Some(None)`: there is no limit.
    pub fn acquire(&self) -> Option<Option<OwnedSemaphorePermit>> {
        match &self.0 {
            None => Some(None),
            Some(semaphore) => semaphore.clone().try_acquire_owned().ok().map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::config::{Period, Rate, TrafficConfig};

    #[test]
    fn slots_are_released() {
        let f = Slots::new(2, &["10.0.0.0/8".parse().unwrap()], SourceKeys::default());
        let ip: IpAddr = "2001:db8::7".parse().unwrap();
        let a = f.acquire(ip).unwrap();
        let b = f.acquire(ip).unwrap();
        assert!(f.acquire(ip).is_none());
        // Another address of the same /64 shares them; the next /64 does not.
        assert!(f.acquire("2001:db8::8".parse().unwrap()).is_none());
        assert_eq!(f.held("2001:db8::ffff".parse().unwrap()), 2);
        assert!(f.acquire("2001:db8:0:1::7".parse().unwrap()).is_some());
        // Another address has its own slots; IPv4-mapped is the IPv4 address.
        let v4 = f.acquire("192.0.2.1".parse().unwrap()).unwrap();
        assert_eq!(f.held("::ffff:192.0.2.1".parse().unwrap()), 1);
        // Trusted proxies are not limited.
        let proxy: IpAddr = "10.1.1.1".parse().unwrap();
        let _proxied: Vec<_> = (0..5).map(|_| f.acquire(proxy).unwrap()).collect();
        drop(a);
        assert!(f.acquire(ip).is_some());
        drop((b, v4));
        assert!(f.counts.lock().unwrap().is_empty());
        let unlimited = Slots::new(0, &[], SourceKeys::default());
        let _guards: Vec<_> = (0..10).map(|_| unlimited.acquire(ip).unwrap()).collect();
        assert_eq!(unlimited.held(ip), 0);
    }

    #[test]
    fn busy_counts_the_whole_process() {
        let busy = Busy::new(1);
        let held = busy.acquire().unwrap();
        assert!(busy.acquire().is_none());
        drop(held);
        assert!(busy.acquire().is_some());
        assert!(Busy::new(0).acquire().unwrap().is_none());
    }

    #[test]
    fn gate_applies_lists_and_accept_rate() {
        let mut cfg = TrafficConfig::default();
        cfg.ip.deny = vec!["203.0.113.0/24".parse().unwrap()];
        cfg.connections.accept_per_ip = Some(Rate::new(1, Period::Minute, 2));
        let filter = Arc::new(IpFilter::new(&cfg, &[]));
        let trusted: IpNet = "10.0.0.0/8".parse().unwrap();
        let metrics = Arc::new(crate::admin::metrics::Metrics::new(&Default::default()).unwrap());
        let refusals = Refusals::new(
            SourceKeys::default(),
            10,
            metrics,
            crate::audit::Audit::disabled(),
        );
        let gate = ConnectionGate::new(&cfg, filter, &[trusted], Arc::new(refusals));
        assert_eq!(
            gate.admits("203.0.113.5".parse().unwrap()),
            Err(Refused::IpList)
        );
        let peer: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(gate.admits(peer).is_ok());
        assert!(gate.admits(peer).is_ok());
        assert_eq!(
            gate.admits(peer),
            Err(Refused::AcceptRate),
            "third connection within the burst of 2"
        );
        assert!(gate.admits("198.51.100.2".parse().unwrap()).is_ok());
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(gate.admits(v6).is_ok() && gate.admits(v6).is_ok());
        assert!(
            gate.admits("2001:db8::2".parse().unwrap()).is_err(),
            "one /64 is one peer"
        );
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(
            (0..5).all(|_| gate.admits(proxy).is_ok()),
            "trusted proxies are not rated"
        );
    }
}
