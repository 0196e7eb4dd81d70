//! Prometheus metrics of the proxy, served by the admin listener at `/metrics`.
//! Every label has a bounded set of values so a client cannot blow up the series count.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::time::Duration;

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
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
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
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(upstream_errors.clone()))?;
        registry.register(Box::new(tls_reloads.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            upstream_errors,
            tls_reloads,
        })
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
        let m = Metrics::new().unwrap();
        m.observe_request("api", 200, Duration::from_millis(3));
        m.upstream_error("connect");
        m.tls_reload(true);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains(r#"mimir_proxy_requests_total{route="api",status="200"} 1"#));
        assert!(text.contains(r#"mimir_proxy_upstream_errors_total{kind="connect"} 1"#));
        assert!(text.contains(r#"mimir_proxy_tls_reloads_total{result="success"} 1"#));
        assert!(text.contains("mimir_proxy_request_duration_seconds_bucket"));
    }
}
