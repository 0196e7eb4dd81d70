//! Connection, concurrency and size limits of the real proxy (docs/traffic-controls.md):
//! a route group's body limit, requests in flight per client IP (429) and in the process (503),
//! open connections and new connections per peer address, slow request heads cut off, and
//! `POST /mcp` bodies far above pingora's 64 KiB retry buffer authorized and forwarded intact
//! up to the MCP limit (the real core behind the proxy).

#[allow(dead_code)]
mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::{json_body, status_of, Options, Proxy, Upstream, AUTH_DISABLED};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::version::TLS13;

fn with_traffic(upstream: &Upstream, traffic: &str) -> Options {
    let mut opts = Options::new(upstream);
    opts.extra_toml = format!("{AUTH_DISABLED}\n{traffic}");
    opts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_group_body_limit() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(with_traffic(
        &upstream,
        "[[traffic.groups]]\nname = \"small\"\npaths = [\"/small/**\"]\nmax_body_bytes = 100\n",
    ))
    .await;
    let post = |path: &str, len: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len}\r\n\r\n{}",
            "x".repeat(len)
        )
    };
    let resp = proxy.raw(post("/small/a", 101).as_bytes()).await;
    assert_eq!(status_of(&resp), 413, "{resp}");
    assert_eq!(json_body(&resp)["error"], "payload_too_large");
    assert_eq!(
        upstream.hits(),
        0,
        "a declared oversized body reached the upstream"
    );
    // A chunked body is counted as it streams.
    let chunk = "c".repeat(60);
    let chunked = format!(
        "POST /small/a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3c\r\n{chunk}\r\n3c\r\n{chunk}\r\n0\r\n\r\n"
    );
    let resp = proxy.raw(chunked.as_bytes()).await;
    assert_eq!(status_of(&resp), 413, "{resp}");

    let client = proxy.client();
    let at_limit = client
        .post(proxy.url("/small/a"))
        .body("y".repeat(100))
        .send()
        .await
        .unwrap();
    assert_eq!(at_limit.status(), 200);
    assert_eq!(at_limit.json::<Value>().await.unwrap()["body_len"], 100);
    // Outside the group the global limit applies.
    let elsewhere = client
        .post(proxy.url("/other"))
        .body("z".repeat(500))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_per_client_and_in_total() {
    let upstream = Upstream::start().await;
    let mut opts = with_traffic(
        &upstream,
        "[traffic.connections]\nmax_in_flight_per_ip = 1\nmax_in_flight = 2\n",
    );
    // The test connects from loopback and names its clients in X-Forwarded-For.
    opts.trusted_proxies = "[\"127.0.0.1/32\"]";
    opts.read_timeout_seconds = 30;
    let proxy = Proxy::start(opts).await;
    let client = proxy.client();
    let from = |client_ip: &str, path: &str| {
        client
            .get(proxy.url(path))
            .header("x-forwarded-for", client_ip)
            .send()
    };
    let slow = "/slow?ms=6000";
    let first = tokio::spawn(from("192.0.2.1", slow));
    wait_for_hits(&upstream, 1).await;

    let same_client = from("192.0.2.1", "/echo").await.unwrap();
    assert_eq!(same_client.status(), 429);
    assert_eq!(same_client.headers()["retry-after"], "1");
    assert!(same_client.headers().contains_key("x-request-id"));
    let body: Value = same_client.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests", "{body}");

    let second = tokio::spawn(from("192.0.2.2", slow));
    wait_for_hits(&upstream, 2).await;
    let busy = from("192.0.2.3", "/echo").await.unwrap();
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    let body: Value = busy.json().await.unwrap();
    assert_eq!(body["error"], "service_unavailable", "{body}");
    assert_eq!(upstream.hits(), 2, "refused requests are not forwarded");

    // Finished requests give their slots back.
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    assert_eq!(second.await.unwrap().unwrap().status(), 200);
    let again = from("192.0.2.1", "/echo").await.unwrap();
    assert_eq!(again.status(), 200);
}

async fn wait_for_hits(upstream: &Upstream, n: usize) {
    for _ in 0..200 {
        if upstream.hits() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the upstream never saw {n} requests");
}

async fn h1(proxy: &Proxy) -> std::io::Result<TlsStream<TcpStream>> {
    proxy.tls(&[&TLS13], &[b"http/1.1"]).await
}

/// One HTTP/1 request on an open TLS connection; `None` when the proxy closed it instead.
async fn request_on<S: AsyncReadExt + AsyncWriteExt + Unpin>(tls: &mut S) -> Option<u16> {
    let req = b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n";
    tls.write_all(req).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    (n > 0).then(|| status_of(&String::from_utf8_lossy(&buf[..n])))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_per_peer() {
    let upstream = Upstream::start().await;
    let mut opts = with_traffic(&upstream, "[traffic.connections]\nmax_per_ip = 2\n");
    opts.header_timeout_seconds = 30;
    let proxy = Proxy::start(opts).await;
    let connect = || h1(&proxy);
    let mut a = connect().await.unwrap();
    let mut b = connect().await.unwrap();
    assert_eq!(request_on(&mut a).await, Some(200));
    assert_eq!(request_on(&mut b).await, Some(200));
    // A third is closed before its TLS handshake, and counted.
    assert!(connect().await.is_err(), "a third open connection");
    proxy
        .metrics(&["mimir_proxy_connections_refused_total{reason=\"open_connections\"} 1"])
        .await;

    drop(a);
    // The closed connection's slot comes back once the proxy notices the close.
    let mut served = None;
    for _ in 0..100 {
        if let Ok(mut d) = connect().await {
            served = request_on(&mut d).await;
            if served.is_some() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served, Some(200));
    assert_eq!(
        request_on(&mut b).await,
        Some(200),
        "keep-alive still works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_per_peer_are_rated_before_tls() {
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("audit.log");
    // The harness's readiness probe is the first connection of the burst.
    let proxy = Proxy::start(with_traffic(
        &upstream,
        &format!(
            "{}[traffic.connections]\naccept_per_ip = {{ requests = 1, per = \"hour\", burst = 3 }}\n",
            support::audit_file_toml(&log)
        ),
    ))
    .await;
    let connect = || h1(&proxy);
    let mut a = connect().await.expect("second connection of the burst");
    let _b = connect().await.expect("third connection of the burst");
    for _ in 0..2 {
        assert!(
            connect().await.is_err(),
            "a connection over the rate must be closed before the TLS handshake"
        );
    }
    assert_eq!(
        request_on(&mut a).await,
        Some(200),
        "open connections stay usable"
    );
    // The client only sees the connection close; the proxy counts every refusal and audits the
    // first of the source.
    proxy
        .metrics(&["mimir_proxy_connections_refused_total{reason=\"accept_rate\"} 2"])
        .await;
    let refused = |r: &Value| r["rate_limit.name"] == "accept-per-ip";
    let records = support::wait_for_records(&log, 1, refused).await;
    assert_eq!(records[0]["event.action"], "rate-limited");
    assert_eq!(records[0]["source.ip"], "127.0.0.1");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = support::wait_for_records(&log, 1, refused).await;
    assert_eq!(all.len(), 1, "one record per source until the next sweep");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_request_heads_are_cut_off() {
    let upstream = Upstream::start().await;
    let mut opts = Options::new(&upstream);
    opts.header_timeout_seconds = 1;
    let proxy = Proxy::start(opts).await;
    let mut tls = proxy.tls(&[&TLS13], &[b"http/1.1"]).await.unwrap();
    tls.write_all(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    // One byte per 300 ms: every read succeeds well within the 1 s timeout, the head never
    // ends. The proxy must close the connection within the 10 s this would take.
    let mut closed = false;
    let mut buf = [0u8; 512];
    for _ in 0..33 {
        if tls.write_all(b"a").await.is_err() {
            closed = true;
            break;
        }
        match tokio::time::timeout(Duration::from_millis(300), tls.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => panic!("unexpected answer: {}", String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
    }
    assert!(closed, "a trickling client kept its connection");
    assert_eq!(upstream.hits(), 0);
    proxy
        .metrics(&["mimir_proxy_connections_refused_total{reason=\"header_timeout\"} 1"])
        .await;
    // Prompt clients are unaffected.
    let resp = proxy.client().get(proxy.url("/echo")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// A `tools/call` of `memory_node add` whose serialized body is exactly `size` bytes.
fn add_node_body(id: &str, size: usize) -> (String, String) {
    let message = |content: &str| {
        json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"memory_node",
            "arguments":{"operation":"add","id":id,"type":"memory",
                "properties":{"title":"large","content":content}}}})
        .to_string()
    };
    let overhead = message("").len();
    let content = "m".repeat(size - overhead);
    let body = message(&content);
    assert_eq!(body.len(), size);
    (body, content)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_bodies_up_to_the_limit_are_checked_and_forwarded_whole() {
    const MCP_LIMIT: usize = 1024 * 1024;
    let core = support::start_core().await;
    let state = tempfile::tempdir().unwrap();
    let key = support::create_key(state.path(), "bulk", "developer");
    let mut opts = Options::to(core.addr.clone());
    opts.max_body_bytes = 4 * MCP_LIMIT;
    opts.extra_toml = support::auth_toml(state.path());
    let proxy = Proxy::start(opts).await;
    let client = proxy.client();
    let session = proxy.mcp_session(&client, &key).await;
    let post = |body: String| {
        client
            .post(proxy.url("/mcp"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .body(body)
            .send()
    };

    // Exactly the limit: parsed, authorized and stored byte for byte.
    let (body, content) = add_node_body("large-node", MCP_LIMIT);
    let resp = post(body).await.unwrap();
    assert_eq!(resp.status(), 200, "{}", proxy.log());
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["id"], 7, "{answer}");
    assert!(answer.get("error").is_none(), "{answer}");
    let stored = client
        .get(proxy.url("/api/nodes/large-node"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);
    assert!(
        stored.text().await.unwrap().contains(&content),
        "the stored node lost part of its content"
    );

    // One byte over, declared: 413 (the `mcp` route group's limit) before anything is read.
    let (body, _) = add_node_body("too-large", MCP_LIMIT + 1);
    let resp = post(body.clone()).await.unwrap();
    assert_eq!(resp.status(), 413);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["error"], "payload_too_large", "{answer}");

    // One byte over, streamed without a length: 413 once the limit is passed.
    let mut tls = h1(&proxy).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Mcp-Session-Id: {session}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.as_bytes().chunks(64 * 1024) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        // The proxy may answer and close before the last chunk.
        if tls.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = tls.write_all(b"0\r\n\r\n").await;
    let resp = support::read_to_close(&mut tls, Duration::from_secs(10)).await;
    assert_eq!(status_of(&resp), 413, "{resp}");
    let answer = json_body(&resp);
    assert_eq!(answer["jsonrpc"], "2.0", "{resp}");
    assert!(answer["error"]["code"].is_i64(), "{resp}");
    let missing = client
        .get(proxy.url("/api/nodes/too-large"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404, "a refused body reached the core");
}
