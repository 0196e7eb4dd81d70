//! Password checks through the real proxy: Argon2id holds about 19 MiB per check, so at most
//! `auth.password_checks.max_concurrent` run at once. With one slot and no queue, parallel
//! logins beyond the one being checked are refused at once — 503 with `Retry-After` and a JSON
//! error, before anything is hashed — on every password endpoint (`/auth/login`,
//! `/auth/token`, the `/login` form); they are audited and counted as refusals, not as failed
//! logins.

#[allow(dead_code)]
mod support;

use futures_util::future::join_all;
use reqwest::Response;
use serde_json::{json, Value};
use support::{Options, Proxy, Upstream};

const ALICE: (&str, &str) = ("MIMIR_DEV_USER_ALICE", "alice:Al1ce-secret-pw:viewer");
const PASSWORD: &str = "Al1ce-secret-pw";
/// Requests per endpoint and round, all sent at once.
const PARALLEL: usize = 12;
/// Rounds until every endpoint has been refused at least once.
const MAX_ROUNDS: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Login,
    Token,
    Form,
}

const ENDPOINTS: [Endpoint; 3] = [Endpoint::Login, Endpoint::Token, Endpoint::Form];

/// Trusts the proxy's CA and does not follow the form's redirect after a sign-in.
fn client(proxy: &Proxy) -> reqwest::Client {
    let ca = std::fs::read(proxy.ca()).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .resolve("localhost", proxy.addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn send(proxy: &Proxy, client: &reqwest::Client, endpoint: Endpoint) -> Response {
    let req = match endpoint {
        Endpoint::Login => client
            .post(proxy.url("/auth/login"))
            .json(&json!({"username": "alice", "password": PASSWORD})),
        Endpoint::Token => client.post(proxy.url("/auth/token")).form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
        ]),
        Endpoint::Form => client
            .post(proxy.url("/login"))
            .header("origin", format!("https://localhost:{}", proxy.addr.port()))
            .form(&[("username", "alice"), ("password", PASSWORD)]),
    };
    req.send().await.unwrap()
}

/// A refusal for lack of a check slot: 503, `Retry-After: 1`, the endpoint's JSON error shape.
async fn assert_busy(resp: Response, endpoint: Endpoint) {
    assert_eq!(resp.headers()["retry-after"], "1", "{endpoint:?}");
    let body: Value = resp.json().await.unwrap();
    let expected = match endpoint {
        Endpoint::Token => "temporarily_unavailable",
        Endpoint::Login | Endpoint::Form => "service_unavailable",
    };
    assert_eq!(body["error"], expected, "{endpoint:?}: {body}");
    if endpoint != Endpoint::Token {
        assert!(body["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_logins_beyond_the_bound_are_refused_before_hashing() {
    std::env::set_var(ALICE.0, ALICE.1);
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let mut opts = Options::new(&upstream);
    opts.extra_toml = format!(
        "{}password_grant = true\n\
         [auth.password_checks]\nmax_concurrent = 1\nmax_queued = 0\n\n{}\
         # Only the password-check bound is under test.\n[traffic]\nrate_limits = false\n",
        support::auth_toml(state.path()),
        support::audit_file_toml(&state.path().join("audit.log")),
    );
    let mut proxy = Proxy::start(opts).await;
    let client = client(&proxy);

    let mut refused = [0usize; 3];
    let mut signed_in = 0;
    for _ in 0..MAX_ROUNDS {
        let all = ENDPOINTS
            .iter()
            .flat_map(|&e| std::iter::repeat_n(e, PARALLEL));
        let answers = join_all(all.map(|e| {
            let (proxy, client) = (&proxy, &client);
            async move { (e, send(proxy, client, e).await) }
        }))
        .await;
        for (endpoint, resp) in answers {
            match resp.status().as_u16() {
                503 => {
                    assert_busy(resp, endpoint).await;
                    refused[endpoint as usize] += 1;
                }
                200 | 303 => signed_in += 1,
                other => panic!("{endpoint:?}: {other}: {}", proxy.log()),
            }
        }
        if refused.iter().all(|&n| n > 0) {
            break;
        }
    }
    assert!(
        refused.iter().all(|&n| n > 0),
        "every endpoint refuses beyond the one check slot: {refused:?}"
    );
    assert!(signed_in > 0, "the slot is freed after each check");

    let total: usize = refused.iter().sum();
    let metrics = proxy
        .metrics(&[&format!(
            r#"mimir_proxy_denials_total{{reason="rate_limit"}} {total}"#
        )])
        .await;
    assert!(
        !metrics.contains(r#"mimir_proxy_auth_failures_total{method="password"}"#),
        "a refusal is not a failed login:\n{metrics}"
    );
    proxy.signal("TERM");
    assert!(proxy
        .wait_exit(std::time::Duration::from_secs(20))
        .is_some());
    let refusals = std::fs::read_to_string(state.path().join("audit.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["event.action"] == "rate-limited")
        .inspect(|r| assert_eq!(r["rate_limit.name"], "password-checks"))
        .count();
    assert_eq!(refusals, total);
}
