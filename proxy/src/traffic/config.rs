//! `[traffic]` in the policy file: rate limits, route groups, IP allow/deny lists, per-IP
//! connection limits, brute-force protection and the optional Redis backend.
//! Documented in docs/traffic-controls.md; the defaults follow the deployment guide's nginx
//! example (100/min API, 200/min MCP, 10/s health, burst 20).

use crate::request::matcher::Pattern;
use governor::Quota;
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroU32;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficConfig {
    /// Rate limits on or off (IP rules, connection and brute-force limits stay on).
    pub rate_limits: bool,
    /// Every request from one client IP, checked before authentication.
    pub per_ip: Option<Rate>,
    /// Every request of one authenticated user, whatever the route.
    pub per_user: Option<Rate>,
    /// Every request made with one API key, whatever the route.
    pub per_api_key: Option<Rate>,
    /// Route groups; the first group with a matching pattern applies.
    pub groups: Vec<RouteGroup>,
    pub mcp_tools: ToolLimits,
    pub ip: IpRules,
    pub connections: ConnectionLimits,
    pub bruteforce: BruteForceConfig,
    pub redis: RedisConfig,
    /// Most keys one limit tracks in memory; beyond it new keys share one overflow bucket.
    pub max_keys: usize,
    /// How often idle keys (whose bucket is full again) are dropped.
    pub sweep_seconds: u64,
    /// IPv6 clients are counted per network of this many bits (`source::SourceKeys`).
    pub ipv6_prefix: u8,
}

/// A GCRA rate: `requests` per `per` on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub requests: NonZeroU32,
    pub per: Period,
    pub burst: NonZeroU32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Second,
    Minute,
    Hour,
}

impl Period {
    pub fn seconds(self) -> u64 {
        match self {
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3600,
        }
    }
}

impl Rate {
    pub const fn new(requests: u32, per: Period, burst: u32) -> Self {
        match (NonZeroU32::new(requests), NonZeroU32::new(burst)) {
            (Some(requests), Some(burst)) => Self {
                requests,
                per,
                burst,
            },
            _ => panic!("rates are not zero"),
        }
    }

    /// Time one request "costs": the bucket refills one request per interval.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.per.seconds()) / self.requests.get()
    }

    pub fn quota(&self) -> Quota {
        Quota::with_period(self.interval())
            .expect("interval is not zero")
            .allow_burst(self.burst)
    }
}

/// What to do with a request when the shared (Redis) budget cannot be consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Let it through unlimited.
    Open,
    /// Enforce the limit per replica, in memory.
    Local,
    /// Refuse it (503).
    Closed,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteGroup {
    /// `[a-z0-9_-]`, used in headers, metrics and Redis keys.
    pub name: String,
    /// Patterns as in authz route rules: literal segments, `*` for one segment, `**` last.
    pub paths: Vec<String>,
    /// Per caller (API key, else user, else client IP).
    #[serde(default)]
    pub limit: Option<Rate>,
    /// Body limit for this group; the global `limits.max_body_bytes` still applies.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// When non-empty, only these client networks may use the group.
    #[serde(default)]
    pub allow: Vec<IpNet>,
    #[serde(default)]
    pub deny: Vec<IpNet>,
    /// Overrides `redis.on_error` for this group.
    #[serde(default)]
    pub on_redis_error: Option<OnError>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolLimits {
    /// Per caller and tool, for tools not listed in `tools`.
    pub default: Option<Rate>,
    /// Per caller, by tool name.
    pub tools: BTreeMap<String, Rate>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpRules {
    /// When non-empty, only these client networks are served.
    pub allow: Vec<IpNet>,
    /// Never served; deny wins over allow.
    pub deny: Vec<IpNet>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// New TCP connections from one peer address (checked before the TLS handshake).
    pub accept_per_ip: Option<Rate>,
    /// Open connections from one peer address (from the accept); 0 means no limit.
    pub max_per_ip: u32,
    /// Requests in flight at once from one client IP (429 beyond); 0 means no limit.
    pub max_in_flight_per_ip: u32,
    /// Requests in flight at once in the whole process (503 beyond); 0 means no limit.
    pub max_in_flight: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BruteForceConfig {
    /// More failed logins / API-key attempts than this within `window_seconds` blocks the
    /// IP (and, separately, the user name) for `block_seconds`.
    pub max_failures: u32,
    pub window_seconds: u64,
    pub block_seconds: u64,
    /// Also count refused bearer tokens and session cookies (per IP). Off by default: a
    /// signed token cannot be guessed, and clients behind one address retrying an expired
    /// token would lock each other out.
    pub count_tokens: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://host:port/db` (or `rediss://`); empty keeps all limits in memory.
    pub url: String,
    pub key_prefix: String,
    /// Bound on one round trip (connect included).
    pub timeout_ms: u64,
    /// After a failure, Redis is left alone this long and `on_error` applies meanwhile.
    pub retry_ms: u64,
    /// Default for groups without `on_redis_error`; the built-in `auth` group fails closed.
    pub on_error: OnError,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        let group = |name: &str, paths: &[&str], limit| RouteGroup {
            name: name.into(),
            paths: paths.iter().map(|p| (*p).into()).collect(),
            limit: Some(limit),
            max_body_bytes: None,
            allow: Vec::new(),
            deny: Vec::new(),
            on_redis_error: None,
        };
        Self {
            rate_limits: true,
            per_ip: Some(Rate::new(1000, Period::Minute, 200)),
            per_user: None,
            per_api_key: None,
            groups: vec![
                group(
                    "health",
                    &["/health", "/healthz", "/api/health"],
                    Rate::new(10, Period::Second, 20),
                ),
                RouteGroup {
                    on_redis_error: Some(OnError::Closed),
                    ..group(
                        "auth",
                        &["/auth/**", "/login", "/logout", "/oauth/**"],
                        Rate::new(20, Period::Minute, 10),
                    )
                },
                RouteGroup {
                    max_body_bytes: Some(1024 * 1024),
                    ..group("mcp", &["/mcp/**"], Rate::new(200, Period::Minute, 20))
                },
                group("api", &["/api/**"], Rate::new(100, Period::Minute, 20)),
            ],
            mcp_tools: ToolLimits::default(),
            ip: IpRules::default(),
            connections: ConnectionLimits::default(),
            bruteforce: BruteForceConfig::default(),
            redis: RedisConfig::default(),
            max_keys: 100_000,
            sweep_seconds: 10,
            ipv6_prefix: super::source::DEFAULT_IPV6_PREFIX,
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            // Above the per-IP request rate: one request per connection meets the 429 first.
            accept_per_ip: Some(Rate::new(1200, Period::Minute, 250)),
            max_per_ip: 256,
            max_in_flight_per_ip: 256,
            max_in_flight: 10_000,
        }
    }
}

impl Default for BruteForceConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window_seconds: 60,
            block_seconds: 300,
            count_tokens: false,
        }
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            key_prefix: "mimir:rl:".into(),
            timeout_ms: 100,
            retry_ms: 1000,
            on_error: OnError::Local,
        }
    }
}

/// Names used in headers and Redis keys.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}

/// MCP tool names as the MCP specification allows them.
fn is_tool_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `(field, message)` for every problem; the config loader adds where the value came from.
pub fn validate(cfg: &TrafficConfig) -> Vec<(String, String)> {
    let mut issues = Vec::new();
    let mut fail = |field: String, message: String| issues.push((field, message));
    if cfg.max_keys == 0 {
        fail("traffic.max_keys".into(), "must be greater than 0".into());
    }
    if cfg.sweep_seconds == 0 {
        fail(
            "traffic.sweep_seconds".into(),
            "must be greater than 0".into(),
        );
    }
    if !(1..=128).contains(&cfg.ipv6_prefix) {
        fail(
            "traffic.ipv6_prefix".into(),
            format!("{}: must be between 1 and 128", cfg.ipv6_prefix),
        );
    }
    let mut seen = HashSet::new();
    for (i, g) in cfg.groups.iter().enumerate() {
        let at = |f: &str| format!("traffic.groups[{i}].{f}");
        if !is_name(&g.name) {
            fail(at("name"), format!("{:?}: use 1-64 of [a-z0-9_-]", g.name));
        } else if !seen.insert(g.name.as_str()) {
            fail(at("name"), format!("{:?} is already a group", g.name));
        }
        if g.paths.is_empty() {
            fail(at("paths"), "lists no path pattern".into());
        }
        for (j, p) in g.paths.iter().enumerate() {
            if let Err(e) = Pattern::parse(p) {
                fail(format!("traffic.groups[{i}].paths[{j}]"), e);
            }
        }
        if g.max_body_bytes == Some(0) {
            fail(at("max_body_bytes"), "must be greater than 0".into());
        }
        mapped_nets(&g.allow, &at("allow"), &mut fail);
        mapped_nets(&g.deny, &at("deny"), &mut fail);
    }
    for name in cfg.mcp_tools.tools.keys() {
        if !is_tool_name(name) {
            fail(
                format!("traffic.mcp_tools.tools.{name}"),
                "tool names are 1-128 of [A-Za-z0-9_.-]".into(),
            );
        }
    }
    mapped_nets(&cfg.ip.allow, "traffic.ip.allow", &mut fail);
    mapped_nets(&cfg.ip.deny, "traffic.ip.deny", &mut fail);
    let b = &cfg.bruteforce;
    for (field, value) in [
        ("max_failures", u64::from(b.max_failures)),
        ("window_seconds", b.window_seconds),
        ("block_seconds", b.block_seconds),
    ] {
        if value == 0 {
            fail(
                format!("traffic.bruteforce.{field}"),
                "must be greater than 0".into(),
            );
        }
    }
    let r = &cfg.redis;
    if !r.url.is_empty() {
        // The URL can carry a password: the message never repeats the value.
        if redis::Client::open(r.url.as_str()).is_err() {
            fail(
                "traffic.redis.url".into(),
                "not a Redis URL (redis://[user:password@]host:port/db or rediss://…)".into(),
            );
        }
    }
    if r.timeout_ms == 0 {
        fail(
            "traffic.redis.timeout_ms".into(),
            "must be greater than 0".into(),
        );
    }
    if r.key_prefix.is_empty() {
        fail(
            "traffic.redis.key_prefix".into(),
            "must not be empty".into(),
        );
    }
    issues
}

/// `::ffff:a.b.c.d` rules would never match: client addresses are compared in IPv4 form.
fn mapped_nets(nets: &[IpNet], field: &str, fail: &mut impl FnMut(String, String)) {
    for (i, net) in nets.iter().enumerate() {
        if let IpNet::V6(v6) = net {
            if v6.addr().to_ipv4_mapped().is_some() && v6.prefix_len() >= 96 {
                fail(
                    format!("{field}[{i}]"),
                    format!("{net} is IPv4-mapped; write the IPv4 network instead"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(validate(&TrafficConfig::default()).is_empty());
        let r = Rate::new(100, Period::Minute, 20);
        assert_eq!(r.interval(), Duration::from_millis(600));
        assert_eq!(r.quota().burst_size().get(), 20);
    }

    #[test]
    fn problems_are_named() {
        let mut cfg = TrafficConfig::default();
        cfg.groups[1].name = "mcp".into();
        cfg.groups[0].paths.push("/api//x".into());
        cfg.ip.deny.push("::ffff:10.0.0.0/104".parse().unwrap());
        cfg.redis.url = "ftp://nope".into();
        cfg.ipv6_prefix = 129;
        cfg.mcp_tools
            .tools
            .insert("bad tool".into(), Rate::new(1, Period::Second, 1));
        let fields: Vec<String> = validate(&cfg).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "traffic.ipv6_prefix",
                "traffic.groups[0].paths[3]",
                "traffic.groups[2].name",
                "traffic.mcp_tools.tools.bad tool",
                "traffic.ip.deny[0]",
                "traffic.redis.url",
            ]
        );
    }
}
