//! The identity assertion contract (docs/identity-assertion.md) as the core enforces it: what
//! is refused with 401, what a valid assertion establishes, and configurations the core refuses
//! to start with.

mod governance_support;

use governance_support::{read, target_hash, Keys, ADMIN, HEADER};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use mimir_core::state::AppState;
use mimir_core::store::embedded::EmbeddedStore;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

async fn post_node(
    core: &governance_support::Core,
    token: Option<&str>,
    user: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = core
        .client
        .post(format!("{}/api/nodes", core.base))
        .json(&json!({"type": "memory", "properties": {"title": "x"}}));
    if let Some(token) = token {
        request = request.header(HEADER, token);
    }
    if let Some(user) = user {
        request = request.header("x-user-id", user);
    }
    read(request.send().await.expect("send")).await
}

#[tokio::test]
async fn refuses_missing_and_invalid_assertions() {
    let core = governance_support::embedded(|_| {}).await;
    let now = chrono::Utc::now().timestamp();

    let (status, body) = post_node(&core, None, Some("alice")).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::UNAUTHORIZED, json!("identity_required"))
    );
    let health = core
        .client
        .get(format!("{}/health", core.base))
        .send()
        .await
        .expect("send");
    assert_eq!(health.status(), StatusCode::OK, "health needs no assertion");
    let (status, _) = read(
        core.client
            .post(format!("{}/mcp", core.base))
            .json(&json!({}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "MCP is behind the same gate"
    );

    let other_key = Keys::generate();
    let hs256 = encode(
        &{
            let mut h = Header::new(Algorithm::HS256);
            h.typ = Some("mimir-identity+jwt".into());
            h
        },
        &json!({"iss": "mimir-proxy", "aud": "mimir-core", "src": "dev", "sub": "dev|alice",
                "roles": [], "clearance": "restricted", "auth": "dev", "htm": "POST",
                "target_hash": target_hash("/api/nodes"), "iat": now, "exp": now + 30}),
        &EncodingKey::from_secret(core.keys.public_pem.as_bytes()),
    )
    .expect("hs256");
    let refused = [
        (
            "another key",
            other_key.sign("POST", "/api/nodes", json!({})),
        ),
        ("HS256 keyed with the public key", hs256),
        (
            "expired beyond the leeway",
            core.keys.sign(
                "POST",
                "/api/nodes",
                json!({"iat": now - 45, "exp": now - 15}),
            ),
        ),
        (
            "another issuer",
            core.keys
                .sign("POST", "/api/nodes", json!({"iss": "someone"})),
        ),
        (
            "another audience",
            core.keys
                .sign("POST", "/api/nodes", json!({"aud": "mimir-other"})),
        ),
        (
            "an unknown clearance",
            core.keys
                .sign("POST", "/api/nodes", json!({"clearance": "top-secret"})),
        ),
        (
            "no roles",
            core.keys.sign("POST", "/api/nodes", json!({"roles": null})),
        ),
        (
            "a blank subject",
            core.keys.sign("POST", "/api/nodes", json!({"sub": ""})),
        ),
        (
            "no source",
            core.keys.sign("POST", "/api/nodes", json!({"src": null})),
        ),
        (
            "a subject without its source",
            core.keys
                .sign("POST", "/api/nodes", json!({"sub": "alice"})),
        ),
        (
            "a subject of another source",
            core.keys.sign("POST", "/api/nodes", json!({"src": "corp"})),
        ),
        (
            "a source holding the separator",
            core.keys.sign(
                "POST",
                "/api/nodes",
                json!({"src": "idp|x", "sub": "idp|x|alice"}),
            ),
        ),
        (
            "no subject within the source",
            core.keys.sign("POST", "/api/nodes", json!({"sub": "idp|"})),
        ),
        (
            "bound to another method",
            core.keys.sign("PUT", "/api/nodes", json!({})),
        ),
        (
            "bound to another path",
            core.keys.sign("POST", "/api/edges", json!({})),
        ),
        (
            "bound to another query",
            core.keys.sign("POST", "/api/nodes?x=1", json!({})),
        ),
        (
            "not bound",
            core.keys.sign(
                "POST",
                "/api/nodes",
                json!({"htm": null, "target_hash": null}),
            ),
        ),
        (
            "another type",
            core.keys.sign_typed("JWT", "POST", "/api/nodes", json!({})),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in refused {
        let (status, body) = post_node(&core, Some(&token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["error"], "identity_invalid", "{what}");
    }

    let token = core.keys.sign("POST", "/api/nodes", json!({}));
    let (status, _) = post_node(&core, Some(&token), Some("mallory")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "X-User-ID must match the assertion"
    );
    let (status, _) = post_node(&core, Some(&token), Some("alice")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "X-User-ID carries the qualified id"
    );
    let (status, body) = post_node(&core, Some(&token), Some("idp|alice")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post_node(&core, Some(&token), None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        body["node"]["created_by"], "idp|alice",
        "the asserted subject is the author"
    );
    let skewed = core.keys.sign(
        "POST",
        "/api/nodes",
        json!({"iat": now - 35, "exp": now - 5}),
    );
    let (status, _) = post_node(&core, Some(&skewed), None).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "10 s of clock skew are allowed"
    );
}

#[tokio::test]
async fn without_enforcement_loopback_callers_get_the_unasserted_clearance() {
    let core = governance_support::embedded(|c| c.require_proxy_identity = false).await;
    core.create(
        &ADMIN,
        "memory",
        "secret",
        json!({"sensitivity": "confidential"}),
    )
    .await;
    core.create(&ADMIN, "memory", "plain", json!({})).await;
    let get = |id: &'static str| {
        let request = core
            .client
            .get(format!("{}/api/nodes/{id}", core.base))
            .header("x-user-id", "bob");
        async move { request.send().await.expect("send").status() }
    };
    assert_eq!(get("plain").await, StatusCode::OK);
    assert_eq!(get("secret").await, StatusCode::NOT_FOUND);
    let (status, body) = post_node(&core, None, Some("bob")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["node"]["created_by"], "bob");
    assert_eq!(body["node"]["sensitivity"], "internal");

    let public_only = governance_support::embedded(|c| {
        c.require_proxy_identity = false;
        c.unasserted_clearance = mimir_core::governance::Sensitivity::Public;
    })
    .await;
    public_only
        .create(&ADMIN, "memory", "plain", json!({}))
        .await;
    let response = public_only
        .client
        .get(format!("{}/api/nodes/plain", public_only.base))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// Enforcement off and no key: an assertion cannot be checked, so it lifts no clearance.
#[tokio::test]
async fn an_assertion_without_a_key_to_check_it_is_ignored() {
    let core = governance_support::embedded(|c| c.require_proxy_identity = false).await;
    core.create(
        &ADMIN,
        "memory",
        "secret",
        json!({"sensitivity": "confidential"}),
    )
    .await;
    let keys = Keys::generate();
    let unchecked = governance_support::over(Arc::clone(&core.store), |c| {
        c.require_proxy_identity = false;
        c.proxy_public_key_pem = None;
    })
    .await;
    let token = keys.sign(
        "GET",
        "/api/nodes/secret",
        json!({"clearance": "restricted"}),
    );
    let response = unchecked
        .client
        .get(format!("{}/api/nodes/secret", unchecked.base))
        .header(HEADER, token)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

fn start_error(adjust: impl FnOnce(&mut mimir_core::config::CoreConfig)) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = Keys::generate();
    let mut config = governance_support::config(&keys, dir.path());
    adjust(&mut config);
    let store = EmbeddedStore::open(&dir.path().join("s.sqlite3")).expect("open");
    match AppState::new(Arc::new(store), config) {
        Ok(_) => String::new(),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn bad_identity_settings_refuse_to_start() {
    let error = start_error(|c| c.proxy_public_key_pem = None);
    assert!(
        error.contains("MIMIR_REQUIRE_PROXY_IDENTITY")
            && error.contains("MIMIR_PROXY_PUBLIC_KEY_FILE"),
        "{error}"
    );
    let error = start_error(|c| {
        c.proxy_public_key_pem =
            Some("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into())
    });
    assert!(error.starts_with("MIMIR_PROXY_PUBLIC_KEY:"), "{error}");
    let rsa_like = Keys::generate().private_pem;
    let error = start_error(|c| c.proxy_public_key_pem = Some(rsa_like));
    assert!(error.contains("not an Ed25519 public key"), "{error}");
    let error = start_error(|c| c.proxy_public_key_file = Some("/nonexistent/identity.pub".into()));
    assert!(
        error.contains("MIMIR_PROXY_PUBLIC_KEY or MIMIR_PROXY_PUBLIC_KEY_FILE, not both"),
        "{error}"
    );
    let error = start_error(|c| {
        c.proxy_public_key_pem = None;
        c.proxy_public_key_file = Some("/nonexistent/identity.pub".into());
    });
    assert!(
        error.contains("reading MIMIR_PROXY_PUBLIC_KEY_FILE /nonexistent/identity.pub"),
        "{error}"
    );
    let error = start_error(|c| c.identity_header = "bad header".into());
    assert!(error.contains("MIMIR_IDENTITY_HEADER"), "{error}");

    let dir = tempfile::tempdir().expect("tempdir");
    let keys = Keys::generate();
    let file = dir.path().join("identity.pub");
    std::fs::write(&file, &keys.public_pem).expect("write key");
    assert_eq!(
        start_error(|c| {
            c.proxy_public_key_pem = None;
            c.proxy_public_key_file = Some(file);
        }),
        "",
        "a key file is read"
    );
}
