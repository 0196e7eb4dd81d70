//! Traffic controls in the gateway: the request after the per-IP burst is answered 429 with
//! `Retry-After` and the rate-limit fields, allowed responses report what is left, a route
//! group's deny list refuses the client with 403, and both refusals are in the audit log. An
//! IPv6 client is limited by its network (`traffic.ipv6_prefix`), not per address; an MCP batch
//! is charged one unit of a tool's limit per call.

#[allow(dead_code)]
mod support;

use std::path::Path;
use std::time::Duration;
use support::{Options, Proxy, Upstream, AUTH_DISABLED};

const BURST: usize = 3;

/// A tiny per-IP limit (one request a minute after a burst of 3); `/api/secret/**` denies the
/// loopback clients of the tests.
fn traffic_toml(state: &Path) -> String {
    format!(
        "{AUTH_DISABLED}\n\
         [audit]\nenabled = true\ndestinations = [\"file\"]\n\
         [audit.file]\npath = \"{}\"\n\
         [traffic]\nper_ip = {{ requests = 1, per = \"minute\", burst = {BURST} }}\n\
         [[traffic.groups]]\nname = \"secret\"\npaths = [\"/api/secret/**\"]\n\
         deny = [\"127.0.0.1/32\", \"::1/128\"]\n\
         [[traffic.groups]]\nname = \"api\"\npaths = [\"/api/**\"]\n",
        state.join("audit.log").display()
    )
}

fn actions(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["event.action"] != "http-request")
        .collect()
}

#[tokio::test]
async fn per_ip_burst_then_429_and_group_deny_list_403() {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("audit.log");
    let mut opts = Options::new(&upstream);
    opts.extra_toml = traffic_toml(state.path());
    let mut proxy = Proxy::start(opts).await;
    let client = proxy.client();

    // Refused by the IP list before any rate is charged; the upstream sees nothing.
    let denied = client.get(proxy.url("/api/secret/x")).send().await.unwrap();
    assert_eq!(denied.status(), 403, "{}", proxy.log());
    assert!(denied.headers().get("x-request-id").is_some());
    assert_eq!(upstream.hits(), 0);

    for left in (0..BURST).rev() {
        let resp = client.get(proxy.url("/api/nodes")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{}", proxy.log());
        let h = resp.headers();
        assert_eq!(h["ratelimit-policy"], "\"ip\";q=1;w=60");
        let value = h["ratelimit"].to_str().unwrap();
        assert!(value.starts_with(&format!("\"ip\";r={left};t=")), "{value}");
    }
    assert_eq!(upstream.hits(), BURST);

    let limited = client.get(proxy.url("/api/nodes")).send().await.unwrap();
    assert_eq!(limited.status(), 429, "{}", proxy.log());
    let h = limited.headers();
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    assert_eq!(h["ratelimit-policy"], "\"ip\";q=1;w=60");
    assert!(h["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with("\"ip\";r=0;t="));
    let body: serde_json::Value = limited.json().await.unwrap();
    assert!(
        body.to_string().contains("rate limit ip exceeded"),
        "{body}"
    );
    assert_eq!(upstream.hits(), BURST, "a refused request is not forwarded");

    proxy.signal("TERM");
    assert!(proxy.wait_exit(Duration::from_secs(20)).is_some());
    let records = actions(&log);
    let ip_denied: Vec<_> = records
        .iter()
        .filter(|r| r["event.action"] == "ip-denied")
        .collect();
    assert_eq!(ip_denied.len(), 1, "{records:?}");
    assert_eq!(ip_denied[0]["source.ip"], "127.0.0.1");
    let limited: Vec<_> = records
        .iter()
        .filter(|r| r["event.action"] == "rate-limited")
        .collect();
    assert_eq!(limited.len(), 1, "{records:?}");
}

/// The proxy's own endpoints (token, login page, login form) are in the `auth` route group: its
/// limit applies to them as to any path, before a password is checked.
#[tokio::test]
async fn the_auth_group_limit_covers_the_proxys_own_endpoints() {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let mut opts = Options::new(&upstream);
    opts.extra_toml = format!(
        "{}password_grant = true\n\n\
         [traffic]\nper_ip = {{ requests = 1000, per = \"minute\", burst = 1000 }}\n\
         [[traffic.groups]]\nname = \"auth\"\npaths = [\"/auth/**\", \"/login\"]\n\
         limit = {{ requests = 1, per = \"minute\", burst = {BURST} }}\n",
        support::auth_toml(state.path())
    );
    let proxy = Proxy::start(opts).await;
    let client = proxy.client();
    let token = || {
        client
            .post(proxy.url("/auth/token"))
            .json(&serde_json::json!({"grant_type": "password", "username": "admin", "password": "x"}))
            .send()
    };
    for _ in 0..BURST {
        // The grant is on but there are no dev users: answered by the endpoint, not the limit.
        let status = token().await.unwrap().status();
        assert!(status.is_client_error() && status != 429, "{status}");
    }
    let limited = token().await.unwrap();
    assert_eq!(limited.status(), 429, "{}", proxy.log());
    assert_eq!(
        limited.headers()["ratelimit-policy"],
        "\"group-auth\";q=1;w=60"
    );
    // One budget per caller for the whole group: the login page and form are refused too.
    let page = client.get(proxy.url("/login")).send().await.unwrap();
    assert_eq!(page.status(), 429);
    let form = client
        .post(proxy.url("/login"))
        .form(&[("username", "admin"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 429);
    assert_eq!(upstream.hits(), 0);
}

/// Clients come from `X-Forwarded-For` (trusted from loopback), so any IPv6 address can be
/// played. At `ipv6_prefix = 56`, fresh addresses of one /56 spend one budget.
#[tokio::test]
async fn an_ipv6_client_is_limited_by_its_network() {
    let upstream = Upstream::start().await;
    let mut opts = Options::new(&upstream);
    opts.trusted_proxies = r#"["127.0.0.1/32", "::1/128"]"#;
    opts.extra_toml = format!(
        "{AUTH_DISABLED}\n[traffic]\nipv6_prefix = 56\n\
         per_ip = {{ requests = 1, per = \"hour\", burst = {BURST} }}\n"
    );
    let proxy = Proxy::start(opts).await;
    let get = |client: &str| {
        proxy
            .client()
            .get(proxy.url("/api/nodes"))
            .header("x-forwarded-for", client)
            .send()
    };
    for i in 0..BURST {
        let fresh = format!("2001:db8:0:{i:x}::{}", i + 1);
        assert_eq!(get(&fresh).await.unwrap().status(), 200, "{}", proxy.log());
    }
    let same_net = get("2001:db8:0:ff:1234::9").await.unwrap();
    assert_eq!(same_net.status(), 429, "another address of the same /56");
    assert_eq!(
        get("2001:db8:0:100::1").await.unwrap().status(),
        200,
        "the next /56"
    );
    assert_eq!(get("192.0.2.1").await.unwrap().status(), 200);
}

/// A `tools/call` batch of `memory_node` gets, one per id.
fn batch(ids: &[u32]) -> serde_json::Value {
    let calls: Vec<_> = ids
        .iter()
        .map(|id| {
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
                "name": "memory_node", "arguments": {"operation": "get", "id": format!("n{id}")}}})
        })
        .collect();
    serde_json::Value::Array(calls)
}

/// A tool limited to a burst of 3: a batch costs one per call, a batch that does not fit is
/// refused whole and costs nothing, and one larger than the burst is never let through.
#[tokio::test]
async fn a_tool_limit_counts_every_call_of_a_batch() {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let key = support::create_key(state.path(), "agent", "analyst");
    let mut opts = Options::new(&upstream);
    opts.extra_toml = format!(
        "{}[traffic.mcp_tools.tools]\n\
         memory_node = {{ requests = 1, per = \"hour\", burst = 3 }}\n",
        support::auth_toml(state.path())
    );
    let proxy = Proxy::start(opts).await;
    let client = proxy.client();
    let post = |body: serde_json::Value| {
        proxy
            .request(&client, reqwest::Method::POST, "/mcp", Some(&key))
            .json(&body)
            .send()
    };

    let two = post(batch(&[1, 2])).await.unwrap();
    assert_eq!(two.status(), 200, "{}", proxy.log());
    let h = two.headers();
    assert_eq!(h["ratelimit-policy"], "\"tool-memory_node\";q=1;w=3600");
    let left = h["ratelimit"].to_str().unwrap();
    assert!(left.starts_with("\"tool-memory_node\";r=1;"), "{left}");

    // Two more calls, one left: the whole batch is refused.
    let refused = post(batch(&[3, 4])).await.unwrap();
    assert_eq!(refused.status(), 429, "{}", proxy.log());
    assert!(refused.headers().get("retry-after").is_some());

    // More calls than the burst: never, and said so.
    let over = post(batch(&[5, 6, 7, 8])).await.unwrap();
    assert_eq!(over.status(), 429);
    assert!(over.headers().get("retry-after").is_none());
    let body: serde_json::Value = over.json().await.unwrap();
    assert!(
        body.to_string()
            .contains("rate limit tool-memory_node allows at most 3 calls at once"),
        "{body}"
    );

    // The refusals charged nothing: the one call left passes, then the limit is spent.
    let last = post(batch(&[9])).await.unwrap();
    assert_eq!(last.status(), 200, "{}", proxy.log());
    let left = last.headers()["ratelimit"].to_str().unwrap().to_owned();
    assert!(left.starts_with("\"tool-memory_node\";r=0;"), "{left}");
    assert_eq!(post(batch(&[10])).await.unwrap().status(), 429);
}
