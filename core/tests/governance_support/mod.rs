//! A core on a real listener with identity enforcement on, a test Ed25519 key pair whose
//! public half the core trusts, and REST / MCP calls carrying signed identity assertions.
#![allow(dead_code)]

pub mod audit;
pub mod matrix;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use mimir_core::config::CoreConfig;
use mimir_core::store::embedded::EmbeddedStore;
use mimir_core::store::GraphStore;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tempfile::TempDir;

pub const HEADER: &str = "x-mimir-identity";

/// An Ed25519 key pair: PKCS#8 PEM to sign, SPKI PEM to verify.
pub struct Keys {
    pub private_pem: String,
    pub public_pem: String,
}

impl Keys {
    pub fn generate() -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("ed25519 key");
        Self {
            private_pem: pair.serialize_pem(),
            public_pem: pair.public_key_pem(),
        }
    }

    /// An assertion as the proxy signs it for `method` and `target` (path and query), with
    /// `claims` merged over the valid defaults.
    pub fn sign(&self, method: &str, target: &str, claims: Value) -> String {
        self.sign_typed("mimir-identity+jwt", method, target, claims)
    }

    /// As [`Self::sign`], with header type `typ`.
    pub fn sign_typed(&self, typ: &str, method: &str, target: &str, claims: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut all = json!({
            "iss": "mimir-proxy", "aud": "mimir-core", "src": "idp", "sub": "idp|alice",
            "roles": ["viewer"], "clearance": "internal", "auth": "oidc",
            "htm": method, "target_hash": target_hash(target), "iat": now, "exp": now + 30,
        });
        for (key, value) in claims.as_object().expect("claims object") {
            all[key] = value.clone();
        }
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(typ.into());
        let key = EncodingKey::from_ed_pem(self.private_pem.as_bytes()).expect("signing key");
        encode(&header, &all, &key).expect("sign")
    }
}

/// The `target_hash` claim of `target`: SHA-256, base64url without padding.
pub fn target_hash(target: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(target.as_bytes()))
}

/// Who calls: a user (`<source>|<subject>`) with roles and a clearance (signed per request), or
/// nobody.
#[derive(Clone)]
pub struct As {
    pub user: &'static str,
    pub roles: &'static [&'static str],
    pub clearance: &'static str,
}

/// The shipped role → clearance defaults (docs/identity-assertion.md).
pub const ADMIN: As = As {
    user: "idp|root",
    roles: &["admin"],
    clearance: "restricted",
};
pub const DEVELOPER: As = As {
    user: "idp|dev",
    roles: &["developer"],
    clearance: "confidential",
};
pub const ANALYST: As = As {
    user: "idp|ann",
    roles: &["analyst"],
    clearance: "internal",
};
pub const GUEST: As = As {
    user: "idp|guest",
    roles: &["guest"],
    clearance: "public",
};

pub struct Core {
    pub base: String,
    pub client: Client,
    pub keys: Keys,
    pub store: Arc<dyn GraphStore>,
    _dir: Option<TempDir>,
}

/// The configuration the tests run with: enforcement on, the test key trusted.
pub fn config(keys: &Keys, dir: &std::path::Path) -> CoreConfig {
    let mut config = CoreConfig::with_data_dir(dir.to_path_buf());
    config.proxy_public_key_pem = Some(keys.public_pem.clone());
    config.require_proxy_identity = true;
    config
}

/// A core over a fresh embedded store.
pub async fn embedded(adjust: impl FnOnce(&mut CoreConfig)) -> Core {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(&dir.path().join("s.sqlite3")).expect("open");
    let mut core = over(Arc::new(store), adjust).await;
    core._dir = Some(dir);
    core
}

/// A core over `store`.
pub async fn over(store: Arc<dyn GraphStore>, adjust: impl FnOnce(&mut CoreConfig)) -> Core {
    let keys = Keys::generate();
    let mut config = config(&keys, std::path::Path::new("unused"));
    adjust(&mut config);
    let state = mimir_core::state::AppState::new(Arc::clone(&store), config).expect("state");
    let app = mimir_core::router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Core {
        base,
        client: Client::new(),
        keys,
        store,
        _dir: None,
    }
}

pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

impl Core {
    pub fn request(&self, method: Method, path: &str, who: Option<&As>) -> RequestBuilder {
        let url = reqwest::Url::parse(&format!("{}{path}", self.base)).expect("url");
        // The target as sent (escaped where `path` was not), which the assertion is bound to.
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let request = self.client.request(method.clone(), url);
        match who {
            Some(who) => {
                let (source, _) = who.user.split_once('|').expect("a qualified user");
                let claims = json!({"src": source, "sub": who.user, "roles": who.roles,
                                    "clearance": who.clearance});
                request.header(HEADER, self.keys.sign(method.as_str(), &target, claims))
            }
            None => request,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        who: &As,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path, Some(who));
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("send")).await
    }

    pub async fn get(&self, path: &str, who: &As) -> (StatusCode, Value) {
        self.call(Method::GET, path, who, None).await
    }

    /// Creates a node as `who`; returns its id.
    pub async fn create(&self, who: &As, node_type: &str, id: &str, properties: Value) -> String {
        let body = json!({"type": node_type, "id": id, "properties": properties});
        let (status, body) = self.call(Method::POST, "/api/nodes", who, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["node"]["id"].as_str().expect("id").to_owned()
    }

    pub async fn link(&self, who: &As, source: &str, target: &str) -> String {
        let body = json!({"source": source, "target": target, "type": "relates_to"});
        let (status, body) = self.call(Method::POST, "/api/edges", who, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["edge"]["id"].as_str().expect("id").to_owned()
    }

    /// A new MCP session of `who`; returns its id.
    pub async fn mcp_session(&self, who: &As) -> String {
        let body = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
        let response = self
            .request(Method::POST, "/mcp", Some(who))
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::OK);
        response.headers()["mcp-session-id"]
            .to_str()
            .expect("session")
            .to_owned()
    }

    /// A JSON-RPC message (or batch) in MCP `session` of `who`.
    pub async fn mcp_send(&self, who: &As, session: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .request(Method::POST, "/mcp", Some(who))
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18")
            .json(body)
            .send()
            .await
            .expect("send");
        read(response).await
    }

    /// The structured result of MCP tool `tool` called by `who`.
    pub async fn tool(&self, who: &As, tool: &str, arguments: Value) -> Value {
        let session = self.mcp_session(who).await;
        let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name": tool, "arguments": arguments}});
        let (status, reply) = self.mcp_send(who, &session, &body).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        let mut result = reply["result"]["structuredContent"].clone();
        result["isError"] = reply["result"]
            .get("isError")
            .cloned()
            .unwrap_or(json!(false));
        result
    }
}

/// The sorted ids found under `key` (an array of nodes, or of `{node}` results) of `value`.
pub fn ids(value: &Value, key: &str) -> Vec<String> {
    let mut ids: Vec<String> = value[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} array in {value}"))
        .iter()
        .map(|item| {
            item.get("node").unwrap_or(item)["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}
