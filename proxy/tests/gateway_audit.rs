//! The gateway writes one audit record per request, with the authenticated user and the status,
//! and the file passes `mimir-proxy audit verify`.

#[allow(dead_code)]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::{Options, Proxy, Upstream, BIN};

fn audit_toml(state: &Path) -> String {
    format!(
        "{}\n[audit]\nenabled = true\ndestinations = [\"file\"]\n\
         [audit.file]\npath = \"{}\"\n",
        support::auth_toml(state),
        state.join("audit.log").display()
    )
}

fn request_records(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["event.action"] == "http-request")
        .collect()
}

#[tokio::test]
async fn every_request_is_audited_with_user_and_status() {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let key = support::create_key(state.path(), "auditor", "analyst");
    let log = state.path().join("audit.log");
    let mut opts = Options::new(&upstream);
    opts.extra_toml = audit_toml(state.path());
    let mut proxy = Proxy::start(opts).await;
    let client = proxy.client();

    const N: usize = 7;
    for i in 0..N {
        let resp = client
            .get(proxy.url(&format!("/api/nodes/{i}?token=secret")))
            .bearer_auth(&key)
            .header("user-agent", "audit-test/1")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", proxy.log());
    }
    let anonymous = client.get(proxy.url("/api/nodes")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // SIGTERM: the proxy flushes the audit log before it exits.
    proxy.signal("TERM");
    assert!(proxy.wait_exit(Duration::from_secs(20)).is_some());

    let text = std::fs::read_to_string(&log).unwrap();
    let requests = request_records(&text);
    assert_eq!(requests.len(), N + 1, "{text}");
    for (i, record) in requests[..N].iter().enumerate() {
        assert_eq!(record["user.id"], "apikey:auditor", "{record}");
        assert_eq!(record["user.roles"], serde_json::json!(["analyst"]));
        assert_eq!(record["http.response.status_code"], 200);
        assert_eq!(
            record["url.path"],
            format!("/api/nodes/{i}"),
            "no query string"
        );
        assert_eq!(record["user_agent.original"], "audit-test/1");
        assert_eq!(record["event.outcome"], "success");
    }
    let refused = &requests[N];
    assert_eq!(refused["http.response.status_code"], 401);
    assert_eq!(refused["event.outcome"], "failure");
    assert!(refused.get("user.id").is_none());
    assert!(!text.contains("secret"));

    let verify = Command::new(BIN)
        .args(["audit", "verify"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(verify.status.success(), "audit verify: {verify:?}");
}
