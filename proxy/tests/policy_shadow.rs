//! Shadow mode end to end: the real proxy with the shipped policy live and a candidate in
//! `[authz.shadow]`. The live decision is what the caller gets; every request the shadow decides
//! otherwise, through the gateway or nginx's `auth_request` endpoint, is counted in `/metrics`
//! and audited as `policy-shadow-mismatch`. The shadow reloads when its files change, and a
//! broken or missing shadow never touches the live policy.

#[allow(dead_code)]
mod support;

use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use support::{Options, Proxy, Upstream};

fn shipped(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../config")
            .join(name),
    )
    .unwrap()
}

/// The shipped RBAC document, with the developer role lacking `nodes:delete` and the IdP group
/// `eng` mapped to it.
fn candidate_rbac() -> String {
    let text = shipped("rbac.json");
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    let developer = doc["roleMappings"]["developer"]["permissions"]
        .as_array_mut()
        .unwrap();
    let before = developer.len();
    developer.retain(|p| p != "nodes:delete");
    assert_eq!(developer.len(), before - 1);
    doc["groupMappings"] = json!({"eng": ["developer"]});
    serde_json::to_string_pretty(&doc).unwrap()
}

/// Writes `text` to `path` so that the reloader sees a new file (atomic rename, new inode).
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

struct Setup {
    _upstream: Upstream,
    state: tempfile::TempDir,
    proxy: Proxy,
    client: reqwest::Client,
    developer: String,
    analyst: String,
    /// A key presenting only the IdP group `eng`: no role under the live policy.
    eng: String,
}

/// The proxy with the shipped policy live and `state/shadow/{rbac.json,routes.toml}` as the
/// shadow (written by the caller, or missing).
async fn start(write_shadow: impl FnOnce(&Path)) -> Setup {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let shadow = state.path().join("shadow");
    std::fs::create_dir_all(&shadow).unwrap();
    write_shadow(&shadow);
    let key = |name, roles| support::create_key(state.path(), name, roles);
    let (developer, analyst, eng) = (
        key("dev", "developer"),
        key("ana", "analyst"),
        key("eng", "eng"),
    );
    let mut opts = Options::new(&upstream);
    // The auth_request endpoint answers only the proxies it trusts (nginx; here the test).
    opts.trusted_proxies = "[\"127.0.0.1/32\"]";
    opts.extra_toml = format!(
        "{}{}[authz.shadow]\nrbac = \"{}\"\nroutes = \"{}\"\n{}",
        support::auth_toml(state.path()),
        support::shipped_policy_toml(),
        shadow.join("rbac.json").display(),
        shadow.join("routes.toml").display(),
        support::audit_file_toml(&state.path().join("audit.log")),
    );
    let proxy = Proxy::start(opts).await;
    let client = proxy.client();
    Setup {
        _upstream: upstream,
        state,
        proxy,
        client,
        developer,
        analyst,
        eng,
    }
}

impl Setup {
    async fn status(&self, key: &str, method: Method, path: &str, body: Option<Value>) -> u16 {
        let mut req = self
            .proxy
            .request(&self.client, method, path, Some(key))
            .header("accept", "application/json, text/event-stream");
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap().status().as_u16()
    }

    fn audit(&self) -> std::path::PathBuf {
        self.state.path().join("audit.log")
    }

    fn shadow(&self, file: &str) -> std::path::PathBuf {
        self.state.path().join("shadow").join(file)
    }

    /// `mimir_proxy_policy_shadow_mismatches_total` per enforced decision: (allow, deny).
    async fn mismatches(&self) -> (u64, u64) {
        let text = self.proxy.metrics(&[]).await;
        let count = |live: &str| {
            let series = format!("mimir_proxy_policy_shadow_mismatches_total{{live=\"{live}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(series.as_str()))
                .map_or(0, |n| n.trim().parse().unwrap())
        };
        (count("allow"), count("deny"))
    }

    /// Waits for the `n`th audited reload of the shadow policy and returns it.
    async fn shadow_reload(&self, n: usize) -> Value {
        let reloads = support::wait_for_records(&self.audit(), n, |r| {
            r["event.action"] == "policy-reload"
                && r["file.path"]
                    .as_str()
                    .is_some_and(|f| f.ends_with(" (shadow)"))
        })
        .await;
        reloads[n - 1].clone()
    }
}

fn memory_node_delete() -> Value {
    json!({"jsonrpc":"2.0","id":7,"method":"tools/call",
        "params":{"name":"memory_node","arguments":{"operation":"delete","id":"n1"}}})
}

fn is_mismatch(r: &Value) -> bool {
    r["event.action"] == "policy-shadow-mismatch"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_decides_shadow_disagreements_are_counted_and_audited() {
    let s = start(|dir| {
        std::fs::write(dir.join("rbac.json"), candidate_rbac()).unwrap();
        std::fs::write(dir.join("routes.toml"), shipped("routes.toml")).unwrap();
    })
    .await;

    // Live allows, shadow denies: the caller gets the live answer (the upstream's 200).
    assert_eq!(
        s.status(&s.developer, Method::DELETE, "/api/nodes/n1", None)
            .await,
        200
    );
    assert_eq!(
        s.status(
            &s.developer,
            Method::POST,
            "/mcp",
            Some(memory_node_delete())
        )
        .await,
        200
    );
    // Both allow: no mismatch.
    assert_eq!(
        s.status(&s.analyst, Method::GET, "/api/nodes/n1", None)
            .await,
        200
    );
    // Live denies (no role), shadow allows (its groupMappings make `eng` a developer).
    assert_eq!(
        s.status(&s.eng, Method::GET, "/api/nodes/n1", None).await,
        403
    );
    assert_eq!(s.mismatches().await, (2, 1));

    let records = support::wait_for_records(&s.audit(), 3, is_mismatch).await;
    assert_eq!(records.len(), 3, "{records:?}");
    let rest = &records[0];
    assert_eq!(rest["http.request.method"], "DELETE");
    assert_eq!(rest["url.path"], "/api/nodes/n1");
    assert_eq!(rest["user.id"], "apikey:dev");
    assert_eq!(rest["user.roles"], json!(["developer"]));
    assert_eq!(rest["authentication.method"], "api_key");
    assert_eq!(rest["event.category"], "configuration");
    assert_eq!(
        rest["authz.live"],
        json!({"decision": "allow", "reason": "granted", "rule": "nodes-delete"})
    );
    assert_eq!(
        rest["authz.shadow"],
        json!({"decision": "deny", "reason": "missing_permission", "rule": "nodes-delete"})
    );
    assert!(rest["trace.id"].as_str().is_some_and(|t| !t.is_empty()));
    let mcp = &records[1];
    assert_eq!(mcp["mcp.tool"], "memory_node");
    assert_eq!(mcp["mcp.operation"], "delete");
    assert_eq!(mcp["authz.live"]["rule"], "mcp");
    assert_eq!(mcp["authz.shadow"]["reason"], "missing_permission");
    let group = &records[2];
    assert_eq!(group["user.id"], "apikey:eng");
    assert_eq!(group["authz.live"]["decision"], "deny");
    assert_eq!(
        group["authz.shadow"],
        json!({"decision": "allow", "reason": "granted", "rule": "nodes-read"})
    );

    // nginx `auth_request` decisions (the admin listener's /auth/verify) are shadowed too.
    let verify = reqwest::Client::new()
        .get(format!("http://{}/auth/verify", s.proxy.admin))
        .header("x-original-method", "DELETE")
        .header("x-original-uri", "/api/nodes/n2")
        .bearer_auth(&s.developer)
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 200);
    assert_eq!(s.mismatches().await, (3, 1));
    let verified = support::wait_for_records(&s.audit(), 4, is_mismatch).await;
    assert_eq!(verified[3]["url.path"], "/api/nodes/n2");
    assert_eq!(verified[3]["authz.shadow"]["decision"], "deny");

    // Hot reload: the shadow becomes the live policy's twin; nothing disagrees any more.
    replace(&s.shadow("rbac.json"), &shipped("rbac.json"));
    let reload = s.shadow_reload(1).await;
    assert_eq!(reload["event.outcome"], "success", "{reload}");
    assert_eq!(
        s.status(&s.developer, Method::DELETE, "/api/nodes/n1", None)
            .await,
        200
    );
    assert_eq!(
        s.status(&s.eng, Method::GET, "/api/nodes/n1", None).await,
        403
    );
    assert_eq!(s.mismatches().await, (3, 1));

    // A broken shadow is refused; the live policy and the last good shadow stay.
    replace(
        &s.shadow("routes.toml"),
        "[[rule]]\nname = \"x\"\npath = \"/api//x\"\n",
    );
    let refused = s.shadow_reload(2).await;
    assert_eq!(refused["event.outcome"], "failure", "{refused}");
    assert!(
        refused["event.reason"]
            .as_str()
            .is_some_and(|r| r.contains("routes.toml:3:8: rule[0].path")),
        "{refused}"
    );
    assert_eq!(
        s.status(&s.developer, Method::DELETE, "/api/nodes/n1", None)
            .await,
        200
    );
    assert_eq!(
        s.status(&s.analyst, Method::DELETE, "/api/nodes/n1", None)
            .await,
        403
    );
    assert_eq!(s.mismatches().await, (3, 1));
    let live_reloads = std::fs::read_to_string(s.audit())
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"policy-reload\"") && !l.contains("(shadow)"))
        .count();
    assert_eq!(live_reloads, 0, "the live policy was never reloaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_that_does_not_load_leaves_the_live_policy_alone_until_it_does() {
    // No shadow files at all: the proxy starts and enforces the live policy.
    let s = start(|_| {}).await;
    assert!(
        s.proxy
            .log()
            .contains("shadow authorization policy not loaded"),
        "{}",
        s.proxy.log()
    );
    assert_eq!(
        s.status(&s.developer, Method::DELETE, "/api/nodes/n1", None)
            .await,
        200
    );
    assert_eq!(
        s.status(&s.eng, Method::GET, "/api/nodes/n1", None).await,
        403
    );
    assert_eq!(s.mismatches().await, (0, 0));

    // The files appear: the shadow loads and starts deciding.
    std::fs::write(s.shadow("routes.toml"), shipped("routes.toml")).unwrap();
    replace(&s.shadow("rbac.json"), &candidate_rbac());
    let reload = s.shadow_reload(1).await;
    assert_eq!(reload["event.outcome"], "success", "{reload}");
    assert_eq!(
        s.status(&s.developer, Method::DELETE, "/api/nodes/n1", None)
            .await,
        200
    );
    assert_eq!(s.mismatches().await, (1, 0));
    support::wait_for_records(&s.audit(), 1, is_mismatch).await;
}
