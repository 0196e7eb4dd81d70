//! Connections the proxy closes without an answer (an answer would cost what the limit is there
//! to spare, or nobody is reading it) are made visible on the proxy's side instead: each one
//! counts in `mimir_proxy_connections_refused_total{reason}`, and the first of each source and
//! reason between two sweeps is logged as a warning and audited. A flood therefore costs at most
//! one log line and one audit record per source, reason and sweep.

use crate::admin::metrics::Metrics;
use crate::audit::{Audit, AuditEvent};
use crate::request::forwarded::canonical_ip;
use crate::traffic::source::SourceKeys;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Why a connection was closed without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refused {
    /// Before the TLS handshake: the global IP lists.
    IpList,
    /// Before the TLS handshake: new connections per peer address.
    AcceptRate,
    /// Accepted: the peer address already holds its open connections.
    OpenConnections,
    /// The TLS handshake not finished within `limits.client_header_timeout_seconds`.
    HandshakeTimeout,
    /// A request head begun but not finished within `limits.client_header_timeout_seconds`.
    HeaderTimeout,
    /// A request head still unfinished past twice `limits.max_header_bytes`.
    HeadTooLarge,
    /// An HTTP/2 connection over its control-frame budget (`h2_control`).
    H2ControlFlood,
}

impl Refused {
    pub fn label(self) -> &'static str {
        match self {
            Self::IpList => "ip_list",
            Self::AcceptRate => "accept_rate",
            Self::OpenConnections => "open_connections",
            Self::HandshakeTimeout => "handshake_timeout",
            Self::HeaderTimeout => "header_timeout",
            Self::HeadTooLarge => "head_too_large",
            Self::H2ControlFlood => "h2_control_flood",
        }
    }

    fn audit_event(self, peer: IpAddr) -> AuditEvent {
        let limit = match self {
            Self::IpList => return AuditEvent::ip_denied(peer),
            Self::AcceptRate => "accept-per-ip",
            Self::OpenConnections => "connections-per-ip",
            Self::HandshakeTimeout => "tls-handshake-timeout",
            Self::HeaderTimeout => "client-header-timeout",
            Self::HeadTooLarge => "max-header-bytes",
            Self::H2ControlFlood => "h2-control-frames",
        };
        AuditEvent::rate_limited(Some(peer), None, limit)
    }
}

pub struct Refusals {
    sources: SourceKeys,
    metrics: Arc<Metrics>,
    audit: Audit,
    /// (source, reason) pairs reported since the last sweep; at most `max_keys`, beyond which
    /// refusals are only counted (a flood from many addresses must not grow it without bound).
    reported: Mutex<HashSet<(IpAddr, Refused)>>,
    max_keys: usize,
}

impl Refusals {
    pub fn new(sources: SourceKeys, max_keys: usize, metrics: Arc<Metrics>, audit: Audit) -> Self {
        Self {
            sources,
            metrics,
            audit,
            reported: Mutex::default(),
            max_keys,
        }
    }

    /// Counts a refusal; the first of its source and reason since the last sweep is logged
    /// and audited.
    pub async fn report(&self, peer: IpAddr, refused: Refused) {
        self.metrics.connection_refused(refused.label());
        let source = self.sources.of(canonical_ip(peer));
        {
            let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
            if reported.len() >= self.max_keys || !reported.insert((source, refused)) {
                return;
            }
        }
        tracing::warn!(
            peer = %peer,
            reason = refused.label(),
            "connections closed without an answer (logged once per source and reason until the next sweep)"
        );
        if self.audit.record(refused.audit_event(peer)).await.is_err() {
            tracing::error!(peer = %peer, "audit log unavailable: refused connection not recorded");
        }
    }

    /// Starts a new reporting window.
    pub fn sweep(&self) {
        self.reported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    #[cfg(test)]
    fn reported(&self) -> usize {
        self.reported.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_each_source_and_reason_once_per_sweep() {
        let metrics = Arc::new(Metrics::new(&Default::default()).unwrap());
        let refusals = Refusals::new(SourceKeys::default(), 3, metrics.clone(), Audit::disabled());
        let peer: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..5 {
            refusals.report(peer, Refused::HeaderTimeout).await;
        }
        refusals.report(peer, Refused::AcceptRate).await;
        // An IPv6 peer's network is its source.
        refusals
            .report("2001:db8::1".parse().unwrap(), Refused::AcceptRate)
            .await;
        refusals
            .report("2001:db8::2".parse().unwrap(), Refused::AcceptRate)
            .await;
        assert_eq!(refusals.reported(), 3);
        // Full: counted, not remembered.
        refusals
            .report("192.0.2.9".parse().unwrap(), Refused::OpenConnections)
            .await;
        assert_eq!(refusals.reported(), 3);
        let text = String::from_utf8(metrics.render()).unwrap();
        assert!(
            text.contains(r#"mimir_proxy_connections_refused_total{reason="header_timeout"} 5"#),
            "{text}"
        );
        assert!(text.contains(r#"{reason="accept_rate"} 3"#), "{text}");
        assert!(text.contains(r#"{reason="open_connections"} 1"#), "{text}");
        refusals.sweep();
        assert_eq!(refusals.reported(), 0);
    }
}
