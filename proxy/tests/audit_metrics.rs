//! The security metrics behind docs/monitoring: after traffic that produces each signal (a
//! refused API key, a brute-force block, denials by authorization, IP list and rate limit,
//! authenticated requests with responses), every metric the alert rules and the Grafana
//! dashboard name is in the proxy's `/metrics`, and `promtool check rules` accepts the rules
//! (a structural check stands in where promtool is not installed). By default no metric names a
//! user.

#[allow(dead_code)]
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{Options, Proxy, Upstream};

fn monitoring() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/monitoring")
}

/// Every `mimir_proxy_…` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("mimir_proxy_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// Series names exposed (sample lines, not comments).
fn exposed(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

fn traffic_toml(state: &Path) -> String {
    format!(
        "{}\n{}\
         [metrics]\nuser_labels = true\n\
         [traffic]\nper_ip = {{ requests = 1000, per = \"minute\", burst = 1000 }}\n\
         [[traffic.groups]]\nname = \"secret\"\npaths = [\"/api/secret/**\"]\n\
         deny = [\"127.0.0.1/32\", \"::1/128\"]\n\
         [[traffic.groups]]\nname = \"nodes\"\npaths = [\"/api/nodes/**\"]\n\
         limit = {{ requests = 1, per = \"minute\", burst = 3 }}\n",
        support::auth_toml(state),
        support::audit_file_toml(&state.join("audit.log"))
    )
}

#[tokio::test]
async fn every_metric_in_the_rules_and_dashboard_is_exported() {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let admin = support::create_key(state.path(), "ops", "admin");
    let viewer = support::create_key(state.path(), "reader", "viewer");
    let mut opts = Options::new(&upstream);
    opts.extra_toml = traffic_toml(state.path());
    let proxy = Proxy::start(opts).await;
    let client = proxy.client();
    let get = |path: &str, key: Option<&str>| {
        let mut req = client.get(proxy.url(path));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        req.send()
    };

    for i in 0..3 {
        let resp = get(&format!("/api/nodes/{i}"), Some(&admin)).await.unwrap();
        assert_eq!(resp.status(), 200, "{}", proxy.log());
    }
    let statuses = [
        (get("/api/nodes/9", Some(&admin)).await.unwrap(), 429), // rate limit
        (get("/api/admin/x", Some(&viewer)).await.unwrap(), 403), // authorization
        (get("/api/secret/x", Some(&admin)).await.unwrap(), 403), // IP list
    ];
    for (resp, want) in statuses {
        assert_eq!(resp.status(), want, "{}", proxy.log());
    }
    // Six refused keys, then the address is blocked (the defaults: more than 5 a minute).
    for i in 0..6 {
        let bogus = format!("mimir_{i:012}_{}", "y".repeat(43));
        assert_eq!(get("/api/nodes", Some(&bogus)).await.unwrap().status(), 401);
    }
    assert_eq!(get("/api/nodes", Some(&admin)).await.unwrap().status(), 429);

    let metrics = proxy
        .metrics(&[
            r#"mimir_proxy_auth_failures_total{method="api_key"} 6"#,
            r#"mimir_proxy_bruteforce_blocks_total{target="ip"} 1"#,
            r#"mimir_proxy_denials_total{reason="authz"} 1"#,
            r#"mimir_proxy_denials_total{reason="bruteforce"} 1"#,
            r#"mimir_proxy_denials_total{reason="ip"} 1"#,
            r#"mimir_proxy_denials_total{reason="rate_limit"} 1"#,
            r#"mimir_proxy_user_requests_total{user="apikey:ops"} 4"#, // 3 served, 1 rate-limited
            r#"mimir_proxy_response_bytes_count{route="api"} 3"#,
        ])
        .await;
    let exposed = exposed(&metrics);

    let rules = std::fs::read_to_string(monitoring().join("alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(monitoring().join("grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    let in_rules = metric_names(&rules);
    let in_dashboard = metric_names(&exprs.join("\n"));
    for signal in [
        "mimir_proxy_auth_failures_total",
        "mimir_proxy_bruteforce_blocks_total",
        "mimir_proxy_denials_total",
        "mimir_proxy_user_requests_total",
        "mimir_proxy_response_bytes_bucket",
    ] {
        assert!(in_rules.contains(signal), "alert rules lack {signal}");
        assert!(in_dashboard.contains(signal), "dashboard lacks {signal}");
    }
    for name in in_rules.iter().chain(&in_dashboard) {
        assert!(exposed.contains(name), "{name} is not exported:\n{metrics}");
    }
    // The large-export rule compares against a bucket bound the histogram really has.
    assert!(rules.contains(r#"le="10485760""#));
    assert!(metrics.contains(r#"le="10485760""#));

    check_rules(&monitoring().join("alerts.yml"), &rules);
}

/// `/metrics` is unauthenticated: without `metrics.user_labels` it carries no user id.
#[tokio::test]
async fn default_metrics_name_no_user() {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let key = support::create_key(state.path(), "carol-7f3a", "admin");
    let mut opts = Options::new(&upstream);
    opts.extra_toml = support::auth_toml(state.path());
    let proxy = Proxy::start(opts).await;
    let client = proxy.client();
    for _ in 0..2 {
        let resp = client
            .get(proxy.url("/api/nodes/1"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", proxy.log());
    }
    // The authenticated requests were observed, under no user label.
    let metrics = proxy
        .metrics(&[r#"mimir_proxy_response_bytes_count{route="api"} 2"#])
        .await;
    assert!(!metrics.contains("carol-7f3a"), "{metrics}");
    assert!(!metrics.contains("user="), "{metrics}");
    assert!(!metrics.contains("mimir_proxy_user_requests_total"));
}

fn check_rules(path: &Path, rules: &str) {
    match Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(path)
        .output()
    {
        Ok(out) => assert!(out.status.success(), "promtool: {out:?}"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("promtool not installed: structural check only");
            assert!(rules.contains("groups:") && rules.contains("rules:"));
            for alert in rules.split("- alert:").skip(1) {
                for field in ["expr:", "severity:", "summary:"] {
                    assert!(alert.contains(field), "an alert lacks {field}: {alert}");
                }
            }
        }
        Err(e) => panic!("promtool: {e}"),
    }
}
