//! The gateway writes one audit record per request, with the authenticated user, the status and
//! every message of an MCP body, and the file passes `mimir-proxy audit verify`.

#[allow(dead_code)]
mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{Options, Proxy, Upstream, BIN};

/// A proxy in front of the echo upstream, with its API keys and audit file in `state`.
struct Audited {
    _upstream: Upstream,
    state: tempfile::TempDir,
    log: PathBuf,
    proxy: Proxy,
    /// Created before the proxy starts.
    key: String,
}

/// [`Audited`], with the key `name` (roles `roles`) made before the start.
async fn start(name: &str, roles: &str) -> Audited {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let key = support::create_key(state.path(), name, roles);
    let log = state.path().join("audit.log");
    let mut opts = Options::new(&upstream);
    opts.extra_toml = format!(
        "{}\n{}",
        support::auth_toml(state.path()),
        support::audit_file_toml(&log)
    );
    let proxy = Proxy::start(opts).await;
    Audited {
        _upstream: upstream,
        state,
        log,
        proxy,
        key,
    }
}

impl Audited {
    /// SIGTERM (the proxy flushes the audit log before it exits), then the log, which must
    /// pass `mimir-proxy audit verify`.
    fn stop(&mut self) -> String {
        self.proxy.signal("TERM");
        assert!(self.proxy.wait_exit(Duration::from_secs(20)).is_some());
        let verify = Command::new(BIN)
            .args(["audit", "verify"])
            .arg(&self.log)
            .output()
            .unwrap();
        assert!(verify.status.success(), "audit verify: {verify:?}");
        std::fs::read_to_string(&self.log).unwrap()
    }
}

/// Requests in flight when SIGTERM arrives: every request that got an answer has its record
/// (matched by request id), and there are no more records than requests sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answered_request_loses_its_record_across_sigterm() {
    let a = start("loader", "analyst").await;
    let (client, url, key) = (a.proxy.client(), a.proxy.url("/api/nodes/1"), a.key.clone());
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, key) = (client.clone(), url.clone(), key.clone());
            let (answered, sent) = (answered.clone(), sent.clone());
            tokio::spawn(async move {
                loop {
                    sent.fetch_add(1, Ordering::SeqCst);
                    let request = client.get(&url).bearer_auth(&key);
                    let Ok(resp) = request.timeout(Duration::from_secs(10)).send().await else {
                        break; // the proxy has gone
                    };
                    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
                    answered.lock().unwrap().push(id);
                }
            })
        })
        .collect();
    while answered.lock().unwrap().len() < 200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut a = a;
    let text = tokio::task::spawn_blocking(move || a.stop()).await.unwrap();
    for task in load {
        task.await.unwrap();
    }
    let records = request_records(&text);
    let logged: HashSet<&str> = records
        .iter()
        .filter_map(|r| r["trace.id"].as_str())
        .collect();
    let answered = answered.lock().unwrap();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|id| !logged.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} answered requests without a record",
        lost.len()
    );
    assert!(records.len() <= sent.load(Ordering::SeqCst));
}

fn request_records(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["event.action"] == "http-request")
        .collect()
}

#[tokio::test]
async fn every_request_is_audited_with_user_and_status() {
    let mut a = start("auditor", "analyst").await;
    let (proxy, key) = (&a.proxy, &a.key);
    let client = proxy.client();

    const N: usize = 7;
    for i in 0..N {
        let resp = client
            .get(proxy.url(&format!("/api/nodes/{i}?token=secret")))
            .bearer_auth(key)
            .header("user-agent", "audit-test/1")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", proxy.log());
    }
    let anonymous = client.get(proxy.url("/api/nodes")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    let text = a.stop();
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
}

/// Every message of an MCP batch is on record with its method, tool and operation (a delete
/// behind a get included); a single message keeps the flat `mcp.*` fields too.
#[tokio::test]
async fn every_message_of_an_mcp_batch_is_audited() {
    let mut a = start("agent", "developer").await;
    let (proxy, key) = (&a.proxy, &a.key);
    let client = proxy.client();
    let call = |id: u32, tool: &str, operation: &str| {
        serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": {"operation": operation, "id": "n1"}}})
    };
    let post = |body: serde_json::Value| {
        proxy
            .request(&client, reqwest::Method::POST, "/mcp", Some(key))
            .json(&body)
            .send()
    };
    let batch = serde_json::json!([
        call(1, "memory_node", "get"),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        call(2, "memory_node", "delete"),
        call(3, "todo", "delete"),
    ]);
    assert_eq!(post(batch).await.unwrap().status(), 200, "{}", proxy.log());
    let single = call(4, "memory_edge", "neighbors");
    assert_eq!(post(single).await.unwrap().status(), 200);

    let text = a.stop();
    let records: Vec<_> = request_records(&text)
        .into_iter()
        .filter(|r| r["url.path"] == "/mcp")
        .collect();
    assert_eq!(records.len(), 2, "{text}");
    let batch = &records[0];
    assert_eq!(
        batch["mcp.messages"],
        serde_json::json!([
            {"method": "tools/call", "tool": "memory_node", "operation": "get"},
            {"method": "notifications/initialized"},
            {"method": "tools/call", "tool": "memory_node", "operation": "delete"},
            {"method": "tools/call", "tool": "todo", "operation": "delete"},
        ]),
        "{batch}"
    );
    // The flat fields name the first call, as they always did.
    assert_eq!(batch["mcp.method"], "tools/call");
    assert_eq!(batch["mcp.tool"], "memory_node");
    assert_eq!(batch["mcp.operation"], "get");
    let single = &records[1];
    assert_eq!(single["mcp.method"], "tools/call");
    assert_eq!(single["mcp.tool"], "memory_edge");
    assert_eq!(single["mcp.operation"], "neighbors");
    assert_eq!(
        single["mcp.messages"],
        serde_json::json!([{"method": "tools/call", "tool": "memory_edge", "operation": "neighbors"}])
    );
}

/// Runs `mimir-proxy <args>` with the config `support::create_key` wrote into `state`.
fn cli(state: &Path, args: &[&str]) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(state.join("keys.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
}

/// Waits until the audit file has a record with this action (the proxy looks at the keys and
/// lockdown files once a second).
async fn wait_for(log: &Path, action: &str) -> serde_json::Value {
    support::wait_for_records(log, 1, |r| r["event.action"] == action)
        .await
        .remove(0)
}

#[tokio::test]
async fn key_changes_lockdown_and_refused_credentials_are_audited() {
    let mut a = start("before-start", "viewer").await;

    // Keys created and revoked with the CLI while the proxy runs.
    let key = support::create_key(a.state.path(), "created-live", "analyst");
    let created = wait_for(&a.log, "api-key-created").await;
    let id = &key["mimir_".len().."mimir_".len() + 12];
    assert_eq!(created["api_key.id"], id);
    assert_eq!(created["user.target.id"], "apikey:created-live");
    assert_eq!(created["event.category"], "iam");
    cli(a.state.path(), &["keys", "revoke", id]);
    let revoked = wait_for(&a.log, "api-key-revoked").await;
    assert_eq!(revoked["api_key.id"], id);

    // A revoked key is a failed authentication.
    let resp = a
        .proxy
        .client()
        .get(a.proxy.url("/api/nodes"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let failed = wait_for(&a.log, "user-login-failed").await;
    assert_eq!(failed["user.name"], id);
    assert_eq!(failed["authentication.method"], "api_key");
    assert_eq!(failed["source.ip"], "127.0.0.1");

    cli(a.state.path(), &["lockdown"]);
    let lockdown = wait_for(&a.log, "lockdown-enabled").await;
    assert!(lockdown["event.reason"]
        .as_str()
        .unwrap()
        .starts_with("credentials issued at or before"));

    let text = a.stop();
    let created = text.matches("\"api-key-created\"").count();
    assert_eq!(
        created, 1,
        "the key present at start is the baseline: {text}"
    );
    for secret in [&a.key, &key] {
        assert!(!text.contains(secret.as_str()));
    }
}
