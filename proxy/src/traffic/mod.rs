//! Traffic controls: rate limits (GCRA) per client IP, per user, per API key, per route group
//! and per MCP tool, in memory (governor) or shared by all replicas in Redis; IP allow/deny lists
//! ([`ipfilter`]); connection and in-flight limits ([`connlimit`]) and the reporting of the
//! connections they close ([`refusals`]); HTTP/2 control-frame budgets ([`h2_control`]);
//! brute-force blocks
//! ([`bruteforce`]). See docs/traffic-controls.md.
//!
//! The gateway calls [`Limiter::check_ip`] before authentication (a flood of bad credentials
//! never reaches the verifiers) and [`Limiter::check`] once the caller and, for MCP, the tools
//! are known. An `Err` is answered with [`Limited::response`]; an `Ok(Some(a))` adds
//! [`Allowance::headers`] to the response.
//!
//! Several limits can apply to one request. In memory they are charged one after the other, so
//! a refusal by a later limit leaves the earlier ones charged; in Redis all are checked first
//! and charged only if every one has room. A tool's limit is charged once per call, so an MCP
//! batch calling a tool N times costs N at once, in both backends: all N or nothing.
//!
//! Uses `request` (client addresses, route patterns, MCP tools) and `reply`; never `config`:
//! `config` gathers `[traffic]` from here.

pub mod bruteforce;
pub mod config;
pub mod connlimit;
pub mod groups;
pub mod h2_control;
pub mod headers;
pub mod ipfilter;
pub mod local;
pub mod redis;
pub mod refusals;
pub mod source;

use config::{OnError, Rate, TrafficConfig};
use governor::clock::{Clock, DefaultClock};
use groups::{GroupId, RouteGroups};
use local::{Bucket, Outcome};
use source::SourceKeys;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// One configured limit, as advertised in `RateLimit-Policy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSpec {
    /// `ip`, `user`, `api-key`, `group-<name>`, `tool-<name>` or `tool-default`.
    pub name: String,
    pub rate: Rate,
    pub on_error: OnError,
    /// The `RateLimit-Policy` value, the same on every response: built once.
    policy: http::HeaderValue,
}

impl LimitSpec {
    pub fn new(name: String, rate: Rate, on_error: OnError) -> Result<Self, String> {
        let policy = headers::policy_value(&name, &rate)
            .try_into()
            .map_err(|_| format!("rate limit name {name:?} cannot be sent in a header"))?;
        Ok(Self {
            name,
            rate,
            on_error,
            policy,
        })
    }

    pub fn policy(&self) -> &http::HeaderValue {
        &self.policy
    }
}

/// Who is counted. Route-group and tool limits count the most specific identity known.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    ApiKey(Box<str>),
    User(Box<str>),
    Ip(IpAddr),
}

/// A bucket key: the caller, and for per-tool limits the tool.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    caller: Caller,
    tool: Option<Box<str>>,
}

impl Key {
    /// An unambiguous byte form (each part length-prefixed), hashed into Redis key names.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let mut part = |tag: &str, value: &[u8]| {
            out.extend_from_slice(format!("{tag}{}:", value.len()).as_bytes());
            out.extend_from_slice(value);
        };
        match &self.caller {
            Caller::ApiKey(id) => part("k", id.as_bytes()),
            Caller::User(id) => part("u", id.as_bytes()),
            Caller::Ip(ip) => part("i", ip.to_string().as_bytes()),
        }
        if let Some(tool) = &self.tool {
            part("t", tool.as_bytes());
        }
        out
    }
}

/// What is known about a request after authentication (and MCP body parsing).
#[derive(Debug, Clone, Copy)]
pub struct LimitKeys<'a> {
    /// The client IP as `forwarded::client_chain` resolved it.
    pub ip: IpAddr,
    pub user: Option<&'a str>,
    /// The API key's public identifier (never the secret).
    pub api_key: Option<&'a str>,
    pub group: Option<GroupId>,
    /// The tool of every `tools/call` message: a batch calling a tool three times names it
    /// three times.
    pub tools: &'a [&'a str],
}

impl LimitKeys<'_> {
    fn caller(&self, sources: SourceKeys) -> Caller {
        match (self.api_key, self.user) {
            (Some(k), _) => Caller::ApiKey(k.into()),
            (None, Some(u)) => Caller::User(u.into()),
            (None, None) => Caller::Ip(sources.of(self.ip)),
        }
    }
}

/// Let through; the tightest of the limits that applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    pub spec: Arc<LimitSpec>,
    pub remaining: u32,
    pub reset: Duration,
}

/// Refused, by the limit `spec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub spec: Arc<LimitSpec>,
    /// Zero for [`Cause::OverBurst`].
    pub retry_after: Duration,
    pub cause: Cause,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The limit is used up: 429.
    Exceeded,
    /// The request needs more at once than the limit's burst (a batch calling one tool more
    /// times than that): 429, and waiting will not help.
    OverBurst,
    /// The shared budget could not be consulted and the limit fails closed: 503.
    Unavailable,
}

pub type Decision = Result<Option<Allowance>, Limited>;

/// One bucket a request is charged to: the limit (an index into the specs), the key, and how
/// much (the calls of a tool in an MCP batch; 1 otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Charge {
    id: usize,
    key: Key,
    cost: NonZeroU32,
}

impl Charge {
    fn one(id: usize, key: Key) -> Self {
        Self {
            id,
            key,
            cost: NonZeroU32::MIN,
        }
    }
}

#[derive(Debug, Default)]
struct Ids {
    per_ip: Option<usize>,
    per_user: Option<usize>,
    per_api_key: Option<usize>,
    groups: Vec<Option<usize>>,
    tools: HashMap<String, usize>,
    tool_default: Option<usize>,
}

pub struct Limiter<C: Clock + Clone = DefaultClock> {
    enabled: bool,
    specs: Vec<Arc<LimitSpec>>,
    local: Vec<Bucket<Key, C>>,
    shared: Option<redis::Shared>,
    ids: Ids,
    groups: RouteGroups,
    sources: SourceKeys,
}

impl Limiter<DefaultClock> {
    pub fn new(cfg: &TrafficConfig) -> Result<Self, String> {
        Self::with_clock(cfg, DefaultClock::default())
    }
}

impl<C: Clock + Clone + Send + Sync + 'static> Limiter<C> {
    /// `clock` drives the in-memory limits (tests pass governor's fake clock); Redis uses its
    /// own time so that every replica agrees.
    pub fn with_clock(cfg: &TrafficConfig, clock: C) -> Result<Self, String> {
        let groups = RouteGroups::new(&cfg.groups)?;
        let default_on_error = cfg.redis.on_error;
        let mut specs = Vec::new();
        let mut add = |name: String, rate: Option<Rate>, on_error: Option<OnError>| {
            let Some(rate) = rate else {
                return Ok(None);
            };
            let on_error = on_error.unwrap_or(default_on_error);
            specs.push(Arc::new(LimitSpec::new(name, rate, on_error)?));
            Ok::<_, String>(Some(specs.len() - 1))
        };
        let mut ids = Ids {
            per_ip: add("ip".into(), cfg.per_ip, None)?,
            per_user: add("user".into(), cfg.per_user, None)?,
            per_api_key: add("api-key".into(), cfg.per_api_key, None)?,
            ..Ids::default()
        };
        for (i, g) in cfg.groups.iter().enumerate() {
            let on_error = groups.on_redis_error(GroupId(i));
            ids.groups
                .push(add(format!("group-{}", g.name), g.limit, on_error)?);
        }
        for (tool, rate) in &cfg.mcp_tools.tools {
            if let Some(id) = add(format!("tool-{tool}"), Some(*rate), None)? {
                ids.tools.insert(tool.clone(), id);
            }
        }
        ids.tool_default = add("tool-default".into(), cfg.mcp_tools.default, None)?;
        let local = specs
            .iter()
            .map(|s| Bucket::new(s.rate.quota(), cfg.max_keys, clock.clone()))
            .collect();
        let shared = if cfg.redis.url.is_empty() {
            None
        } else {
            Some(redis::Shared::new(&cfg.redis).map_err(|e| format!("traffic.redis: {e}"))?)
        };
        Ok(Self {
            enabled: cfg.rate_limits,
            specs,
            local,
            shared,
            ids,
            groups,
            sources: SourceKeys::new(cfg.ipv6_prefix),
        })
    }

    pub fn groups(&self) -> &RouteGroups {
        &self.groups
    }

    /// Before authentication: the per-IP limit (an IPv6 client per network, [`SourceKeys`]).
    pub async fn check_ip(&self, ip: IpAddr) -> Decision {
        let Some(id) = self.ids.per_ip else {
            return Ok(None);
        };
        let key = Key {
            caller: Caller::Ip(self.sources.of(ip)),
            tool: None,
        };
        self.run(&[Charge::one(id, key)]).await
    }

    /// After authentication: per API key, per user, the route group's and the tools' limits.
    pub async fn check(&self, keys: &LimitKeys<'_>) -> Decision {
        self.run(&self.checks_for(keys)).await
    }

    fn checks_for(&self, keys: &LimitKeys<'_>) -> Vec<Charge> {
        let mut checks = Vec::with_capacity(3 + keys.tools.len());
        let plain = |caller| Key { caller, tool: None };
        if let (Some(id), Some(k)) = (self.ids.per_api_key, keys.api_key) {
            checks.push(Charge::one(id, plain(Caller::ApiKey(k.into()))));
        }
        if let (Some(id), Some(u)) = (self.ids.per_user, keys.user) {
            checks.push(Charge::one(id, plain(Caller::User(u.into()))));
        }
        let caller = keys.caller(self.sources);
        if let Some(id) = keys.group.and_then(|g| self.ids.groups[g.0]) {
            checks.push(Charge::one(id, plain(caller.clone())));
        }
        let mut calls: BTreeMap<&str, NonZeroU32> = BTreeMap::new();
        for tool in keys.tools {
            calls
                .entry(tool)
                .and_modify(|n| *n = n.saturating_add(1))
                .or_insert(NonZeroU32::MIN);
        }
        for (tool, cost) in calls {
            let id = self.ids.tools.get(tool).copied().or(self.ids.tool_default);
            if let Some(id) = id {
                let key = Key {
                    caller: caller.clone(),
                    tool: Some(tool.into()),
                };
                checks.push(Charge { id, key, cost });
            }
        }
        checks
    }

    async fn run(&self, checks: &[Charge]) -> Decision {
        if !self.enabled || checks.is_empty() {
            return Ok(None);
        }
        // Never allowed, whatever the bucket holds: refused before either backend is charged.
        if let Some(c) = checks.iter().find(|c| c.cost > self.specs[c.id].rate.burst) {
            return Err(Limited {
                spec: self.specs[c.id].clone(),
                retry_after: Duration::ZERO,
                cause: Cause::OverBurst,
            });
        }
        let Some(shared) = &self.shared else {
            return self.run_local(checks);
        };
        let items: Vec<redis::Item> = checks
            .iter()
            .map(|c| (&*self.specs[c.id], &c.key, c.cost))
            .collect();
        match shared.check(&items).await {
            Ok(redis::Answer::Allowed {
                index,
                remaining,
                reset,
            }) => Ok(Some(Allowance {
                spec: self.specs[checks[index].id].clone(),
                remaining,
                reset,
            })),
            Ok(redis::Answer::Denied { index, retry_after }) => Err(Limited {
                spec: self.specs[checks[index].id].clone(),
                retry_after,
                cause: Cause::Exceeded,
            }),
            Err(retry_after) => self.fallback(checks, retry_after),
        }
    }

    /// Redis unavailable: the strictest `on_error` among the limits involved decides.
    fn fallback(&self, checks: &[Charge], retry_after: Duration) -> Decision {
        let (strictest, id) = checks
            .iter()
            .map(|c| (self.specs[c.id].on_error, c.id))
            .max()
            .expect("checks is not empty");
        match strictest {
            OnError::Open => Ok(None),
            OnError::Local => self.run_local(checks),
            OnError::Closed => Err(Limited {
                spec: self.specs[id].clone(),
                retry_after,
                cause: Cause::Unavailable,
            }),
        }
    }

    fn run_local(&self, checks: &[Charge]) -> Decision {
        if !self.enabled {
            return Ok(None);
        }
        let mut tightest: Option<Allowance> = None;
        for Charge { id, key, cost } in checks {
            match self.local[*id].check_n(key, *cost) {
                Outcome::Allowed { remaining, reset } => {
                    if tightest.as_ref().is_none_or(|t| remaining < t.remaining) {
                        tightest = Some(Allowance {
                            spec: self.specs[*id].clone(),
                            remaining,
                            reset,
                        });
                    }
                }
                Outcome::Denied { retry_after } => {
                    return Err(Limited {
                        spec: self.specs[*id].clone(),
                        retry_after,
                        cause: Cause::Exceeded,
                    })
                }
            }
        }
        Ok(tightest)
    }

    /// Drops idle keys from every in-memory limit.
    pub fn sweep(&self) {
        for bucket in &self.local {
            bucket.sweep();
        }
    }

    /// Keys held in memory, over all limits.
    pub fn tracked_keys(&self) -> usize {
        self.local.iter().map(Bucket::len).sum()
    }

    /// Sweeps every `every` on a background thread for as long as the limiter is alive.
    pub fn spawn_sweeper(self: &Arc<Self>, every: Duration) {
        spawn_sweeper(self, every);
    }
}

/// State with idle entries to drop from time to time.
pub trait Sweep: Send + Sync + 'static {
    fn sweep(&self);
}

impl<C: Clock + Clone + Send + Sync + 'static> Sweep for Limiter<C> {
    fn sweep(&self) {
        Limiter::sweep(self);
    }
}

/// Sweeps `target` every `every` on a background thread for as long as it is alive.
pub fn spawn_sweeper<T: Sweep>(target: &Arc<T>, every: Duration) {
    let weak: Weak<T> = Arc::downgrade(target);
    std::thread::Builder::new()
        .name("ratelimit-sweep".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            match weak.upgrade() {
                Some(target) => target.sweep(),
                None => return,
            }
        })
        .expect("spawning the sweeper thread");
}
