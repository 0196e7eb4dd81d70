//! Brute-force protection: failed logins and failed API-key attempts are counted per client
//! source — the IP address, an IPv6 address by its network ([`SourceKeys`]). More than
//! `max_failures` within `window_seconds` blocks that source for `block_seconds` and raises one
//! alert.
//!
//! Counting is a GCRA bucket of `max_failures` that refills one failure per window, so any
//! `max_failures + 1` failures inside one window always block (slower guessing that never lets
//! the bucket refill blocks too). Nothing is counted or blocked per user name or API key id:
//! neither is secret, so such a block would let anyone lock a user or an agent's key out from
//! every address by failing on purpose. Guessing one secret, or many names, from one source is
//! stopped by that source's block; a guesser spread over many sources gets `max_failures` tries
//! per source and window.
//!
//! Use: [`BruteForce::check`] before verifying a credential (refuse with
//! [`Blocked::response`]); [`BruteForce::record_failure`] after a failed verification.

use super::config::BruteForceConfig;
use super::local::{Bucket, Outcome};
use super::source::SourceKeys;
use crate::reply::errors::json_error;
use bytes::Bytes;
use governor::clock::{Clock, DefaultClock, Reference};
use governor::Quota;
use pingora::http::ResponseHeader;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often recording a failure also drops the counters that are back to zero.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Password,
    ApiKey,
    /// A bearer token or a session cookie (counted only with `count_tokens`).
    Token,
}

impl Credential {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::ApiKey => "api_key",
            Self::Token => "token",
        }
    }
}

/// Raised once when a source becomes blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub credential: Credential,
    /// The address of the failure that crossed the threshold (an IPv6 block covers its
    /// network, [`SourceKeys`]).
    pub ip: IpAddr,
    /// The user name or key id it tried.
    pub username: Option<Box<str>>,
    pub max_failures: u32,
    pub window: Duration,
    pub blocked_for: Duration,
}

/// Where alerts go: the gateway adapts this to the audit log (and metrics).
#[async_trait::async_trait]
pub trait AlertSink: Send + Sync {
    async fn alert(&self, alert: Alert);
}

/// Refusal of an attempt from a blocked source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub retry_after: Duration,
}

impl Blocked {
    /// 429 with `Retry-After`.
    pub fn response(&self, request_id: &str) -> pingora::Result<(ResponseHeader, Bytes)> {
        let (mut resp, body) = json_error(
            429,
            "too many failed authentication attempts; retry later",
            request_id,
        )?;
        resp.insert_header("retry-after", self.retry_after_secs())?;
        Ok((resp, body))
    }

    /// `Retry-After` in whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        secs.max(1)
    }
}

pub struct BruteForce<C: Clock + Clone = DefaultClock> {
    sources: SourceKeys,
    /// Failures per source.
    failures: Bucket<IpAddr, C>,
    /// Source → end of the block, in nanoseconds since `start`. Bounded: the least useful
    /// entries are evicted first when a flood of sources fills it.
    blocked: quick_cache::sync::Cache<IpAddr, u64>,
    clock: C,
    start: C::Instant,
    /// When the counters were last swept, in nanoseconds since `start`.
    swept: AtomicU64,
    cfg: BruteForceConfig,
    sink: Arc<dyn AlertSink>,
}

impl BruteForce<DefaultClock> {
    pub fn new(
        cfg: &BruteForceConfig,
        max_keys: usize,
        sources: SourceKeys,
        sink: Arc<dyn AlertSink>,
    ) -> Self {
        Self::with_clock(cfg, max_keys, sources, sink, DefaultClock::default())
    }
}

impl<C: Clock + Clone> BruteForce<C> {
    /// `cfg` is validated (`config::validate`): no zero values.
    pub fn with_clock(
        cfg: &BruteForceConfig,
        max_keys: usize,
        sources: SourceKeys,
        sink: Arc<dyn AlertSink>,
        clock: C,
    ) -> Self {
        let burst = NonZeroU32::new(cfg.max_failures).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(Duration::from_secs(cfg.window_seconds.max(1)))
            .expect("window is not zero")
            .allow_burst(burst);
        Self {
            sources,
            failures: Bucket::new(quota, max_keys, clock.clone()),
            blocked: quick_cache::sync::Cache::new(max_keys.max(1)),
            start: clock.now(),
            swept: AtomicU64::new(0),
            clock,
            cfg: cfg.clone(),
            sink,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now().duration_since(self.start).as_u64()
    }

    /// Before verifying a credential: is the client's source blocked?
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        let now = self.now();
        let source = self.sources.of(ip);
        if let Some(until) = self.blocked.get(&source) {
            if until > now {
                return Err(Blocked {
                    retry_after: Duration::from_nanos(until - now),
                });
            }
            self.blocked.remove(&source);
        }
        Ok(())
    }

    /// Drops failure counters that are back to zero ([`Self::record_failure`] calls it every
    /// [`SWEEP_EVERY`]).
    pub fn sweep(&self) {
        self.failures.sweep();
    }

    fn sweep_if_due(&self, now: u64) {
        let last = self.swept.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= SWEEP_EVERY.as_nanos() as u64
            && self
                .swept
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.sweep();
        }
    }

    /// After a failed verification (`username`: the name or key id tried, for the alert).
    /// Blocks the source and alerts when the threshold is crossed.
    pub async fn record_failure(&self, ip: IpAddr, username: Option<&str>, credential: Credential) {
        self.sweep_if_due(self.now());
        let source = self.sources.of(ip);
        if !matches!(self.failures.check(&source), Outcome::Denied { .. }) {
            return;
        }
        let block = Duration::from_secs(self.cfg.block_seconds);
        let now = self.now();
        let already = self.blocked.get(&source).is_some_and(|u| u > now);
        self.blocked.insert(source, now + block.as_nanos() as u64);
        if !already {
            self.sink
                .alert(Alert {
                    credential,
                    ip,
                    username: username.map(Into::into),
                    max_failures: self.cfg.max_failures,
                    window: Duration::from_secs(self.cfg.window_seconds),
                    blocked_for: block,
                })
                .await;
        }
    }
}
