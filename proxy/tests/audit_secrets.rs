//! No secret reaches the audit output: every kind of event is built from inputs that carry
//! tokens, keys, cookies and passwords where a careless caller might pass them, and all written
//! output (file and stdout copy) is scanned for them.

use mimir_proxy::audit::config::{AuditConfig, Destination};
use mimir_proxy::audit::{Audit, AuditEvent, RequestInfo};
use std::time::Duration;

const SECRETS: &[&str] = &[
    "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig",
    "mk_live_9f8e7d6c5b4a",
    "mimir_oauth_token=abcdef123456",
    "hunter2-password",
    "Bearer s3cr3t-webhook",
];

#[tokio::test]
async fn secrets_never_appear_in_audit_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = AuditConfig {
        enabled: true,
        destinations: vec![Destination::File],
        ..AuditConfig::default()
    };
    cfg.file.path = dir.path().join("audit.log");
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
            mcp_method: None,
            mcp_tool: None,
        }),
        AuditEvent::login("alice", &roles, "password"),
        AuditEvent::logout("alice"),
        AuditEvent::login_failed(Some("alice"), "api_key", "unknown key"),
        AuditEvent::api_key_created("alice", "key-17"),
        AuditEvent::api_key_revoked("alice", "key-17"),
        AuditEvent::lockdown("alice", true, "incident 42"),
        AuditEvent::lockdown("alice", false, "resolved"),
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
