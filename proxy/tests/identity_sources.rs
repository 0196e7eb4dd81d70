//! The identity the core receives (docs/identity-assertion.md), through the real proxy in front
//! of the real core, which trusts only the proxy's signed assertions: users of different sources
//! never share an identity (subject "alice" at one OpenID issuer, "alice" at another and the dev
//! user alice are three people for privacy requests, MCP sessions and confirmations), and an
//! assertion copied off the proxy → core link vouches for no request but its own.
//!
//! Runs the core binary: `MIMIR_CORE_BIN`, default `target/debug/mimir-core`
//! (`cargo build -p mimir-core`).

mod authn_harness;
#[allow(dead_code)]
mod support;

use authn_harness::keys::{self, now};
use authn_harness::{issuer, AuthProxy};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

const RESOURCE: &str = "https://mimir.test";

struct Caller {
    name: &'static str,
    token: String,
    /// `<source>|alice`: the issuer's host and port, or `dev`.
    expected_id: String,
    /// As the core knows the caller: the author of the caller's node.
    id: String,
    node: String,
}

struct World {
    proxy: AuthProxy,
    client: reqwest::Client,
    _core: support::Core,
    _keys: tempfile::TempDir,
}

impl World {
    fn request(&self, caller: &Caller, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.proxy.url(path))
            .bearer_auth(&caller.token)
    }

    async fn send(&self, request: RequestBuilder) -> (u16, Value) {
        let resp = request.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn mcp(&self, caller: &Caller, body: Value) -> RequestBuilder {
        self.request(caller, Method::POST, "/mcp")
            .header("accept", "application/json, text/event-stream")
            .json(&body)
    }

    /// A new MCP session of `caller`.
    async fn mcp_session(&self, caller: &Caller) -> String {
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "identity-sources", "version": "1"}}});
        let resp = self.mcp(caller, initialize).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{}", self.proxy.log());
        resp.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// `ping` in MCP session `session`, as `caller`.
    async fn ping(&self, caller: &Caller, session: &str) -> (u16, Value) {
        let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
        let request = self
            .mcp(caller, ping)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18");
        self.send(request).await
    }
}

/// A core enforcing assertions, two issuers, a dev user, and the proxy tying them together;
/// each caller has written one node.
async fn world() -> (World, Vec<Caller>) {
    let keys_dir = tempfile::tempdir().unwrap();
    let identity = support::identity_keygen(keys_dir.path());
    let core = support::start_enforcing_core(keys_dir.path()).await;
    let (key_a, key_b) = (keys::ec("a"), keys::ec("b"));
    let (issuer_a, _) = issuer::serve(json!({"keys": [key_a.jwk]})).await;
    let (issuer_b, _) = issuer::serve(json!({"keys": [key_b.jwk]})).await;
    let proxy = AuthProxy::start(
        &core.addr,
        &format!(
            r#"resource = "{RESOURCE}"
allow_query_credentials = true
[[auth.issuers]]
issuer = "{issuer_a}"
algorithms = ["ES256"]
[[auth.issuers]]
issuer = "{issuer_b}"
algorithms = ["ES256"]
{}"#,
            identity
        ),
        &[("MIMIR_DEV_USER_ALICE", "alice:Al1ce-pass:developer")],
    )
    .await;
    let client = proxy.client();
    let now = now();
    let token = |key: &keys::TestKey, iss: &str| {
        key.sign(
            &json!({"iss": iss, "aud": RESOURCE, "sub": "alice", "iat": now,
                         "exp": now + 600, "roles": ["developer"]}),
        )
    };
    let login = proxy.login(&client, "alice", "Al1ce-pass").await;
    let source = |issuer: &str| issuer.trim_start_matches("http://").to_owned();
    let callers = [
        (
            "alice of issuer A",
            token(&key_a, &issuer_a),
            source(&issuer_a),
        ),
        (
            "alice of issuer B",
            token(&key_b, &issuer_b),
            source(&issuer_b),
        ),
        (
            "dev user alice",
            login["access_token"].as_str().unwrap().to_owned(),
            "dev".to_owned(),
        ),
    ];
    let world = World {
        proxy,
        client,
        _core: core,
        _keys: keys_dir,
    };
    let mut made = Vec::new();
    for (name, token, source) in callers {
        let mut caller = Caller {
            name,
            token,
            expected_id: format!("{source}|alice"),
            id: String::new(),
            node: String::new(),
        };
        let note = json!({"type": "memory", "properties": {"title": format!("note of {name}")}});
        let (status, body) = world
            .send(
                world
                    .request(&caller, Method::POST, "/api/nodes")
                    .json(&note),
            )
            .await;
        assert_eq!(status, 201, "{name}: {body}\n{}", world.proxy.log());
        caller.id = body["node"]["created_by"].as_str().unwrap().to_owned();
        caller.node = body["node"]["id"].as_str().unwrap().to_owned();
        made.push(caller);
    }
    (world, made)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_subjects_of_different_sources_are_different_users() {
    let (w, callers) = world().await;

    // Privacy export: each caller's own data, and nobody else's.
    for caller in &callers {
        let export = w
            .request(caller, Method::GET, "/api/privacy/export")
            .query(&[("user", &caller.id)]);
        let (status, body) = w.send(export).await;
        assert_eq!(status, 200, "{}: {body}", caller.name);
        let nodes: Vec<&str> = body["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n["id"].as_str())
            .collect();
        assert_eq!(nodes, [caller.node.as_str()], "{} exports", caller.name);
    }

    let alice_a = &callers[0];
    // A credential in the query (allowed here) is removed before forwarding: the assertion is
    // bound to the target the core receives, without it.
    let in_query = w.client.get(w.proxy.url("/api/privacy/export")).query(&[
        ("user", alice_a.id.as_str()),
        ("access_token", alice_a.token.as_str()),
    ]);
    let (status, body) = w.send(in_query).await;
    assert_eq!(status, 200, "{body}");

    let session = w.mcp_session(alice_a).await;
    let (status, body) = w.ping(alice_a, &session).await;
    assert_eq!(status, 200, "the session's owner: {body}");

    let erase = format!("/api/privacy/user/{}", alice_a.id);
    let (status, preview) = w.send(w.request(alice_a, Method::DELETE, &erase)).await;
    assert_eq!(status, 200, "{preview}");
    let token = preview["confirmationToken"].as_str().unwrap().to_owned();

    for other in &callers[1..] {
        // Another source's alice is not the owner of the MCP session...
        let (status, body) = w.ping(other, &session).await;
        assert_eq!(
            status, 404,
            "{} uses the session of {}: {body}",
            other.name, alice_a.name
        );
        // ...may not ask for her data...
        let export = w
            .request(other, Method::GET, "/api/privacy/export")
            .query(&[("user", &alice_a.id)]);
        let (status, body) = w.send(export).await;
        assert_eq!(
            status, 403,
            "{} exports {}: {body}",
            other.name, alice_a.name
        );
        // ...nor redeem her confirmation to erase it.
        let confirmed = w
            .request(other, Method::DELETE, &erase)
            .query(&[("confirm", &token)]);
        let (status, body) = w.send(confirmed).await;
        assert_eq!(
            status, 403,
            "{} erases {}: {body}",
            other.name, alice_a.name
        );
    }
    let (status, _) = w
        .send(w.request(
            alice_a,
            Method::GET,
            &format!("/api/nodes/{}", alice_a.node),
        ))
        .await;
    assert_eq!(status, 200, "her node is still there");

    for caller in &callers {
        assert_eq!(caller.id, caller.expected_id, "{}", caller.name);
    }
}

/// A copy of an assertion (what a listener on the proxy → core network sees) replayed to the
/// core: accepted for the request it was made for, refused for any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_assertion_serves_only_its_own_request() {
    let keys = tempfile::tempdir().unwrap();
    let identity = support::identity_keygen(keys.path());
    let core = support::start_enforcing_core(keys.path()).await;
    let echo = support::Upstream::start().await;
    let admin = ("MIMIR_DEV_USER_OPS", "ops:0ps-pass:admin");
    let proxy = AuthProxy::start(&echo.addr.to_string(), &identity, &[admin]).await;
    let client = proxy.client();
    let login = proxy.login(&client, "ops", "0ps-pass").await;
    let target = "/api/nodes/query?limit=1";
    let seen: Value = client
        .get(proxy.url(target))
        .bearer_auth(login["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = |name: &str| match seen["headers"][name][0].as_str() {
        Some(value) => value.to_owned(),
        None => panic!("no {name} in {seen}\n{}", proxy.log()),
    };
    let (assertion, user) = (header("x-mimir-identity"), header("x-user-id"));

    let replay = |method: Method, target: &str| {
        let request = reqwest::Client::new()
            .request(method, format!("http://{}{target}", core.addr))
            .header("x-mimir-identity", &assertion)
            .header("x-user-id", &user);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(replay(Method::GET, target).await, 200, "its own request");
    let erase = format!("/api/privacy/user/{}", user.replace('|', "%7C"));
    for (method, other) in [
        (Method::DELETE, erase.as_str()),
        (Method::GET, "/api/privacy/export?user=someone"),
        (Method::GET, "/api/nodes/query?limit=2"),
        (Method::GET, "/api/nodes/query"),
        (Method::POST, "/mcp"),
    ] {
        assert_eq!(replay(method.clone(), other).await, 401, "{method} {other}");
    }
}
