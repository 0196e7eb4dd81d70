//! Brute-force protection through the real proxy: more than 5 failed logins or API-key attempts
//! in a minute (the defaults) block the client's source — its address, an IPv6 address's /64 —
//! never a user name or key id, which anyone could otherwise lock out from everywhere; a
//! blocked attempt is answered 429 with `Retry-After` before its credential is checked, even a
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
        "{}password_grant = true\n\n{}\
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
async fn failed_logins_block_the_address_never_the_user_name() {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let mut proxy = start(&upstream, state.path()).await;

    // Someone fails for alice on purpose, six times, each from another address: alice can
    // still sign in, from anywhere, on both password endpoints.
    for i in 1..=6 {
        let resp = login(&proxy, &format!("198.51.100.{i}"), "alice", WRONG).await;
        assert_eq!(resp.status(), 401, "failure {i}: {}", proxy.log());
    }
    let right = login(&proxy, "198.51.100.7", "alice", "Al1ce-secret-pw").await;
    assert_eq!(right.status(), 200, "alice is not locked out by name");
    let token = proxy
        .client()
        .post(proxy.url("/auth/token"))
        .header("x-forwarded-for", "198.51.100.6")
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "Al1ce-secret-pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200, "/auth/token too");

    // Guessing bob's password from one address blocks that address, even for the right one,
    // while bob signs in from elsewhere.
    for i in 0..6 {
        let resp = login(&proxy, "203.0.113.9", "bob", WRONG).await;
        assert_eq!(resp.status(), 401, "guess {i}");
    }
    let from_guesser = login(&proxy, "203.0.113.9", "bob", "B0b-secret-pw").await;
    assert_blocked(from_guesser, "the guessing address").await;
    let bob = login(&proxy, "203.0.113.10", "bob", "B0b-secret-pw").await;
    assert_eq!(bob.status(), 200);
    let bob_token = bob.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Guessing many names from one address blocks it too, whatever it presents afterwards.
    for i in 0..6 {
        let resp = login(&proxy, "203.0.113.20", &format!("user{i}"), WRONG).await;
        assert_eq!(resp.status(), 401, "failure {i}");
    }
    let hits = upstream.hits();
    let api = proxy
        .client()
        .get(proxy.url("/api/nodes"))
        .header("x-forwarded-for", "203.0.113.20")
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap();
    assert_blocked(api, "API request from the blocked address").await;
    assert_eq!(upstream.hits(), hits, "nothing forwarded");

    let metrics = proxy
        .metrics(&[
            r#"mimir_proxy_auth_failures_total{method="password"} 18"#,
            r#"mimir_proxy_bruteforce_blocks_total{target="ip"} 2"#,
            r#"mimir_proxy_denials_total{reason="bruteforce"} 2"#,
        ])
        .await;
    assert!(!metrics.contains(r#"target="user""#), "{metrics}");

    let records = stopped_records(&mut proxy, state.path());
    assert_eq!(with_action(&records, "user-login-failed").len(), 18);
    assert_eq!(with_action(&records, "user-login").len(), 3);
    let blocks = with_action(&records, "brute-force-blocked");
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert!(blocks
        .iter()
        .all(|r| r["rate_limit.name"] == "bruteforce-ip"));
    assert_eq!(blocks[0]["source.ip"], "203.0.113.9");
    assert_eq!(blocks[0]["user.name"], "bob");
    assert_eq!(blocks[1]["source.ip"], "203.0.113.20");
    assert_eq!(with_action(&records, "rate-limited").len(), 2);
    let text = std::fs::read_to_string(state.path().join("audit.log")).unwrap();
    for secret in [WRONG, "Al1ce-secret-pw", "B0b-secret-pw", &bob_token] {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_api_keys_block_the_address_never_the_key() {
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

    // The real key's id (public: logs, key listings) with wrong secrets from one address: that
    // address is blocked, the agent using the key from its own address is not.
    let id_part = &key[..key.len() - 4];
    for i in 0..6 {
        let guess = format!("{id_part}{i:04}");
        let resp = get_with_key(&proxy, "192.0.2.60", &guess).await;
        assert_eq!(resp.status(), 401, "guess {i}");
    }
    assert_blocked(
        get_with_key(&proxy, "192.0.2.60", &key).await,
        "the guessing address",
    )
    .await;
    assert_eq!(
        get_with_key(&proxy, "192.0.2.70", &key).await.status(),
        200,
        "the key is not locked out"
    );
    // The same from six addresses blocks none of them, and still not the key.
    for i in 0..6 {
        let guess = format!("{id_part}{i:04}");
        let resp = get_with_key(&proxy, &format!("192.0.2.{}", 80 + i), &guess).await;
        assert_eq!(resp.status(), 401, "spread guess {i}");
    }
    assert_eq!(get_with_key(&proxy, "192.0.2.70", &key).await.status(), 200);

    // Refused bearer tokens are audited but not counted by default (count_tokens = false).
    for _ in 0..8 {
        let resp = proxy
            .client()
            .get(proxy.url("/api/nodes"))
            .header("x-forwarded-for", "192.0.2.90")
            .bearer_auth("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }

    let metrics = proxy
        .metrics(&[
            r#"mimir_proxy_auth_failures_total{method="api_key"} 18"#,
            r#"mimir_proxy_auth_failures_total{method="jwt"} 8"#,
            r#"mimir_proxy_bruteforce_blocks_total{target="ip"} 2"#,
        ])
        .await;
    assert!(!metrics.contains(r#"target="user""#), "{metrics}");
    let records = stopped_records(&mut proxy, state.path());
    let failed = with_action(&records, "user-login-failed");
    assert_eq!(failed.len(), 26);
    let key_id = &key["mimir_".len().."mimir_".len() + 12];
    assert!(failed
        .iter()
        .any(|r| r["user.name"] == key_id && r["authentication.method"] == "api_key"));
    assert!(failed
        .iter()
        .any(|r| r["authentication.method"] == "jwt" && r["source.ip"] == "192.0.2.90"));
    let text = std::fs::read_to_string(state.path().join("audit.log")).unwrap();
    assert!(!text.contains(&key), "the key is not in the audit log");
    assert!(
        !text.contains(&key[key.len() - 20..]),
        "nor its secret part"
    );
}

/// An IPv6 client controls a whole /64: its failures are counted and blocked per /64, not per
/// address, while the next /64 is another client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_guesser_is_blocked_by_its_network() {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let proxy = start(&upstream, state.path()).await;
    for i in 1..=6 {
        let (from, name) = (format!("2001:db8:7:7::{i:x}"), format!("user{i}"));
        let resp = login(&proxy, &from, &name, WRONG).await;
        assert_eq!(resp.status(), 401, "failure {i}: {}", proxy.log());
    }
    let fresh = login(&proxy, "2001:db8:7:7:ffff::1", "bob", "B0b-secret-pw").await;
    assert_blocked(fresh, "a fresh address of the same /64").await;
    let next = login(&proxy, "2001:db8:7:8::1", "bob", "B0b-secret-pw").await;
    assert_eq!(next.status(), 200, "the next /64");
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
