//! Brute-force protection: failed logins and failed API-key attempts are counted per client IP
//! and, separately, per user name. More than `max_failures` within `window_seconds` blocks that
//! IP (or that user name, from every IP) for `block_seconds` and raises one alert.
//!
//! Counting is a GCRA bucket of `max_failures` that refills one failure per window, so any
//! `max_failures + 1` failures inside one window always block (slower guessing that never lets
//! the bucket refill blocks too). Blocking a user name from every address is what stops a
//! distributed guesser; its cost is that anyone can lock an account out for `block_seconds` by
//! failing on purpose — the per-IP block limits how often one address can do that.
//!
//! Use: [`BruteForce::check`] before verifying a credential (refuse with
//! [`Blocked::response`]); [`BruteForce::record_failure`] after a failed verification.

use super::config::BruteForceConfig;
use super::local::{Bucket, Outcome};
use crate::errors::json_error;
use bytes::Bytes;
use governor::clock::{Clock, DefaultClock, Reference};
use governor::Quota;
use pingora::http::ResponseHeader;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest user name kept as a key; longer names are cut (on a character boundary).
const MAX_USER_KEY: usize = 256;
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

/// What is blocked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Ip(IpAddr),
    /// Normalized: trimmed, lowercase, cut to 256 bytes.
    User(Box<str>),
}

/// Raised once when a target becomes blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub target: Target,
    pub credential: Credential,
    /// The address of the failure that crossed the threshold.
    pub ip: IpAddr,
    /// The user name it tried, as normalized.
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

/// Refusal of an attempt from a blocked IP or for a blocked user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub target: Target,
    pub retry_after: Duration,
}

impl Blocked {
    /// 429 with `Retry-After`. The message does not say whether the IP or the name is blocked.
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
    ips: Bucket<IpAddr, C>,
    users: Bucket<Box<str>, C>,
    /// Target → end of the block, in nanoseconds since `start`. Bounded: the least useful
    /// entries are evicted first when a flood of targets fills it.
    blocked: quick_cache::sync::Cache<Target, u64>,
    clock: C,
    start: C::Instant,
    /// When the counters were last swept, in nanoseconds since `start`.
    swept: AtomicU64,
    cfg: BruteForceConfig,
    sink: Arc<dyn AlertSink>,
}

pub fn normalize_user(name: &str) -> Box<str> {
    let name = name.trim().to_lowercase();
    let mut end = name.len().min(MAX_USER_KEY);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].into()
}

impl BruteForce<DefaultClock> {
    pub fn new(cfg: &BruteForceConfig, max_keys: usize, sink: Arc<dyn AlertSink>) -> Self {
        Self::with_clock(cfg, max_keys, sink, DefaultClock::default())
    }
}

impl<C: Clock + Clone> BruteForce<C> {
    /// `cfg` is validated (`config::validate`): no zero values.
    pub fn with_clock(
        cfg: &BruteForceConfig,
        max_keys: usize,
        sink: Arc<dyn AlertSink>,
        clock: C,
    ) -> Self {
        let burst = NonZeroU32::new(cfg.max_failures).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(Duration::from_secs(cfg.window_seconds.max(1)))
            .expect("window is not zero")
            .allow_burst(burst);
        Self {
            ips: Bucket::new(quota, max_keys, clock.clone()),
            users: Bucket::new(quota, max_keys, clock.clone()),
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

    /// Before verifying a credential: is the IP or the user name blocked?
    pub fn check(&self, ip: IpAddr, username: Option<&str>) -> Result<(), Blocked> {
        let now = self.now();
        let targets = std::iter::once(Target::Ip(ip))
            .chain(username.map(|u| Target::User(normalize_user(u))));
        for target in targets {
            if let Some(until) = self.blocked.get(&target) {
                if until > now {
                    return Err(Blocked {
                        target,
                        retry_after: Duration::from_nanos(until - now),
                    });
                }
                self.blocked.remove(&target);
            }
        }
        Ok(())
    }

    /// Drops failure counters that are back to zero ([`Self::record_failure`] calls it every
    /// [`SWEEP_EVERY`]).
    pub fn sweep(&self) {
        self.ips.sweep();
        self.users.sweep();
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

    /// After a failed verification. Blocks and alerts when the threshold is crossed.
    pub async fn record_failure(&self, ip: IpAddr, username: Option<&str>, credential: Credential) {
        self.sweep_if_due(self.now());
        let user = username.map(normalize_user);
        let mut crossed = Vec::new();
        if matches!(self.ips.check(&ip), Outcome::Denied { .. }) {
            crossed.push(Target::Ip(ip));
        }
        if let Some(user) = &user {
            if matches!(self.users.check(user), Outcome::Denied { .. }) {
                crossed.push(Target::User(user.clone()));
            }
        }
        let block = Duration::from_secs(self.cfg.block_seconds);
        let until = self.now() + block.as_nanos() as u64;
        for target in crossed {
            let already = self.blocked.get(&target).is_some_and(|u| u > self.now());
            self.blocked.insert(target.clone(), until);
            if !already {
                self.sink
                    .alert(Alert {
                        target,
                        credential,
                        ip,
                        username: user.clone(),
                        max_failures: self.cfg.max_failures,
                        window: Duration::from_secs(self.cfg.window_seconds),
                        blocked_for: block,
                    })
                    .await;
            }
        }
    }
}
