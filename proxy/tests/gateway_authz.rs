//! Authorization in the gateway, end to end: the real core behind the real proxy with the
//! shipped policy, API keys made with the CLI for each shipped role, and the status table of
//! docs/authorization.md for REST routes and MCP tool calls; path tricks never reach a handler
//! the caller may not use; `tools/list` answers are filtered per role.
//!
//! Runs the core binary: `MIMIR_CORE_BIN`, default `target/debug/mimir-core`
//! (`cargo build -p mimir-core`).

#[allow(dead_code)]
mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use support::{status_of, Core, Options, Proxy};

const ROLES: [&str; 4] = ["admin", "developer", "analyst", "viewer"];

fn auth_toml(dir: &Path) -> String {
    format!(
        "{}{}",
        support::auth_toml(dir),
        support::shipped_policy_toml()
    )
}

struct Setup {
    _core: Core,
    state: tempfile::TempDir,
    proxy: Proxy,
    client: reqwest::Client,
    /// (role, key); `None` is the anonymous caller.
    keys: Vec<(&'static str, Option<String>)>,
}

async fn setup() -> Setup {
    setup_with("").await
}

/// `authz_lines` go into `[authz]`.
async fn setup_with(authz_lines: &str) -> Setup {
    let core = support::start_core().await;
    let state = tempfile::tempdir().unwrap();
    let mut keys: Vec<(&'static str, Option<String>)> = ROLES
        .iter()
        .map(|role| (*role, Some(support::create_key(state.path(), role, role))))
        .collect();
    keys.push(("anonymous", None));
    let mut opts = Options::to(core.addr.clone());
    opts.extra_toml = format!(
        "{}\n{authz_lines}\n{}",
        auth_toml(state.path()),
        support::audit_file_toml(&state.path().join("audit.log"))
    );
    let proxy = Proxy::start(opts).await;
    let client = proxy.client();
    Setup {
        _core: core,
        state,
        proxy,
        client,
        keys,
    }
}

impl Setup {
    async fn send(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
        session: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .proxy
            .request(&self.client, method, path, key)
            .header("accept", "application/json, text/event-stream");
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(session) = session {
            req = req.header("mcp-session-id", session);
        }
        req.send().await.unwrap()
    }
}

/// What the proxy must answer: `Some(403)`/`Some(401)` for a refusal, `None` when the request
/// must reach the core (whatever the core then answers, it is not the proxy's 401/403).
fn expect(allowed: &[&str], role: &str) -> Option<u16> {
    match role {
        "anonymous" => Some(401),
        r if allowed.contains(&r) => None,
        _ => Some(403),
    }
}

async fn check(resp: reqwest::Response, expected: Option<u16>, what: &str) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    match expected {
        Some(code) => {
            assert_eq!(status, code, "{what}: {body}");
            if code == 403 {
                assert_eq!(body["error"], "forbidden", "{what}: {body}");
            }
        }
        None => assert!(
            status != 401 && status != 403 && status < 500,
            "{what}: {status} {body}"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_against_the_shipped_policy() {
    let s = setup().await;
    let rest: [(Method, &str, Option<Value>, &[&str]); 3] = [
        (
            Method::GET,
            "/api/nodes/types",
            None,
            &["admin", "developer", "analyst", "viewer"],
        ),
        (
            Method::POST,
            "/api/nodes",
            Some(json!({"type":"memory","properties":{"title":"t"}})),
            &["admin", "developer"],
        ),
        (
            Method::DELETE,
            "/api/nodes/x",
            None,
            &["admin", "developer"],
        ),
    ];
    for (role, key) in &s.keys {
        for (method, path, body, allowed) in &rest {
            let resp = s
                .send(key.as_deref(), method.clone(), path, body.clone(), None)
                .await;
            check(
                resp,
                expect(allowed, role),
                &format!("{role} {method} {path}"),
            )
            .await;
        }
    }

    let calls: [(&str, Value, &[&str]); 5] = [
        (
            "memory_node add",
            json!({"name":"memory_node","arguments":{"operation":"add","type":"memory","properties":{"title":"x"}}}),
            &["admin", "developer"],
        ),
        (
            "memory_node get",
            json!({"name":"memory_node","arguments":{"operation":"get","id":"missing"}}),
            &["admin", "developer", "analyst"],
        ),
        (
            "memory_node delete",
            json!({"name":"memory_node","arguments":{"operation":"delete","id":"missing"}}),
            &["admin", "developer"],
        ),
        (
            "index_folder",
            json!({"name":"index_folder","arguments":{"path":"/nonexistent"}}),
            &["admin", "developer"],
        ),
        (
            "memory_clear",
            json!({"name":"memory_clear","arguments":{}}),
            &["admin"],
        ),
    ];
    for (role, key) in &s.keys {
        let session = match key {
            Some(k) => Some(s.proxy.mcp_session(&s.client, k).await),
            None => None,
        };
        for (id, (what, params, allowed)) in calls.iter().enumerate() {
            let msg = json!({"jsonrpc":"2.0","id":id + 1,"method":"tools/call","params":params});
            let resp = s
                .send(
                    key.as_deref(),
                    Method::POST,
                    "/mcp",
                    Some(msg),
                    session.as_deref(),
                )
                .await;
            let expected = expect(allowed, role);
            if expected.is_none() {
                // The core ran the call: a JSON-RPC answer to this id.
                assert_eq!(resp.status(), StatusCode::OK, "{role} {what}");
                let answer: Value = resp.json().await.unwrap();
                assert_eq!(answer["id"], id + 1, "{role} {what}: {answer}");
            } else {
                check(resp, expected, &format!("{role} MCP {what}")).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_never_reach_a_forbidden_handler() {
    let s = setup().await;
    let targets = [
        "/api/nodes/../keys",
        "//api/keys",
        "/API/keys",
        "/api/%2e%2e/keys",
        "/api/nodes/%2e%2e/%2e%2e/api/keys",
        "/api/nodes/x/../../keys",
    ];
    for (role, key) in &s.keys {
        if *role == "admin" {
            continue;
        }
        for target in targets {
            let auth = key
                .as_ref()
                .map(|k| format!("authorization: Bearer {k}\r\n"))
                .unwrap_or_default();
            let request = format!(
                "GET {target} HTTP/1.1\r\nhost: localhost\r\n{auth}connection: close\r\n\r\n"
            );
            let response = s.proxy.raw(request.as_bytes()).await;
            let status = status_of(&response);
            let refused: &[u16] = if key.is_some() {
                &[400, 403]
            } else {
                &[400, 401]
            };
            assert!(refused.contains(&status), "{role} GET {target}: {response}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_list_shows_only_callable_tools() {
    let s = setup().await;
    let mut seen = Vec::new();
    for (role, key) in s.keys.iter().filter(|(_, k)| k.is_some()) {
        let key = key.as_deref().unwrap();
        let session = s.proxy.mcp_session(&s.client, key).await;
        let list = json!({"jsonrpc":"2.0","id":"l","method":"tools/list"});
        let resp = s
            .send(Some(key), Method::POST, "/mcp", Some(list), Some(&session))
            .await;
        assert_eq!(resp.status(), 200, "{role}");
        assert!(resp.headers().get("content-length").is_none(), "{role}");
        let answer: Value = resp.json().await.unwrap();
        let names: BTreeSet<String> = answer["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{role}: {answer}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        seen.push((*role, names));
    }
    let tools = |role: &str| &seen.iter().find(|(r, _)| *r == role).unwrap().1;
    assert_eq!(tools("admin").len(), 13, "{:?}", tools("admin"));
    assert!(tools("admin").contains("memory_clear"));
    assert!(!tools("developer").contains("memory_clear"));
    assert!(tools("developer").is_subset(tools("admin")));
    assert!(tools("analyst").len() < tools("admin").len());
    assert!(!tools("analyst").contains("index_folder"));
    assert!(tools("viewer").is_empty(), "{:?}", tools("viewer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_go_to_login_and_mcp_calls_are_audited() {
    let s = setup().await;
    let html = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8";
    let no_redirect = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(s.proxy.ca()).unwrap()).unwrap(),
        )
        .resolve("localhost", s.proxy.addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirect
        .get(s.proxy.url("/api/nodes/types?x=1"))
        .header("accept", html)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        "/login?next=%2Fapi%2Fnodes%2Ftypes%3Fx%3D1"
    );
    // The login page itself is never redirected to itself.
    let resp = no_redirect
        .get(s.proxy.url("/login"))
        .header("accept", html)
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 303);

    let (_, viewer) = s.keys.iter().find(|(r, _)| *r == "viewer").unwrap();
    let viewer = viewer.as_deref().unwrap();
    let session = s.proxy.mcp_session(&s.client, viewer).await;
    let call = json!({"jsonrpc":"2.0","id":9,"method":"tools/call",
        "params":{"name":"memory_clear","arguments":{}}});
    let resp = s
        .send(
            Some(viewer),
            Method::POST,
            "/mcp",
            Some(call),
            Some(&session),
        )
        .await;
    assert_eq!(resp.status(), 403);

    let refused = support::wait_for_records(&s.state.path().join("audit.log"), 1, |r| {
        r["mcp.method"] == "tools/call"
            && r["mcp.tool"] == "memory_clear"
            && r["http.response.status_code"] == 403
    })
    .await;
    assert_eq!(
        refused[0]["user.roles"],
        json!(["viewer"]),
        "{}",
        refused[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tool_calls_can_be_answered_in_json_rpc() {
    let s = setup_with("denied_tool_calls = \"jsonrpc\"").await;
    let (_, viewer) = s.keys.iter().find(|(r, _)| *r == "viewer").unwrap();
    let viewer = viewer.as_deref().unwrap();
    let session = s.proxy.mcp_session(&s.client, viewer).await;
    let call = json!({"jsonrpc":"2.0","id":"c-7","method":"tools/call",
        "params":{"name":"memory_clear","arguments":{}}});
    let resp = s
        .send(
            Some(viewer),
            Method::POST,
            "/mcp",
            Some(call.clone()),
            Some(&session),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["id"], "c-7", "{body}");
    assert_eq!(body["error"]["code"], -32001, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("permission denied"));
    // A batch, and any other refused method, still gets the HTTP refusal.
    let resp = s
        .send(
            Some(viewer),
            Method::POST,
            "/mcp",
            Some(json!([call])),
            Some(&session),
        )
        .await;
    assert_eq!(resp.status(), 403);
}

fn is_reload(record: &Value) -> bool {
    record["event.action"] == "policy-reload"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_reloads_are_audited() {
    let upstream = support::Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let (rbac, routes) = (
        state.path().join("rbac.json"),
        state.path().join("routes.toml"),
    );
    std::fs::copy(shipped.join("rbac.json"), &rbac).unwrap();
    std::fs::copy(shipped.join("routes.toml"), &routes).unwrap();
    let log = state.path().join("audit.log");
    let mut opts = Options::new(&upstream);
    opts.extra_toml = format!(
        "{}[authz]\nrbac = \"{}\"\nroutes = \"{}\"\n{}",
        support::auth_toml(state.path()),
        rbac.display(),
        routes.display(),
        support::audit_file_toml(&log),
    );
    let proxy = Proxy::start(opts).await;

    let mut text = std::fs::read_to_string(&routes).unwrap();
    text.push_str("\n# reloaded\n");
    std::fs::write(&routes, &text).unwrap();
    let records = support::wait_for_records(&log, 1, is_reload).await;
    assert_eq!(records[0]["event.outcome"], "success", "{}", proxy.log());

    std::fs::write(&routes, "default = \"nonsense\"\n").unwrap();
    let records = support::wait_for_records(&log, 2, is_reload).await;
    assert_eq!(records[1]["event.outcome"], "failure", "{}", proxy.log());
}
