//! No secret reaches the audit output: every kind of event is built from inputs that carry
//! tokens, keys, cookies and passwords where a careless caller might pass them, and all written
//! output (file and stdout copy) is scanned for them.

use mimir_proxy::audit::config::{AuditConfig, Destination};
use mimir_proxy::audit::{Audit, AuditEvent, RequestInfo};
use std::path::Path;
use std::time::Duration;

const SECRETS: &[&str] = &[
    "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig",
    "mk_live_9f8e7d6c5b4a",
    "mimir_oauth_token=abcdef123456",
    "hunter2-password",
    "Bearer s3cr3t-webhook",
];

/// Auditing on, to `dir/audit.log` only.
fn file_config(dir: &Path) -> AuditConfig {
    let mut cfg = AuditConfig {
        enabled: true,
        destinations: vec![Destination::File],
        ..AuditConfig::default()
    };
    cfg.file.path = dir.join("audit.log");
    cfg
}

#[tokio::test]
async fn secrets_never_appear_in_audit_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = file_config(dir.path());
    cfg.webhook.auth_header = Some(SECRETS[4].into());
    let audit = Audit::start(&cfg).unwrap();
    let roles = vec!["admin".to_string()];
    let path = format!(
        "/api/nodes?access_token={}&api_key={}#{}",
        SECRETS[0], SECRETS[1], SECRETS[2]
    );
    let events = vec![
        AuditEvent::request(&RequestInfo {
            method: "GET",
            path: &path,
            status: 200,
            duration: Duration::from_millis(1),
            request_id: "req-1",
            source_ip: Some([127, 0, 0, 1].into()),
            user_agent: Some("agent"),
            user_id: Some("alice"),
            roles: &roles,
            mcp: None,
        }),
        AuditEvent::login("alice", &roles, "password"),
        AuditEvent::logout("alice"),
        AuditEvent::login_failed(Some("alice"), "api_key", "unknown key"),
        AuditEvent::api_key_created("key-17", "apikey:ci"),
        AuditEvent::api_key_revoked("key-17", "apikey:ci"),
        AuditEvent::lockdown(true, "incident 42"),
        AuditEvent::lockdown(false, "resolved"),
        AuditEvent::brute_force_blocked(
            [192, 0, 2, 1].into(),
            Some("alice"),
            "password",
            "bruteforce-ip",
            "more than 5 failed authentications within 60 s: blocked for 300 s",
        ),
        AuditEvent::policy_reload("/etc/mimir/policy.toml", None),
        AuditEvent::policy_reload("/etc/mimir/policy.toml", Some("line 3: bad value")),
        AuditEvent::ip_denied([192, 0, 2, 1].into()),
        AuditEvent::rate_limited(Some([192, 0, 2, 1].into()), Some("alice"), "per-user"),
        AuditEvent::login("bob", &[], "jwt")
            .with_request("POST", &format!("/auth/login?password={}", SECRETS[3]))
            .with_source(None, Some("ua"))
            .with_request_id("req-2"),
    ];
    let kinds = events.len();
    for e in events {
        audit.record(e).await.unwrap();
    }
    audit.shutdown().await.unwrap();

    let output = std::fs::read_to_string(&cfg.file.path).unwrap();
    assert_eq!(output.lines().count(), kinds);
    for secret in SECRETS {
        assert!(!output.contains(secret), "{secret} leaked:\n{output}");
    }
    for fragment in ["access_token", "password=", "api_key=", "Bearer"] {
        assert!(!output.contains(fragment), "{fragment} leaked:\n{output}");
    }
    assert!(!format!("{cfg:?}").contains("s3cr3t"));
}

/// The records the authentication code writes (logins, refused credentials, brute-force
/// blocks and refusals) carry names and key ids, never what was presented.
#[tokio::test]
async fn authentication_records_carry_no_secret() {
    use mimir_proxy::admin::metrics::{Metrics, MetricsConfig};
    use mimir_proxy::authn::trail::{Attempt, AuthTrail};
    use mimir_proxy::traffic::bruteforce::Credential;
    use mimir_proxy::traffic::config::TrafficConfig;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let cfg = file_config(dir.path());
    let audit = Audit::start(&cfg).unwrap();
    let trail = AuthTrail::new(
        &TrafficConfig::default(),
        audit.clone(),
        Arc::new(Metrics::new(&MetricsConfig::default()).unwrap()),
    );
    let attempt = Attempt {
        ip: [198, 51, 100, 7].into(),
        user_agent: Some("agent".into()),
        request_id: "req-9".into(),
        method: "POST".into(),
        path: "/auth/login".into(),
    };
    let roles = vec!["admin".to_string()];
    trail.login(&attempt, "alice", &roles, "password").await;
    trail.logout(&attempt, "alice").await;
    // Six failures for one name: the sixth crosses the limit and blocks the address.
    for _ in 0..6 {
        let (kind, method) = (Credential::Password, "password");
        trail
            .failed(&attempt, kind, method, Some("mallory"), "bad credentials")
            .await;
    }
    assert!(trail.check(&attempt).is_err());
    trail.refused(&attempt).await;
    let key_id = "9f8e7d6c5b4a";
    trail
        .failed(
            &attempt,
            Credential::ApiKey,
            "api_key",
            Some(key_id),
            "unknown, revoked or expired API key",
        )
        .await;
    audit.shutdown().await.unwrap();

    let output = std::fs::read_to_string(&cfg.file.path).unwrap();
    let records: Vec<serde_json::Value> = output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |action: &str| {
        records
            .iter()
            .filter(|r| r["event.action"] == action)
            .count()
    };
    assert_eq!(count("user-login"), 1, "{output}");
    assert_eq!(count("user-logout"), 1);
    assert_eq!(count("user-login-failed"), 7);
    assert_eq!(count("brute-force-blocked"), 1, "the address: {output}");
    assert_eq!(count("rate-limited"), 1);
    let failed = records
        .iter()
        .find(|r| r["event.action"] == "user-login-failed")
        .unwrap();
    assert_eq!(failed["user.name"], "mallory");
    assert_eq!(failed["source.ip"], "198.51.100.7");
    assert_eq!(failed["trace.id"], "req-9");
    assert_eq!(failed["url.path"], "/auth/login");
    for secret in SECRETS {
        assert!(!output.contains(secret), "{secret} leaked:\n{output}");
    }
    assert!(!output.contains("mimir_"), "no key material:\n{output}");
}
