//! The full authorization matrix: every caller kind against every core REST route, every MCP
//! tool operation and the path-confusion cases, with the expected status of each cell, through
//! the real proxy (shipped `config/rbac.json` + `config/routes.toml`) in front of the real core.
//! One core and one proxy serve the whole matrix; cells run concurrently; every wrong cell is
//! reported at once.
//!
//! Callers: API keys made with `mimir-proxy keys create` for the four shipped roles, a key with
//! no roles (the RBAC `defaultRole`, viewer, applies) and anonymous. In paths, `{node}` and
//! `{edge}` are fixtures made by the admin, `{self}` is the caller's own user id
//! (`apikey|<name>`), `missing` names nothing.
//!
//! The core verifies the proxy's signed identity assertions (docs/identity-assertion.md), as
//! deployed, so that it sees the caller's roles.
//!
//! Runs the core binary: `MIMIR_CORE_BIN`, default `target/debug/mimir-core`
//! (`cargo build -p mimir-core`).

#[allow(dead_code)]
mod support;

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use support::{try_status_of, Proxy};

const CALLERS: [&str; 6] = [
    "admin",
    "developer",
    "analyst",
    "viewer",
    "noroles",
    "anonymous",
];

/// A REST request and its expected status per caller, in [`CALLERS`] order.
type RestRow = (&'static str, &'static str, &'static str, [u16; 6]);

#[rustfmt::skip]
const REST: &[RestRow] = &[
    // method  path                                    JSON body                                   admin dev  anal view none anon
    ("GET",    "/health",                              "",                                         [200, 200, 200, 200, 200, 200]),
    ("POST",   "/api/nodes",                           r#"{"type":"memory","properties":{"title":"n"}}"#, [201, 201, 403, 403, 403, 401]),
    ("GET",    "/api/nodes/query",                     "",                                         [200, 200, 200, 200, 200, 401]),
    ("GET",    "/api/nodes/search?q=fixture",          "",                                         [200, 200, 200, 200, 200, 401]),
    ("GET",    "/api/nodes/types",                     "",                                         [200, 200, 200, 200, 200, 401]),
    ("GET",    "/api/nodes/types/memory",              "",                                         [200, 200, 200, 200, 200, 401]),
    ("GET",    "/api/nodes/vector-search?query=fixture", "",                                       [200, 200, 200, 200, 200, 401]),
    // The fixtures are `internal` data. A key without roles is the default role (viewer) at the
    // proxy and at the core alike, so it sees them with the viewer's clearance.
    ("GET",    "/api/nodes/{node}",                    "",                                         [200, 200, 200, 200, 200, 401]),
    ("HEAD",   "/api/nodes/{node}",                    "",                                         [200, 200, 200, 200, 200, 401]),
    ("PUT",    "/api/nodes/{node}",                    r#"{"properties":{"title":"put"}}"#,        [200, 200, 403, 403, 403, 401]),
    ("PATCH",  "/api/nodes/{node}",                    r#"{"title":"patched"}"#,                   [200, 200, 403, 403, 403, 401]),
    ("DELETE", "/api/nodes/missing",                   "",                                         [404, 404, 403, 403, 403, 401]),
    ("GET",    "/api/nodes/{node}/edges",              "",                                         [200, 200, 200, 200, 200, 401]),
    ("GET",    "/api/nodes/{node}/neighbors",          "",                                         [200, 200, 200, 200, 200, 401]),
    ("POST",   "/api/edges",                           r#"{"source":"fixture-a","target":"fixture-b","type":"RELATES_TO"}"#, [201, 201, 403, 403, 403, 401]),
    ("GET",    "/api/edges/{edge}",                    "",                                         [200, 200, 200, 200, 200, 401]),
    ("DELETE", "/api/edges/missing",                   "",                                         [404, 404, 403, 403, 403, 401]),
    // Privacy requests: any signed-in caller passes the proxy; the core answers only the user
    // themselves or the admin role.
    ("GET",    "/api/privacy/export?user={self}",      "",                                         [200, 200, 200, 200, 200, 401]),
    ("GET",    "/api/privacy/export?user=someone",     "",                                         [200, 403, 403, 403, 403, 401]),
    ("DELETE", "/api/privacy/user/{self}",             "",                                         [200, 200, 200, 200, 200, 401]),
    ("DELETE", "/api/privacy/user/someone",            "",                                         [200, 403, 403, 403, 403, 401]),
    ("GET",    "/api/privacy/consent/{self}",          "",                                         [200, 200, 200, 200, 200, 401]),
    ("PUT",    "/api/privacy/consent/{self}",          r#"{"analytics":false}"#,                   [200, 200, 200, 200, 200, 401]),
    ("GET",    "/api/privacy/consent/someone",         "",                                         [200, 403, 403, 403, 403, 401]),
    // MCP transport: sessions end with DELETE (here without one: the core's 400), GET has no
    // stream (the core's 405).
    ("GET",    "/mcp",                                 "",                                         [405, 405, 405, 405, 405, 401]),
    ("DELETE", "/mcp",                                 "",                                         [400, 400, 400, 400, 400, 401]),
    // Routes the policy protects that this core does not serve (upstream Mimir's API keys,
    // RBAC and admin endpoints): only the admin role gets through, to the core's 404.
    ("GET",    "/api/keys",                            "",                                         [404, 403, 403, 403, 403, 401]),
    ("POST",   "/api/keys/generate",                   "{}",                                       [404, 403, 403, 403, 403, 401]),
    ("DELETE", "/api/keys/k1",                         "",                                         [404, 403, 403, 403, 403, 401]),
    ("GET",    "/api/rbac",                            "",                                         [404, 403, 403, 403, 403, 401]),
    ("PUT",    "/api/admin/settings",                  "{}",                                       [404, 403, 403, 403, 403, 401]),
    ("GET",    "/api/files/x",                         "",                                         [404, 404, 404, 404, 404, 401]),
    ("POST",   "/api/index-folder",                    "{}",                                       [404, 404, 403, 403, 403, 401]),
    // Anything no rule names is refused, to every role (default = "deny").
    ("GET",    "/api/unknown",                         "",                                         [403, 403, 403, 403, 403, 401]),
    ("POST",   "/api/nodes/{node}",                    "{}",                                       [403, 403, 403, 403, 403, 401]),
    ("OPTIONS", "/api/nodes",                          "",                                         [403, 403, 403, 403, 403, 401]),
];

/// Raw request targets that try to reach a route under another name. Sent byte for byte
/// (HTTP/1), so that no client library cleans them up first.
#[rustfmt::skip]
const PATH_CONFUSION: &[RestRow] = &[
    // method  raw target                               body  admin dev  anal view none anon
    ("GET",    "/api/nodes/../keys",                    "",   [404, 403, 403, 403, 403, 401]),
    ("GET",    "//api/keys",                            "",   [404, 403, 403, 403, 403, 401]),
    ("GET",    "/api//keys",                            "",   [404, 403, 403, 403, 403, 401]),
    ("GET",    "/api/./keys",                           "",   [404, 403, 403, 403, 403, 401]),
    ("GET",    "/api/nodes/%2e%2e/keys",                "",   [404, 403, 403, 403, 403, 401]),
    ("GET",    "/api/nodes/%2E%2E/%2E%2E/api/keys",     "",   [404, 403, 403, 403, 403, 401]),
    ("GET",    "/api/%6beys",                           "",   [404, 403, 403, 403, 403, 401]),
    ("GET",    "/API/keys",                             "",   [403, 403, 403, 403, 403, 401]),
    ("GET",    "/api/Keys",                             "",   [403, 403, 403, 403, 403, 401]),
    ("GET",    "/api/%2e%2e/keys",                      "",   [403, 403, 403, 403, 403, 401]),
    ("GET",    "/api/keys/",                            "",   [403, 403, 403, 403, 403, 401]),
    ("GET",    "/api/keys/.",                           "",   [403, 403, 403, 403, 403, 401]),
    ("GET",    "/api/keys.",                            "",   [403, 403, 403, 403, 403, 401]),
    ("GET",    "/api/keys;x",                           "",   [403, 403, 403, 403, 403, 401]),
    ("GET",    "/api/nodes;x",                          "",   [403, 403, 403, 403, 403, 401]),
    ("GET",    "/api/keys%2f",                          "",   [400, 400, 400, 400, 400, 400]),
    ("GET",    "/api/nodes/..%2fkeys",                  "",   [400, 400, 400, 400, 400, 400]),
    ("GET",    "/api/nodes/..%5ckeys",                  "",   [400, 400, 400, 400, 400, 400]),
    ("GET",    "/api/nodes\\..\\keys",                  "",   [400, 400, 400, 400, 400, 400]),
    ("GET",    "/api/nodes/%zz",                        "",   [400, 400, 400, 400, 400, 400]),
    ("GET",    "api/keys",                              "",   [400, 400, 400, 400, 400, 400]),
    // Read access to a directory-like name is still read access, not more.
    ("GET",    "/api/nodes/x/..",                       "",   [404, 404, 404, 404, 404, 401]),
    ("DELETE", "/api/nodes/x/",                         "",   [403, 403, 403, 403, 403, 401]),
    ("DELETE", "/api/nodes/x/.",                        "",   [403, 403, 403, 403, 403, 401]),
    ("DELETE", "/api/nodes/missing.",                   "",   [404, 404, 403, 403, 403, 401]),
    ("DELETE", "/api/nodes/%6Dissing",                  "",   [404, 404, 403, 403, 403, 401]),
    ("DELETE", "/api/nodes/../edges/missing",           "",   [404, 404, 403, 403, 403, 401]),
    ("POST",   "/mcp/",                                 "{}", [403, 403, 403, 403, 403, 401]),
    ("POST",   "/MCP",                                  "{}", [403, 403, 403, 403, 403, 401]),
];

/// `tools/call` of a tool (with `operation`, or `""` for tools without one) per caller.
type ToolRow = (&'static str, &'static str, [u16; 6]);

// Per role: read = nodes:read (+ search:execute), write = nodes:write, delete = nodes:delete,
// index = files:index, files = files:read; MCP tools need mcp:call:<tool>, which viewer (and
// the default role) lacks and analyst holds for every tool.
const READ: [u16; 6] = [200, 200, 200, 403, 403, 401];
const WRITE: [u16; 6] = [200, 200, 403, 403, 403, 401];
const ADMIN_ONLY: [u16; 6] = [200, 403, 403, 403, 403, 401];

#[rustfmt::skip]
const TOOLS: &[ToolRow] = &[
    ("memory_node", "get", READ),              ("memory_node", "query", READ),
    ("memory_node", "search", READ),           ("memory_node", "add", WRITE),
    ("memory_node", "update", WRITE),          ("memory_node", "delete", WRITE),
    ("memory_edge", "get", READ),              ("memory_edge", "neighbors", READ),
    ("memory_edge", "subgraph", READ),         ("memory_edge", "add", WRITE),
    ("memory_edge", "delete", WRITE),
    ("memory_batch", "add_nodes", WRITE),      ("memory_batch", "update_nodes", WRITE),
    ("memory_batch", "add_edges", WRITE),      ("memory_batch", "delete_nodes", WRITE),
    ("memory_batch", "delete_edges", WRITE),
    ("memory_lock", "query_available", READ),  ("memory_lock", "acquire", WRITE),
    ("memory_lock", "release", WRITE),         ("memory_lock", "cleanup", WRITE),
    ("todo", "get", READ),                     ("todo", "list", READ),
    ("todo", "create", WRITE),                 ("todo", "update", WRITE),
    ("todo", "complete", WRITE),               ("todo", "delete", WRITE),
    ("todo_list", "get", READ),                ("todo_list", "list", READ),
    ("todo_list", "get_stats", READ),          ("todo_list", "create", WRITE),
    ("todo_list", "update", WRITE),            ("todo_list", "add_todo", WRITE),
    ("todo_list", "remove_todo", WRITE),       ("todo_list", "archive", WRITE),
    ("todo_list", "delete", WRITE),
    ("get_task_context", "", READ),
    ("memory_clear", "", ADMIN_ONLY),
    ("vector_search_nodes", "", READ),
    ("get_embedding_stats", "", READ),
    ("index_folder", "", WRITE),
    ("remove_folder", "", WRITE),
    ("list_folders", "", READ),
    // An operation the tool table does not list is refused even to the admin role.
    ("memory_node", "purge", [403, 403, 403, 403, 403, 401]),
    ("no_such_tool", "", [403, 403, 403, 403, 403, 401]),
];

/// Other JSON-RPC methods per caller.
#[rustfmt::skip]
const METHODS: &[(&str, [u16; 6])] = &[
    ("ping", [200, 200, 200, 200, 200, 401]),
    ("tools/list", [200, 200, 200, 200, 200, 401]),
    ("resources/list", [403, 403, 403, 403, 403, 401]),
    ("tools/CALL", [403, 403, 403, 403, 403, 401]),
];

struct Caller {
    name: &'static str,
    key: Option<String>,
    /// The user id the core sees.
    user: String,
    session: Option<String>,
}

struct Matrix {
    _core: support::Core,
    _state: tempfile::TempDir,
    proxy: Proxy,
    client: reqwest::Client,
    callers: Vec<Caller>,
    node: String,
    edge: String,
}

/// One cell's outcome: where, what was expected, what came back.
struct Cell {
    row: String,
    caller: &'static str,
    expected: u16,
    got: u16,
    detail: String,
}

async fn setup() -> Matrix {
    let state = tempfile::tempdir().unwrap();
    // As deployed: the core trusts only identities the proxy signed, so it sees the roles.
    let identity = support::identity_keygen(state.path());
    let core = support::start_enforcing_core(state.path()).await;
    let mut callers: Vec<Caller> = CALLERS[..5]
        .iter()
        .map(|name| {
            let roles = if *name == "noroles" { "" } else { name };
            Caller {
                name,
                key: Some(support::create_key(state.path(), name, roles)),
                user: format!("apikey|{name}"),
                session: None,
            }
        })
        .collect();
    callers.push(Caller {
        name: "anonymous",
        key: None,
        user: "anonymous".into(),
        session: None,
    });
    let mut opts = support::Options::to(core.addr.clone());
    // A loaded machine may answer slowly; upstream timeouts are not under test here.
    opts.read_timeout_seconds = 15;
    // The matrix sends hundreds of requests and raw connections per caller: rates are not
    // under test here.
    opts.extra_toml = format!(
        "{}\n{identity}\
         [traffic]\nrate_limits = false\n[traffic.connections]\n\
         accept_per_ip = {{ requests = 100000, per = \"minute\", burst = 10000 }}\n",
        support::auth_toml(state.path()),
    );
    let proxy = Proxy::start(opts).await;
    let client = proxy.client();
    let mut m = Matrix {
        _core: core,
        _state: state,
        proxy,
        client,
        callers,
        node: "fixture-a".into(),
        edge: String::new(),
    };
    let admin = m.callers[0].key.clone();
    for id in ["fixture-a", "fixture-b"] {
        let body = json!({"id": id, "type": "memory", "properties": {"title": id}});
        let (status, text) = m
            .rest(
                admin.as_deref(),
                "POST",
                "/api/nodes",
                Some(&body.to_string()),
            )
            .await;
        assert_eq!(status, 201, "fixture {id}: {text}");
    }
    let edge = json!({"source": "fixture-a", "target": "fixture-b", "type": "RELATES_TO"});
    let (status, text) = m
        .rest(
            admin.as_deref(),
            "POST",
            "/api/edges",
            Some(&edge.to_string()),
        )
        .await;
    assert_eq!(status, 201, "fixture edge: {text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    m.edge = created["edge"]["id"].as_str().unwrap().to_owned();
    for i in 0..5 {
        let key = m.callers[i].key.clone().unwrap();
        m.callers[i].session = Some(m.proxy.mcp_session(&m.client, &key).await);
    }
    m
}

impl Matrix {
    async fn rest(
        &self,
        key: Option<&str>,
        method: &str,
        target: &str,
        body: Option<&str>,
    ) -> (u16, String) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .proxy
            .request(&self.client, method, target, key)
            .header("accept", "application/json");
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    async fn mcp(&self, caller: &Caller, message: &Value) -> (u16, String) {
        let mut req = self
            .client
            .post(self.proxy.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(message.to_string());
        if let Some(key) = &caller.key {
            req = req.bearer_auth(key);
        }
        if let Some(session) = &caller.session {
            req = req.header("mcp-session-id", session);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    fn fill(&self, template: &str, caller: &Caller) -> String {
        template
            .replace("{node}", &self.node)
            .replace("{edge}", &self.edge)
            .replace("{self}", &caller.user)
    }

    /// A raw HTTP/1 request, byte for byte.
    async fn raw(&self, caller: &Caller, method: &str, target: &str, body: &str) -> (u16, String) {
        let auth = caller
            .key
            .as_ref()
            .map(|k| format!("authorization: Bearer {k}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "{method} {target} HTTP/1.1\r\nhost: localhost\r\naccept: application/json\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n{auth}connection: close\r\n\r\n{body}",
            body.len()
        );
        // As long as the other clients wait (a loaded machine answers slowly). A connection
        // closed without any answer has been seen, rarely, on a loaded machine: it serves
        // nothing, so it is tried once more; twice is a cell of its own (status 0), naming the
        // request.
        let mut response = String::new();
        for attempt in 1..=2 {
            response = self
                .proxy
                .raw_within(request.as_bytes(), Duration::from_secs(20))
                .await;
            if !response.is_empty() {
                break;
            }
            eprintln!("no answer to {method} {target} (attempt {attempt})");
        }
        (try_status_of(&response).unwrap_or(0), response)
    }
}

fn tools_call(tool: &str, operation: &str, id: usize) -> Value {
    let arguments = if operation.is_empty() {
        json!({})
    } else {
        json!({"operation": operation, "id": "missing"})
    };
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
        "params":{"name":tool,"arguments":arguments}})
}

fn clip(text: &str) -> String {
    text.chars().take(300).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_caller_against_every_route_and_tool() {
    let m = setup().await;

    // The tool table names exactly the core's tools (the full list the admin sees).
    let list = json!({"jsonrpc":"2.0","id":"all","method":"tools/list"});
    let (status, text) = m.mcp(&m.callers[0], &list).await;
    assert_eq!(status, 200, "{text}");
    let served: BTreeSet<String> = serde_json::from_str::<Value>(&text).unwrap()["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    let tabled: BTreeSet<String> = TOOLS
        .iter()
        .map(|(tool, _, _)| (*tool).to_owned())
        .filter(|t| t != "no_such_tool")
        .collect();
    assert_eq!(
        served, tabled,
        "TOOLS must cover every tool the core serves"
    );

    let m = &m;
    let mut jobs: Vec<futures_util::future::BoxFuture<'_, Cell>> = Vec::new();
    for (column, caller) in m.callers.iter().enumerate() {
        for (method, path, body, expected) in REST {
            jobs.push(Box::pin(async move {
                let target = m.fill(path, caller);
                let body = (!body.is_empty()).then_some(*body);
                let (got, text) = m.rest(caller.key.as_deref(), method, &target, body).await;
                Cell {
                    row: format!("{method} {path}"),
                    caller: caller.name,
                    expected: expected[column],
                    got,
                    detail: clip(&text),
                }
            }));
        }
        for (method, target, body, expected) in PATH_CONFUSION {
            jobs.push(Box::pin(async move {
                let (got, text) = m.raw(caller, method, target, body).await;
                Cell {
                    row: format!("raw {method} {target}"),
                    caller: caller.name,
                    expected: expected[column],
                    got,
                    detail: clip(&text),
                }
            }));
        }
        for (i, (tool, operation, expected)) in TOOLS.iter().enumerate() {
            jobs.push(Box::pin(async move {
                let (got, text) = m.mcp(caller, &tools_call(tool, operation, i + 1)).await;
                // A call the proxy let through is the core's JSON-RPC answer to that id.
                let answered = got != 200
                    || serde_json::from_str::<Value>(&text).is_ok_and(|a| a["id"] == i + 1);
                Cell {
                    row: format!("MCP {tool} {operation}"),
                    caller: caller.name,
                    expected: expected[column],
                    got: if answered { got } else { 0 },
                    detail: clip(&text),
                }
            }));
        }
        for (method, expected) in METHODS {
            jobs.push(Box::pin(async move {
                let message = json!({"jsonrpc":"2.0","id":"m","method":method});
                let (got, text) = m.mcp(caller, &message).await;
                Cell {
                    row: format!("MCP method {method}"),
                    caller: caller.name,
                    expected: expected[column],
                    got,
                    detail: clip(&text),
                }
            }));
        }
    }
    let cells: Vec<Cell> = futures_util::stream::iter(jobs)
        .buffer_unordered(12)
        .collect()
        .await;
    let total = cells.len();
    let wrong: Vec<String> = cells
        .iter()
        .filter(|c| c.expected != c.got)
        .map(|c| {
            format!(
                "{:<45} {:<10} expected {} got {}: {}",
                c.row, c.caller, c.expected, c.got, c.detail
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {total} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
