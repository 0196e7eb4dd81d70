//! Prometheus metrics of the proxy, served by the admin listener at `/metrics`.
//! Every label has a bounded set of values so a client cannot blow up the series count.
//! The security signals (failed authentications, brute-force blocks, denials, requests per
//! user, response sizes) feed docs/monitoring/alerts.yml and the Grafana dashboard there.
//! Requests per user carry user ids, personal data on an endpoint without authentication: that
//! series exists only with `metrics.user_labels = true`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::RwLock;
use std::time::Duration;

/// Distinct users that get their own `user` series; later ones are counted as `other`.
pub const MAX_USER_SERIES: usize = 500;
/// The `user` label of users beyond [`MAX_USER_SERIES`].
const OTHER_USER: &str = "other";
/// Response size buckets (bytes); 10 MiB is the "large export" line of the alert rules.
const RESPONSE_SIZE_BUCKETS: &[f64] = &[
    1024.0,
    16384.0,
    131072.0,
    1048576.0,
    4194304.0,
    10485760.0,
    67108864.0,
    268435456.0,
    1073741824.0,
];

/// `[metrics]` in the policy file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Export `mimir_proxy_user_requests_total`, labelled with user ids. Off by default.
    pub user_labels: bool,
}

/// Why a request was refused, for `mimir_proxy_denials_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The authorization policy (403).
    Authz,
    /// The IP allow/deny lists (403).
    Ip,
    /// A rate limit (429, or 503 when a shared limit fails closed), or every password check
    /// taken (503).
    RateLimit,
    /// Too many failed authentications from the client's address (429).
    BruteForce,
}

impl Denial {
    fn label(self) -> &'static str {
        match self {
            Self::Authz => "authz",
            Self::Ip => "ip",
            Self::RateLimit => "rate_limit",
            Self::BruteForce => "bruteforce",
        }
    }
}

/// First path segments that get their own `route` label; everything else is `other`.
const ROUTE_GROUPS: &[&str] = &[
    "mcp",
    "api",
    "health",
    ".well-known",
    "login",
    "logout",
    "oauth",
    "auth",
];

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    upstream_errors: IntCounterVec,
    tls_reloads: IntCounterVec,
    auth_failures: IntCounterVec,
    bruteforce_blocks: IntCounterVec,
    denials: IntCounterVec,
    connections_refused: IntCounterVec,
    shadow_mismatches: IntCounterVec,
    /// Only with `metrics.user_labels`.
    user_requests: Option<UserSeries>,
    response_bytes: HistogramVec,
}

/// Authenticated requests per user id.
struct UserSeries {
    counter: IntCounterVec,
    /// Users that have their own `user` series (at most [`MAX_USER_SERIES`]).
    users: RwLock<HashSet<String>>,
}

impl UserSeries {
    fn new() -> prometheus::Result<Self> {
        let counter = IntCounterVec::new(
            Opts::new(
                "mimir_proxy_user_requests_total",
                "Authenticated requests by user (the first 500 users seen; later ones as user=\"other\")",
            ),
            &["user"],
        )?;
        Ok(Self {
            counter,
            users: RwLock::new(HashSet::new()),
        })
    }

    fn inc(&self, user: &str) {
        let label = self.label(user);
        self.counter.with_label_values(&[label.as_str()]).inc();
    }

    /// The user's own label while fewer than [`MAX_USER_SERIES`] users have one.
    fn label(&self, user: &str) -> String {
        let known = |users: &HashSet<String>| users.contains(user);
        if known(&self.users.read().unwrap_or_else(|e| e.into_inner())) {
            return user.to_owned();
        }
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        if known(&users) || users.len() < MAX_USER_SERIES {
            users.insert(user.to_owned());
            return user.to_owned();
        }
        OTHER_USER.to_owned()
    }
}

impl Metrics {
    pub fn new(cfg: &MetricsConfig) -> anyhow::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "mimir_proxy_requests_total",
                "Requests answered, by status code and route group",
            ),
            &["status", "route"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "mimir_proxy_request_duration_seconds",
                "Time from request header to the end of the response, by route group",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ]),
            &["route"],
        )?;
        let upstream_errors = IntCounterVec::new(
            Opts::new(
                "mimir_proxy_upstream_errors_total",
                "Failures talking to the upstream, by kind",
            ),
            &["kind"],
        )?;
        let tls_reloads = IntCounterVec::new(
            Opts::new(
                "mimir_proxy_tls_reloads_total",
                "Certificate reload attempts, by result",
            ),
            &["result"],
        )?;
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "mimir_proxy_auth_failures_total",
                "Refused credentials and failed logins, by method (password, api_key, jwt, session)",
            ),
            &["method"],
        )?;
        let bruteforce_blocks = IntCounterVec::new(
            Opts::new(
                "mimir_proxy_bruteforce_blocks_total",
                "Client addresses (target=ip; IPv6 by network) blocked after too many failed authentications",
            ),
            &["target"],
        )?;
        let denials = IntCounterVec::new(
            Opts::new(
                "mimir_proxy_denials_total",
                "Requests refused, by reason (authz, ip, rate_limit, bruteforce)",
            ),
            &["reason"],
        )?;
        let connections_refused = IntCounterVec::new(
            Opts::new(
                "mimir_proxy_connections_refused_total",
                "Connections closed without an answer, by reason (ip_list, accept_rate, open_connections, handshake_timeout, header_timeout, head_too_large, h2_control_flood)",
            ),
            &["reason"],
        )?;
        let shadow_mismatches = IntCounterVec::new(
            Opts::new(
                "mimir_proxy_policy_shadow_mismatches_total",
                "Requests the shadow policy decided otherwise than the enforced one, by the enforced decision (live=allow|deny)",
            ),
            &["live"],
        )?;
        let user_requests = cfg.user_labels.then(UserSeries::new).transpose()?;
        let response_bytes = HistogramVec::new(
            HistogramOpts::new(
                "mimir_proxy_response_bytes",
                "Response body bytes received from the upstream, by route group",
            )
            .buckets(RESPONSE_SIZE_BUCKETS.to_vec()),
            &["route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(upstream_errors.clone()))?;
        registry.register(Box::new(tls_reloads.clone()))?;
        registry.register(Box::new(auth_failures.clone()))?;
        registry.register(Box::new(bruteforce_blocks.clone()))?;
        registry.register(Box::new(denials.clone()))?;
        registry.register(Box::new(connections_refused.clone()))?;
        registry.register(Box::new(shadow_mismatches.clone()))?;
        if let Some(series) = &user_requests {
            registry.register(Box::new(series.counter.clone()))?;
        }
        registry.register(Box::new(response_bytes.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            upstream_errors,
            tls_reloads,
            auth_failures,
            bruteforce_blocks,
            denials,
            connections_refused,
            shadow_mismatches,
            user_requests,
            response_bytes,
        })
    }

    /// A refused credential or failed login; `method` is one of a fixed set.
    pub fn auth_failure(&self, method: &'static str) {
        self.auth_failures.with_label_values(&[method]).inc();
    }

    /// `target` is `ip` or `user`.
    pub fn bruteforce_block(&self, target: &'static str) {
        self.bruteforce_blocks.with_label_values(&[target]).inc();
    }

    /// A connection closed without an answer; `reason` is a [`Refused`](crate::traffic::refusals::Refused) label.
    pub fn connection_refused(&self, reason: &'static str) {
        self.connections_refused.with_label_values(&[reason]).inc();
    }

    pub fn denied(&self, why: Denial) {
        self.denials.with_label_values(&[why.label()]).inc();
    }

    /// The shadow policy disagreed with the live decision (`live_allowed`), which was enforced.
    pub fn policy_shadow_mismatch(&self, live_allowed: bool) {
        let live = if live_allowed { "allow" } else { "deny" };
        self.shadow_mismatches.with_label_values(&[live]).inc();
    }

    /// An authenticated request, and the size of the response body it got (`None` when the
    /// proxy answered itself).
    pub fn observe_caller(&self, route: &str, user: Option<&str>, response_bytes: Option<u64>) {
        if let (Some(series), Some(user)) = (&self.user_requests, user) {
            series.inc(user);
        }
        if let Some(bytes) = response_bytes {
            self.response_bytes
                .with_label_values(&[route])
                .observe(bytes as f64);
        }
    }

    pub fn observe_request(&self, route: &str, status: u16, elapsed: Duration) {
        // Status codes are bounded by HTTP (100-999, or 0 when no response was sent).
        self.requests
            .with_label_values(&[status.to_string().as_str(), route])
            .inc();
        self.latency
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }

    /// `kind` is one of a fixed set chosen by the caller (`connect`, `timeout`, ...).
    pub fn upstream_error(&self, kind: &'static str) {
        self.upstream_errors.with_label_values(&[kind]).inc();
    }

    pub fn tls_reload(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.tls_reloads.with_label_values(&[result]).inc();
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// The `route` label: the first path segment when it is a known group, else `other`.
pub fn route_group(path: &str) -> &'static str {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if first.is_empty() {
        return "root";
    }
    ROUTE_GROUPS
        .iter()
        .find(|group| **group == first)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_groups_are_bounded() {
        assert_eq!(route_group("/mcp"), "mcp");
        assert_eq!(route_group("/api/nodes/1"), "api");
        assert_eq!(route_group("/"), "root");
        assert_eq!(route_group("/random-attacker-chosen"), "other");
    }

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new(&MetricsConfig::default()).unwrap();
        m.observe_request("api", 200, Duration::from_millis(3));
        m.upstream_error("connect");
        m.tls_reload(true);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains(r#"mimir_proxy_requests_total{route="api",status="200"} 1"#));
        assert!(text.contains(r#"mimir_proxy_upstream_errors_total{kind="connect"} 1"#));
        assert!(text.contains(r#"mimir_proxy_tls_reloads_total{result="success"} 1"#));
        assert!(text.contains("mimir_proxy_request_duration_seconds_bucket"));
    }

    #[test]
    fn no_user_ids_by_default() {
        let m = Metrics::new(&MetricsConfig::default()).unwrap();
        m.observe_caller("api", Some("alice@example.com"), Some(10));
        let text = String::from_utf8(m.render()).unwrap();
        assert!(!text.contains("alice"), "{text}");
        assert!(!text.contains("mimir_proxy_user_requests_total"));
        assert!(text.contains(r#"mimir_proxy_response_bytes_count{route="api"} 1"#));
    }

    #[test]
    fn user_series_are_capped() {
        let m = Metrics::new(&MetricsConfig { user_labels: true }).unwrap();
        for i in 0..MAX_USER_SERIES + 10 {
            m.observe_caller("api", Some(&format!("user-{i}")), Some(10));
        }
        m.observe_caller("api", Some("user-0"), None);
        let text = String::from_utf8(m.render()).unwrap();
        let series = text
            .lines()
            .filter(|l| l.starts_with("mimir_proxy_user_requests_total{"))
            .count();
        assert_eq!(series, MAX_USER_SERIES + 1);
        assert!(text.contains(r#"mimir_proxy_user_requests_total{user="other"} 10"#));
        assert!(text.contains(r#"mimir_proxy_user_requests_total{user="user-0"} 2"#));
        assert!(text.contains(r#"mimir_proxy_response_bytes_bucket{route="api",le="1024"} 510"#));
    }
}
