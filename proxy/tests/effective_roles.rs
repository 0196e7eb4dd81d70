//! The core learns only the roles the proxy granted: with `strictGroupMappings`, an IdP group
//! that happens to be named like a role (`admin`) counts only through `groupMappings`, at the
//! proxy and at the core alike (privacy requests of other users, clearance of restricted nodes).
//! The real core behind the real proxy, bearer JWTs from a small issuer.
//!
//! Runs the core binary: `MIMIR_CORE_BIN`, default `target/debug/mimir-core`.

mod authn_harness;
#[allow(dead_code)]
mod support;

use authn_harness::issuer::serve as serve_issuer;
use authn_harness::keys::{self, now};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{Options, Proxy};

const RESOURCE: &str = "https://mimir.test";

/// The shipped RBAC document with strict group mappings: the IdP group `admin` is mapped to
/// viewer, the group `mimir-admins` to admin.
fn strict_rbac(dir: &std::path::Path) -> std::path::PathBuf {
    let shipped = authn_harness::policy_dir().join("rbac.json");
    let mut rbac: Value = serde_json::from_slice(&std::fs::read(shipped).unwrap()).unwrap();
    rbac["strictGroupMappings"] = json!(true);
    rbac["groupMappings"] = json!({"admin": ["viewer"], "mimir-admins": ["admin"]});
    let path = dir.join("rbac.json");
    std::fs::write(&path, rbac.to_string()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_core_sees_the_mapped_roles_not_the_idp_groups() {
    let state = tempfile::tempdir().unwrap();
    let identity = support::identity_keygen(state.path());
    let core = support::start_enforcing_core(state.path()).await;
    let key = keys::rsa("rsa-1");
    let (issuer, _) = serve_issuer(json!({"keys": [key.jwk]})).await;
    let mut opts = Options::to(core.addr.clone());
    opts.extra_toml = format!(
        "{auth}resource = \"{RESOURCE}\"\n[[auth.issuers]]\nissuer = \"{issuer}\"\nsource = \"corp\"\n\
         algorithms = [\"RS256\"]\nrole_claims = [\"groups\"]\n\
         {identity}\
         [authz]\nrbac = \"{rbac}\"\nroutes = \"{routes}\"\n",
        auth = support::auth_toml(state.path()),
        rbac = strict_rbac(state.path()).display(),
        routes = authn_harness::policy_dir().join("routes.toml").display(),
    );
    let proxy = Proxy::start(opts).await;
    let client = proxy.client();
    let token = |sub: &str, group: &str| {
        let now = now();
        key.sign(&json!({
            "iss": issuer, "aud": RESOURCE, "sub": sub, "iat": now, "exp": now + 300,
            "groups": [group],
        }))
    };
    let (admin, mallory) = (token("ada", "mimir-admins"), token("mallory", "admin"));
    let call = |method: reqwest::Method, path: &str, token: &str| {
        client
            .request(method, proxy.url(path))
            .header("authorization", format!("Bearer {token}"))
    };

    let status = |resp: reqwest::Response| resp.status();
    let get = |path: &str, token: &str| call(reqwest::Method::GET, path, token).send();
    // The IdP group named `admin` grants viewer only: the proxy lets a privacy export through
    // (any signed-in caller may ask) and the core, told "viewer", refuses another user's.
    assert_eq!(
        status(
            get("/api/privacy/export?user=corp%7Cmallory", &mallory)
                .await
                .unwrap()
        ),
        StatusCode::OK
    );
    assert_eq!(
        status(
            get("/api/privacy/export?user=corp%7Cbob", &mallory)
                .await
                .unwrap()
        ),
        StatusCode::FORBIDDEN
    );
    let secret = json!({"id": "secret-1", "type": "memory",
        "properties": {"title": "board minutes", "sensitivity": "restricted"}});
    let resp = call(reqwest::Method::POST, "/api/nodes", &admin)
        .json(&secret)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());

    // The mapped admin may act for others and read restricted nodes.
    assert_eq!(
        status(
            get("/api/privacy/export?user=corp%7Cbob", &admin)
                .await
                .unwrap()
        ),
        StatusCode::OK
    );
    assert_eq!(
        status(get("/api/nodes/secret-1", &admin).await.unwrap()),
        StatusCode::OK
    );
    // Nor does the group lift the clearance the core applies: viewers do not see restricted.
    let hidden = get("/api/nodes/secret-1", &mallory).await.unwrap().status();
    assert!(
        hidden == StatusCode::NOT_FOUND || hidden == StatusCode::FORBIDDEN,
        "a viewer read a restricted node: {hidden}"
    );
    // And what the proxy itself decides follows the same roles: viewers cannot write.
    let write = call(reqwest::Method::POST, "/api/nodes", &mallory)
        .json(&json!({"id": "m-1", "type": "memory", "properties": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
}
