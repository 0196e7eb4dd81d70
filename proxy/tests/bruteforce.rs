//! Brute-force protection through the real proxy: more than 5 failed logins or API-key attempts
//! in a minute (the defaults) block the client address and, separately, the user name or key id;
//! a blocked attempt is answered 429 with `Retry-After` before its credential is checked, even a
//! right one. Blocks are audit records and metrics; the passwords tried appear nowhere.
//! Client addresses come from `X-Forwarded-For`, which the proxy trusts from the loopback peer.

#[allow(dead_code)]
mod support;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use support::{Options, Proxy, Upstream};

const ALICE: (&str, &str) = ("MIMIR_DEV_USER_ALICE", "alice:Al1ce-secret-pw:viewer");
const BOB: (&str, &str) = ("MIMIR_DEV_USER_BOB", "bob:B0b-secret-pw:viewer");
const WRONG: &str = "not-the-Password-42";

fn config(state: &Path) -> String {
    format!(
        "{}\n{}\
         # Only the brute-force limits (on even with rate limits off) are under test.\n\
         [traffic]\nrate_limits = false\n",
        support::auth_toml(state),
        support::audit_file_toml(&state.join("audit.log"))
    )
}

async fn start(upstream: &Upstream, state: &Path) -> Proxy {
    // Every test of this binary sets the same values: the proxy inherits them.
    for (name, value) in [ALICE, BOB] {
        std::env::set_var(name, value);
    }
    let mut opts = Options::new(upstream);
    opts.trusted_proxies = r#"["127.0.0.1/32", "::1/128"]"#;
    opts.extra_toml = config(state);
    Proxy::start(opts).await
}

async fn login(proxy: &Proxy, ip: &str, user: &str, password: &str) -> Response {
    proxy
        .client()
        .post(proxy.url("/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn get_with_key(proxy: &Proxy, ip: &str, key: &str) -> Response {
    proxy
        .client()
        .get(proxy.url("/api/nodes"))
        .header("x-forwarded-for", ip)
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

/// 429 with a `Retry-After` within the 300 s block and the JSON error body.
async fn assert_blocked(resp: Response, what: &str) {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{what}");
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry), "{what}: retry-after {retry}");
    let body: Value = resp.json().await.unwrap();
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("too many failed authentication attempts"));
}

/// Stops the proxy (it flushes the audit log on SIGTERM) and reads its audit records.
fn stopped_records(proxy: &mut Proxy, state: &Path) -> Vec<Value> {
    proxy.signal("TERM");
    assert!(proxy.wait_exit(Duration::from_secs(20)).is_some());
    std::fs::read_to_string(state.join("audit.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn with_action<'a>(records: &'a [Value], action: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["event.action"] == action)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_block_the_address_and_the_user_name_separately() {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let mut proxy = start(&upstream, state.path()).await;

    // The name: six failures for alice, each from another address. Five are tolerated.
    for i in 1..=6 {
        let resp = login(&proxy, &format!("198.51.100.{i}"), "alice", WRONG).await;
        assert_eq!(resp.status(), 401, "failure {i}: {}", proxy.log());
    }
    // Now even the right password is refused unchecked, from a fresh address, on both
    // password endpoints; another user is not affected.
    let right = login(&proxy, "198.51.100.7", "alice", "Al1ce-secret-pw").await;
    assert_blocked(right, "alice blocked by name").await;
    let token = proxy
        .client()
        .post(proxy.url("/auth/token"))
        .header("x-forwarded-for", "198.51.100.8")
        .form(&[
            ("grant_type", "password"),
            ("username", "ALICE "),
            ("password", "Al1ce-secret-pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_blocked(token, "/auth/token, name normalized").await;
    let bob = login(&proxy, "198.51.100.9", "bob", "B0b-secret-pw").await;
    assert_eq!(bob.status(), 200);
    let bob_token = bob.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The address: six failures from one address, each for another name.
    for i in 0..6 {
        let resp = login(&proxy, "203.0.113.9", &format!("user{i}"), WRONG).await;
        assert_eq!(resp.status(), 401, "failure {i}");
    }
    let from_blocked = login(&proxy, "203.0.113.9", "bob", "B0b-secret-pw").await;
    assert_blocked(from_blocked, "address blocked").await;
    // Any credential from the blocked address is refused before it is checked.
    let hits = upstream.hits();
    let api = proxy
        .client()
        .get(proxy.url("/api/nodes"))
        .header("x-forwarded-for", "203.0.113.9")
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap();
    assert_blocked(api, "API request from the blocked address").await;
    assert_eq!(upstream.hits(), hits, "nothing forwarded");
    let elsewhere = login(&proxy, "203.0.113.10", "bob", "B0b-secret-pw").await;
    assert_eq!(elsewhere.status(), 200);

    proxy
        .metrics(&[
            r#"mimir_proxy_auth_failures_total{method="password"} 12"#,
            r#"mimir_proxy_bruteforce_blocks_total{target="ip"} 1"#,
            r#"mimir_proxy_bruteforce_blocks_total{target="user"} 1"#,
            r#"mimir_proxy_denials_total{reason="bruteforce"} 4"#,
        ])
        .await;

    let records = stopped_records(&mut proxy, state.path());
    assert_eq!(with_action(&records, "user-login-failed").len(), 12);
    assert_eq!(with_action(&records, "user-login").len(), 2);
    let blocks = with_action(&records, "brute-force-blocked");
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    let by_name = blocks
        .iter()
        .find(|r| r["rate_limit.name"] == "bruteforce-user")
        .unwrap();
    assert_eq!(by_name["user.name"], "alice");
    assert_eq!(by_name["source.ip"], "198.51.100.6");
    let by_ip = blocks
        .iter()
        .find(|r| r["rate_limit.name"] == "bruteforce-ip")
        .unwrap();
    assert_eq!(by_ip["source.ip"], "203.0.113.9");
    assert_eq!(with_action(&records, "rate-limited").len(), 4);
    let text = std::fs::read_to_string(state.path().join("audit.log")).unwrap();
    for secret in [WRONG, "Al1ce-secret-pw", "B0b-secret-pw", &bob_token] {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_api_keys_block_the_address_and_the_key_id() {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let key = support::create_key(state.path(), "ci", "viewer");
    let mut proxy = start(&upstream, state.path()).await;

    // Unknown keys from one address.
    for i in 0..6 {
        let bogus = format!("mimir_{i:012}_{}", "x".repeat(43));
        let resp = get_with_key(&proxy, "192.0.2.50", &bogus).await;
        assert_eq!(resp.status(), 401, "bogus key {i}: {}", proxy.log());
    }
    assert_blocked(
        get_with_key(&proxy, "192.0.2.50", &key).await,
        "valid key from the blocked address",
    )
    .await;
    assert_eq!(get_with_key(&proxy, "192.0.2.51", &key).await.status(), 200);

    // The real key's id with wrong secrets, from six addresses: the key id is blocked.
    let id_part = &key[..key.len() - 4];
    for i in 0..6 {
        let guess = format!("{id_part}{:04}", i);
        let resp = get_with_key(&proxy, &format!("192.0.2.{}", 60 + i), &guess).await;
        assert_eq!(resp.status(), 401, "guess {i}");
    }
    assert_blocked(
        get_with_key(&proxy, "192.0.2.70", &key).await,
        "key id blocked",
    )
    .await;

    // Refused bearer tokens are audited but not counted by default (count_tokens = false).
    for _ in 0..8 {
        let resp = proxy
            .client()
            .get(proxy.url("/api/nodes"))
            .header("x-forwarded-for", "192.0.2.80")
            .bearer_auth("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }

    proxy
        .metrics(&[
            r#"mimir_proxy_auth_failures_total{method="api_key"} 12"#,
            r#"mimir_proxy_auth_failures_total{method="jwt"} 8"#,
            r#"mimir_proxy_bruteforce_blocks_total{target="ip"} 1"#,
            r#"mimir_proxy_bruteforce_blocks_total{target="user"} 1"#,
        ])
        .await;
    let records = stopped_records(&mut proxy, state.path());
    let failed = with_action(&records, "user-login-failed");
    assert_eq!(failed.len(), 20);
    let key_id = &key["mimir_".len().."mimir_".len() + 12];
    assert!(failed
        .iter()
        .any(|r| r["user.name"] == key_id && r["authentication.method"] == "api_key"));
    assert!(failed
        .iter()
        .any(|r| r["authentication.method"] == "jwt" && r["source.ip"] == "192.0.2.80"));
    let text = std::fs::read_to_string(state.path().join("audit.log")).unwrap();
    assert!(!text.contains(&key), "the key is not in the audit log");
    assert!(
        !text.contains(&key[key.len() - 20..]),
        "nor its secret part"
    );
}

/// The browser's sign-in form checks the same passwords: its failures count too, and a blocked
/// address is refused there before the password is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_form_is_guarded_too() {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let proxy = start(&upstream, state.path()).await;
    let form = |password: &'static str| {
        proxy
            .client()
            .post(proxy.url("/login"))
            .header("x-forwarded-for", "203.0.113.77")
            .header("origin", format!("https://localhost:{}", proxy.addr.port()))
            .form(&[("username", "alice"), ("password", password)])
            .send()
    };
    for i in 0..6 {
        assert_eq!(form(WRONG).await.unwrap().status(), 401, "failure {i}");
    }
    assert_blocked(
        form("Al1ce-secret-pw").await.unwrap(),
        "form, blocked address",
    )
    .await;
    let api = login(&proxy, "203.0.113.77", "bob", "B0b-secret-pw").await;
    assert_blocked(api, "/auth/login from the same address").await;
}
