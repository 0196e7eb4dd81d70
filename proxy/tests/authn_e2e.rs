//! Authentication end to end: the real `mimir-proxy` with API keys, dev users and lockdown, in
//! front of an echo upstream that shows what the core would receive.

mod authn_harness;
#[allow(dead_code)]
mod support;

use authn_harness::AuthProxy;
use serde_json::Value;
use std::time::Duration;
use support::{await_status, Upstream};

const DEV_ADMIN: (&str, &str) = ("MIMIR_DEV_USER_ADMIN", "admin:Adm1n-pass:admin,developer");
const DEV_VIEWER: (&str, &str) = ("MIMIR_DEV_USER_VIEWER", "viewer:v13wer-pass");

fn seen<'a>(echo: &'a Value, header: &str) -> Vec<&'a str> {
    echo["headers"][header]
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

async fn start() -> (Upstream, AuthProxy) {
    start_with("").await
}

/// `auth_toml` goes inside `[auth]`.
async fn start_with(auth_toml: &str) -> (Upstream, AuthProxy) {
    let upstream = Upstream::start().await;
    let env = [DEV_ADMIN, DEV_VIEWER];
    let proxy = AuthProxy::start(&upstream.addr.to_string(), auth_toml, &env).await;
    (upstream, proxy)
}

async fn login(proxy: &AuthProxy, user: &str, password: &str) -> String {
    let resp = proxy
        .client()
        .post(proxy.url("/auth/login"))
        .json(&serde_json::json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["success"], true);
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_requests_get_a_bearer_challenge() {
    let (upstream, proxy) = start().await;
    let client = proxy.client();
    for path in ["/mcp", "/api/nodes", "/", "/auth", "/healthz"] {
        let resp = client.get(proxy.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        let challenge = resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        let expected = format!(
            "Bearer realm=\"mimir\", resource_metadata=\"https://localhost:{}/.well-known/oauth-protected-resource\"",
            proxy.addr.port()
        );
        assert_eq!(challenge, expected);
        assert!(resp.headers().contains_key("strict-transport-security"));
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["message"], "authentication required");
        assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    }
    // A credential that is not Bearer is refused, never ignored.
    for header in ["Basic YWRtaW46YWRtaW4=", "bearer", "Token x", "Bearer a b"] {
        let resp = client
            .get(proxy.url("/api/nodes"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{header}");
        let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.ends_with("error=\"invalid_token\""),
            "{challenge}"
        );
    }
    // Two credentials at once are ambiguous.
    let resp = client
        .get(proxy.url("/api/nodes"))
        .header("authorization", "Bearer a.b.c")
        .header("x-api-key", "mimir_x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Credentials in the query string are refused unless enabled.
    let resp = client
        .get(proxy.url("/api/nodes?access_token=a.b.c"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        upstream.hits(),
        0,
        "nothing unauthenticated reached the upstream"
    );

    // Public: the core's health check and the metadata document.
    let resp = client.get(proxy.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(upstream.hits(), 1);
    let resp = client
        .get(proxy.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let meta: Value = resp.json().await.unwrap();
    assert_eq!(
        meta["resource"],
        format!("https://localhost:{}", proxy.addr.port())
    );
    assert_eq!(
        meta["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
    let config: Value = client
        .get(proxy.url("/auth/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["devLoginEnabled"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_from_the_cli_authenticate_and_revoke() {
    let (_upstream, proxy) = start().await;
    let client = proxy.client();
    let (id, key) = proxy.create_key("ci-bot", "developer,analyst");
    assert!(key.starts_with("mimir_"));
    let stored = std::fs::read_to_string(proxy.dir.path().join("keys.json")).unwrap();
    assert!(!stored.contains(&key) && stored.contains(&id));
    tokio::time::sleep(Duration::from_millis(1100)).await;

    for (name, value) in [
        ("authorization", format!("Bearer {key}")),
        ("x-api-key", key.clone()),
    ] {
        let resp = client
            .get(proxy.url("/api/nodes"))
            .header(name, &value)
            .header("x-user-id", "mallory")
            .header("x-user-roles", "admin")
            .header("cookie", "theme=dark; __Host-mimir_session=forged")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{name}: {}", proxy.log());
        let echo: Value = resp.json().await.unwrap();
        assert_eq!(seen(&echo, "x-user-id"), ["apikey|ci-bot"]);
        assert_eq!(seen(&echo, "x-user-roles"), ["developer,analyst"]);
        assert_eq!(seen(&echo, "authorization"), Vec::<&str>::new());
        assert_eq!(seen(&echo, "x-api-key"), Vec::<&str>::new());
        assert_eq!(seen(&echo, "cookie"), ["theme=dark"]);
    }
    // One character changed (never to itself: a key ending in "A" would stay valid).
    let last = if key.ends_with('A') { "B" } else { "A" };
    let wrong = format!("{}{last}", &key[..key.len() - 1]);
    let resp = client
        .get(proxy.url("/api/nodes"))
        .header("x-api-key", wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let listed = proxy.cli(&["keys", "list"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains(&id) && listed.contains("active") && !listed.contains(&key));
    assert!(proxy.cli(&["keys", "revoke", &id]).status.success());
    await_status("revoked key", 401, || async {
        client
            .get(proxy.url("/api/nodes"))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
    .await;
    let resp = client
        .get(proxy.url("/api/nodes"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        401,
        "revoked key refused by the running proxy"
    );
    let log = proxy.log();
    assert!(!log.contains(&key[6..]), "the key never appears in the log");
    assert!(log.contains(&id), "the key id does: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_users_log_in_and_get_proxy_tokens() {
    let (_upstream, proxy) = start_with("password_grant = true").await;
    let client = proxy.client();
    let token = login(&proxy, "admin", "Adm1n-pass").await;
    let echo: Value = client
        .get(proxy.url("/api/nodes"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen(&echo, "x-user-id"), ["dev|admin"]);
    assert_eq!(seen(&echo, "x-user-roles"), ["admin,developer"]);

    // Form-encoded login (upstream's web UI) and the password grant for scripts.
    let resp = client
        .post(proxy.url("/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=viewer&password=v13wer-pass")
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["user"]["roles"], serde_json::json!(["viewer"]));
    let resp = client
        .post(proxy.url("/auth/token"))
        .json(&serde_json::json!({"grant_type": "password", "username": "viewer", "password": "v13wer-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);

    for (body, status, error) in [
        (
            serde_json::json!({"grant_type": "password", "username": "viewer", "password": "nope"}),
            400,
            "invalid_grant",
        ),
        (
            serde_json::json!({"grant_type": "password", "username": "ghost", "password": "v13wer-pass"}),
            400,
            "invalid_grant",
        ),
        (
            serde_json::json!({"grant_type": "client_credentials"}),
            400,
            "unsupported_grant_type",
        ),
        (
            serde_json::json!({"grant_type": "password"}),
            400,
            "invalid_request",
        ),
    ] {
        let resp = client
            .post(proxy.url("/auth/token"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status);
        let got: Value = resp.json().await.unwrap();
        assert_eq!(got["error"], error);
    }
    let resp = client
        .post(proxy.url("/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client.get(proxy.url("/auth/login")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert!(!proxy.log().contains("Adm1n-pass"));
}

/// Without `auth.password_grant`, `/auth/token` refuses the grant before looking at the password:
/// more wrong passwords than the brute-force limit allows do not block the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_grant_is_off_by_default() {
    let (_upstream, proxy) = start().await;
    let client = proxy.client();
    let disabled = serde_json::json!({
        "error": "unsupported_grant_type",
        "error_description": "the password grant is disabled (auth.password_grant)",
    });
    // The right password, then more wrong ones than the brute-force limit (5) allows.
    let passwords = std::iter::once("v13wer-pass").chain(std::iter::repeat_n("nope", 6));
    for password in passwords {
        let resp = client
            .post(proxy.url("/auth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", "viewer"),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert_eq!(resp.json::<Value>().await.unwrap(), disabled);
    }
    // Not blocked, and `/auth/login` is unaffected.
    login(&proxy, "viewer", "v13wer-pass").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockdown_revokes_keys_and_tokens_across_restarts() {
    let (upstream, proxy) = start().await;
    let client = proxy.client();
    let (_, key) = proxy.create_key("old", "viewer");
    let token = login(&proxy, "admin", "Adm1n-pass").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let get = |credential: &str| {
        client
            .get(proxy.url("/api/nodes"))
            .bearer_auth(credential.to_owned())
            .send()
    };
    let status = |credential: &str| {
        let sent = get(credential);
        async move { sent.await.unwrap().status().as_u16() }
    };
    await_status("new key", 200, || status(&key)).await;
    assert_eq!(get(&token).await.unwrap().status(), 200);

    assert!(proxy.cli(&["lockdown"]).status.success());
    await_status("key after lockdown", 401, || status(&key)).await;
    assert_eq!(
        get(&token).await.unwrap().status(),
        401,
        "cached token revoked too"
    );

    let (_, new_key) = proxy.create_key("new", "viewer");
    let new_token = login(&proxy, "admin", "Adm1n-pass").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    await_status("key made after lockdown", 200, || status(&new_key)).await;
    assert_eq!(get(&new_token).await.unwrap().status(), 200);

    // A restarted proxy reads the same lockdown file.
    let dir = proxy.dir.path().to_owned();
    let restarted = AuthProxy::start(
        &upstream.addr.to_string(),
        &format!(
            "keys_file = \"{0}/keys.json\"\nlockdown_file = \"{0}/lockdown\"",
            dir.display()
        )
        .replace("keys_file", "# keys_file")
        .replace("lockdown_file", "# lockdown_file"),
        &[DEV_ADMIN],
    )
    .await;
    std::fs::copy(dir.join("lockdown"), restarted.dir.path().join("lockdown")).unwrap();
    std::fs::copy(
        dir.join("keys.json"),
        restarted.dir.path().join("keys.json"),
    )
    .unwrap();
    let client = restarted.client();
    for (credential, status) in [(&new_key, 200), (&key, 401)] {
        await_status("restarted proxy", status, || async {
            client
                .get(restarted.url("/api/nodes"))
                .bearer_auth(credential)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
        .await;
    }
}
