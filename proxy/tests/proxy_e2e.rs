//! End-to-end tests of the proxy foundation: the real `mimir-proxy` binary with a generated
//! certificate in front of an echo upstream, driven over real TLS.

// The harness is shared by several suites; each uses part of it.
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::version::{TLS12, TLS13};

fn echo_json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn header<'a>(echo: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    echo["headers"][name]
        .as_array()
        .map(|values| values.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default()
}

/// A minimal ClientHello without the supported_versions extension (so `version` is what is
/// offered) and with the given cipher suites.
fn client_hello(version: [u8; 2], suites: &[u16]) -> Vec<u8> {
    let mut body = version.to_vec();
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for suite in suites {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let extensions = [
        0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x04, 0x01, // signature_algorithms
        0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d, // supported_groups: x25519
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
    ];
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&(body.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// Send a ClientHello and return the alert description the server answers with.
async fn refused_with(addr: std::net::SocketAddr, hello: &[u8]) -> u8 {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(hello).await.unwrap();
    let mut reply = [0u8; 7];
    tcp.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply[0], 0x15, "expected a TLS alert, got {reply:?}");
    reply[6]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_versions_and_alpn() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;

    for version in [&TLS12, &TLS13] {
        let tls = proxy.tls(&[version], &[b"h2", b"http/1.1"]).await.unwrap();
        let (_, conn) = tls.get_ref();
        assert_eq!(conn.protocol_version(), Some(version.version));
        assert_eq!(conn.alpn_protocol(), Some(&b"h2"[..]));
        let suite = format!("{:?}", conn.negotiated_cipher_suite().unwrap().suite());
        assert!(
            suite.contains("GCM") || suite.contains("CHACHA20"),
            "{suite}"
        );
    }
    let tls = proxy.tls(&[&TLS13], &[b"http/1.1"]).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    const PROTOCOL_VERSION: u8 = 70;
    const HANDSHAKE_FAILURE: u8 = 40;
    // TLS 1.1 with a suite the server would otherwise pick (ECDHE-ECDSA-AES128-GCM-SHA256).
    let tls11 = client_hello([0x03, 0x02], &[0xc02b]);
    assert_eq!(refused_with(proxy.addr, &tls11).await, PROTOCOL_VERSION);
    // TLS 1.2 offering only CBC (ECDHE-*-AES128-SHA) and RSA key exchange (AES128-GCM-SHA256).
    let weak = client_hello([0x03, 0x03], &[0xc013, 0xc009, 0x002f, 0x009c]);
    assert_eq!(refused_with(proxy.addr, &weak).await, HANDSHAKE_FAILURE);

    let resp = proxy.client().get(proxy.url("/echo")).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=600; includeSubDomains"
    );
    let head = proxy
        .client()
        .head(proxy.url("/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.headers().contains_key("strict-transport-security"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_cipher_suite_order_wins() {
    use rustls::crypto::ring::cipher_suite::*;
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;
    // The client prefers ChaCha20, then AES-128; the server's first choice is AES-256.
    let client_order = vec![
        TLS13_CHACHA20_POLY1305_SHA256,
        TLS13_AES_128_GCM_SHA256,
        TLS13_AES_256_GCM_SHA384,
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ];
    for version in [&TLS12, &TLS13] {
        let tls = tls_connect_preferring(
            proxy.addr,
            &[proxy.ca()],
            &[version],
            &[b"http/1.1"],
            None,
            client_order.clone(),
        )
        .await
        .unwrap();
        let suite = format!(
            "{:?}",
            tls.get_ref().1.negotiated_cipher_suite().unwrap().suite()
        );
        assert!(suite.contains("AES_256_GCM"), "{version:?}: {suite}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_identity_and_forwarding_headers_are_replaced() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;
    let body = proxy
        .client()
        .get(proxy.url("/echo"))
        .header("X-User-ID", "admin")
        .header("X-User-Roles", "admin")
        .header("X-Forwarded-User", "admin")
        .header("X-Forwarded-For", "6.6.6.6")
        .header("X-Forwarded-Proto", "http")
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Real-IP", "6.6.6.6")
        .header("X-Mimir-Identity", "forged")
        .header("Forwarded", "for=6.6.6.6")
        .header("Authorization", "Bearer kept-for-authn")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let echo = echo_json(&body);
    for gone in [
        "x-user-id",
        "x-user-roles",
        "x-forwarded-user",
        "x-mimir-identity",
        "forwarded",
    ] {
        assert!(
            header(&echo, gone).is_empty(),
            "{gone} reached the upstream: {body}"
        );
    }
    assert_eq!(header(&echo, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(header(&echo, "x-real-ip"), ["127.0.0.1"]);
    assert_eq!(header(&echo, "x-forwarded-proto"), ["https"]);
    let host = format!("localhost:{}", proxy.addr.port());
    assert_eq!(header(&echo, "x-forwarded-host"), [host.as_str()]);
    let log = proxy.log();
    assert!(log.contains("mimir_proxy::access"), "{log}");
    assert!(
        !log.contains("kept-for-authn"),
        "credentials in the log: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_from_trusted_proxies_only() {
    let upstream = Upstream::start().await;
    let mut opts = Options::new(&upstream);
    opts.trusted_proxies = r#"["127.0.0.0/8", "10.0.0.0/8"]"#;
    let proxy = Proxy::start(opts).await;
    let body = proxy
        .client()
        .get(proxy.url("/echo"))
        .header("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.1.2.3")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let echo = echo_json(&body);
    assert_eq!(header(&echo, "x-real-ip"), ["198.51.100.7"]);
    assert_eq!(
        header(&echo, "x-forwarded-for"),
        ["198.51.100.7, 10.1.2.3, 127.0.0.1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_id_is_kept_or_generated() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;
    let client = proxy.client();

    let resp = client
        .get(proxy.url("/echo"))
        .header("X-Request-ID", "trace-42.a_b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-42.a_b");
    assert_eq!(
        header(&echo_json(&resp.text().await.unwrap()), "x-request-id"),
        ["trace-42.a_b"]
    );

    let resp = client
        .get(proxy.url("/echo"))
        .header("X-Request-ID", "bad id <script>")
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    assert_eq!(
        header(&echo_json(&resp.text().await.unwrap()), "x-request-id"),
        [id.as_str()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_are_normalized_once_or_rejected() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;
    let get = |target: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    };

    let resp = proxy
        .raw(get("/api/./x/../%2e%2e/nodes//1?q=%2F..&b=2").as_bytes())
        .await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    assert_eq!(json_body(&resp)["target"], "/nodes/1?q=%2F..&b=2");

    let hits = upstream.hits();
    for bad in [
        "/api%2Fadmin",
        "/a/%00",
        "/a\\..\\b",
        "/%zz",
        "*",
        "http://localhost/x",
    ] {
        let resp = proxy.raw(get(bad).as_bytes()).await;
        assert_eq!(status_of(&resp), 400, "{bad}: {resp}");
        let body = json_body(&resp);
        assert_eq!(body["error"], "bad_request");
        assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
        assert_eq!(
            header_of(&resp, "strict-transport-security"),
            Some("max-age=600; includeSubDomains")
        );
    }
    assert_eq!(
        upstream.hits(),
        hits,
        "a rejected path reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_attempts_are_refused_and_close_the_connection() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;
    let hits = upstream.hits();
    // Each is followed by a second request that must never be parsed.
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let attempts = [
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0, 0\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n b\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ];
    for attempt in attempts {
        let started = Instant::now();
        let resp = proxy.raw(format!("{attempt}{smuggled}").as_bytes()).await;
        assert_eq!(status_of(&resp), 400, "{attempt:?}: {resp}");
        // The gateway's own answer, whichever stage refused the head.
        assert_eq!(
            json_body(&resp)["error"],
            "bad_request",
            "{attempt:?}: {resp}"
        );
        assert!(
            header_of(&resp, "strict-transport-security").is_some(),
            "{attempt:?}: {resp}"
        );
        assert_eq!(header_of(&resp, "server"), None, "{attempt:?}: {resp}");
        assert_eq!(
            resp.lines().filter(|l| l.starts_with("HTTP/1.")).count(),
            1,
            "second response for {attempt:?}: {resp}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "connection left open: {attempt:?}"
        );
    }
    assert_eq!(
        upstream.hits(),
        hits,
        "a smuggling attempt reached the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limits() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;
    let hits = upstream.hits();

    let long_uri = format!("/{}", "a".repeat(MAX_URI_BYTES));
    let resp = proxy
        .raw(format!("GET {long_uri} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await;
    assert_eq!(status_of(&resp), 414, "{resp}");
    assert_eq!(json_body(&resp)["error"], "uri_too_long");

    let big_header = "b".repeat(MAX_HEADER_BYTES);
    let resp = proxy
        .raw(format!("GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {big_header}\r\n\r\n").as_bytes())
        .await;
    assert_eq!(status_of(&resp), 431, "{resp}");
    let resp = proxy
        .client()
        .get(proxy.url("/echo"))
        .header("x-big", &big_header)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 431);
    assert!(resp.headers().contains_key("strict-transport-security"));
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["error"],
        "request_header_fields_too_large"
    );

    let declared = MAX_BODY_BYTES + 1;
    let resp = proxy
        .raw(
            format!("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {declared}\r\n\r\n")
                .as_bytes(),
        )
        .await;
    assert_eq!(status_of(&resp), 413, "{resp}");
    assert_eq!(json_body(&resp)["error"], "payload_too_large");
    assert_eq!(upstream.hits(), hits);

    // A chunked body is counted as it streams.
    let chunk = "c".repeat(600);
    let chunked = format!(
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
    );
    let resp = proxy.raw(chunked.as_bytes()).await;
    assert_eq!(status_of(&resp), 413, "{resp}");

    // At the limit it passes.
    let body = "d".repeat(MAX_BODY_BYTES);
    let resp = proxy
        .client()
        .post(proxy.url("/echo"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        echo_json(&resp.text().await.unwrap())["body_len"],
        MAX_BODY_BYTES
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_is_a_json_502() {
    let closed = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start(Options::to(closed)).await;
    let resp = proxy
        .client()
        .get(proxy.url("/api/nodes"))
        .header("X-Request-ID", "down-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.headers().contains_key("strict-transport-security"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "bad_gateway");
    assert_eq!(body["request_id"], "down-1");
    assert!(
        !body["message"].as_str().unwrap().contains("127.0.0.1"),
        "{body}"
    );

    let head = proxy
        .client()
        .head(proxy.url("/api/nodes"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 502);
    assert!(head.headers().contains_key("strict-transport-security"));

    let ready = reqwest::get(format!("http://{}/readyz", proxy.admin))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["ready"], false);
    assert!(
        body["checks"]["upstream"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{body}"
    );

    proxy
        .metrics(&[
            r#"mimir_proxy_upstream_errors_total{kind="connect"}"#,
            r#"mimir_proxy_requests_total{route="api",status="502"} 2"#,
        ])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_is_a_json_504() {
    let upstream = Upstream::start().await;
    let mut opts = Options::new(&upstream);
    opts.read_timeout_seconds = 1;
    let proxy = Proxy::start(opts).await;
    let started = Instant::now();
    let resp = proxy
        .client()
        .get(proxy.url("/slow?ms=4000"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(3));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "gateway_timeout");

    let resp = proxy
        .client()
        .get(proxy.url("/slow?ms=100"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the proxy must recover after a timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_are_streamed() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;
    let started = Instant::now();
    let mut resp = proxy
        .client()
        .get(proxy.url("/sse?gap_ms=2000"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"data: first\n\n");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "first event was held back until {:?}",
        started.elapsed()
    );
    let second = resp.chunk().await.unwrap().unwrap();
    assert_eq!(&second[..], b"data: second\n\n");
    assert!(started.elapsed() >= Duration::from_millis(1900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_reload_on_sighup_keeps_open_connections() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;
    let new_certs = proxy.dir.path().join("new");
    gen_certs(&new_certs);
    let cas = [proxy.ca(), new_certs.join("ca.pem")];
    let leaf = |tls: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>| {
        tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    };
    let request = b"GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n";

    let mut old = tls_connect(proxy.addr, &cas, &[&TLS13], &[b"http/1.1"], None)
        .await
        .unwrap();
    let old_leaf = leaf(&old);
    old.write_all(request).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = old.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    for file in ["server.pem", "server.key"] {
        // Write-then-rename, as deployment tools do.
        let tmp = proxy.certs().join(format!("{file}.tmp"));
        std::fs::copy(new_certs.join(file), &tmp).unwrap();
        std::fs::rename(&tmp, proxy.certs().join(file)).unwrap();
    }
    proxy.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    let new_leaf = loop {
        let tls = tls_connect(proxy.addr, &cas, &[&TLS13], &[b"http/1.1"], None)
            .await
            .unwrap();
        let current = leaf(&tls);
        if current != old_leaf {
            break current;
        }
        assert!(Instant::now() < deadline, "new certificate not served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let expected = tokio_rustls::rustls::pki_types::pem::PemObject::pem_file_iter(
        new_certs.join("server.pem"),
    )
    .unwrap()
    .next()
    .map(
        |c: Result<tokio_rustls::rustls::pki_types::CertificateDer<'static>, _>| {
            c.unwrap().to_vec()
        },
    )
    .unwrap();
    assert_eq!(new_leaf, expected);

    // The connection opened before the reload still works.
    old.write_all(request).await.unwrap();
    let n = old.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );

    proxy
        .metrics(&[r#"mimir_proxy_tls_reloads_total{result="success"}"#])
        .await;
    assert!(proxy.log().contains("TLS certificate reloaded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests() {
    let upstream = Upstream::start().await;
    let mut opts = Options::new(&upstream);
    opts.grace_period_seconds = 3;
    let mut proxy = Proxy::start(opts).await;
    let client = proxy.client();
    let in_flight = tokio::spawn({
        let url = proxy.url("/slow?ms=1500");
        async move { client.get(url).send().await?.text().await }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    proxy.signal("TERM");
    let body = in_flight
        .await
        .unwrap()
        .expect("in-flight request was dropped");
    assert_eq!(body, "slow done");
    // New connections are no longer accepted once shutdown started.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(proxy.tls(&[&TLS13], &[b"http/1.1"]).await.is_err());
    let status = tokio::task::block_in_place(|| proxy.wait_exit(Duration::from_secs(10)));
    assert!(
        status.is_some_and(|s| s.success()),
        "proxy did not exit cleanly: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;
    let admin = |path: &str| format!("http://{}{path}", proxy.admin);

    let resp = reqwest::get(admin("/healthz")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = reqwest::get(admin("/readyz")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["ready"],
        true
    );

    proxy.client().get(proxy.url("/mcp")).send().await.unwrap();
    proxy
        .client()
        .get(proxy.url("/no-such-group/x"))
        .send()
        .await
        .unwrap();
    proxy
        .metrics(&[
            r#"mimir_proxy_requests_total{route="mcp",status="200"} 1"#,
            r#"mimir_proxy_requests_total{route="other",status="200"} 1"#,
            "mimir_proxy_request_duration_seconds_bucket",
        ])
        .await;
    assert_eq!(reqwest::get(admin("/nope")).await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_only_redirects() {
    let upstream = Upstream::start().await;
    let mut opts = Options::new(&upstream);
    opts.redirect = true;
    let proxy = Proxy::start(opts).await;
    let redirect = proxy.redirect.unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let hits = upstream.hits();
    let resp = client
        .get(format!(
            "http://localhost:{}/api/nodes?x=1",
            redirect.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 301);
    assert_eq!(
        resp.headers()["location"],
        format!("https://localhost:{}/api/nodes?x=1", proxy.addr.port())
    );
    assert_eq!(upstream.hits(), hits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_headers_are_cut_off() {
    let upstream = Upstream::start().await;
    let mut opts = Options::new(&upstream);
    opts.header_timeout_seconds = 1;
    let proxy = Proxy::start(opts).await;
    let mut tls = proxy.tls(&[&TLS13], &[b"http/1.1"]).await.unwrap();
    tls.write_all(b"GET /echo HTTP/1.1\r\nHost: local")
        .await
        .unwrap();
    let started = Instant::now();
    let rest = read_to_close(&mut tls, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "slow header not cut off"
    );
    assert!(!rest.contains("200 OK"), "{rest}");
    assert_eq!(upstream.hits(), 0);
}

/// A client CA and one client certificate signed by it, as PEM files in `dir`.
fn client_pki(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["agent-1".to_owned()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    let paths = (
        dir.join("client-ca.pem"),
        dir.join("client.pem"),
        dir.join("client.key"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_are_required_with_client_ca() {
    let upstream = Upstream::start().await;
    let pki = tempfile::tempdir().unwrap();
    let (client_ca, cert, key) = client_pki(pki.path());
    let mut opts = Options::new(&upstream);
    opts.client_ca = Some(client_ca);
    let proxy = Proxy::start(opts).await;
    let request = b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

    let mut with_cert = tls_connect(
        proxy.addr,
        &[proxy.ca()],
        &[&TLS13],
        &[b"http/1.1"],
        Some((&cert, &key)),
    )
    .await
    .unwrap();
    with_cert.write_all(request).await.unwrap();
    let resp = read_to_close(&mut with_cert, Duration::from_secs(5)).await;
    assert_eq!(status_of(&resp), 200, "{resp}");

    for version in [&TLS12, &TLS13] {
        // TLS 1.3 reports the missing certificate after the client's Finished, so look at
        // whether a response ever comes back rather than at the handshake alone.
        let answered =
            match tls_connect(proxy.addr, &[proxy.ca()], &[version], &[b"http/1.1"], None).await {
                Ok(mut tls) => {
                    let _ = tls.write_all(request).await;
                    read_to_close(&mut tls, Duration::from_secs(5))
                        .await
                        .contains("HTTP/1.1")
                }
                Err(_) => false,
            };
        assert!(
            !answered,
            "served a client without a certificate over {version:?}"
        );
    }
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_reset_mid_stream_is_survived() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;
    let client = proxy.client();
    // The status line went out before the failure, so the client must see a broken body
    // (reset stream / unterminated chunked body), never a complete-looking "partial".
    let resp = client.get(proxy.url("/broken")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await;
    assert!(
        body.is_err(),
        "truncated body delivered as complete: {body:?}"
    );
    let resp = client.get(proxy.url("/echo")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "proxy unusable after an upstream reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_bodies_time_out() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;
    let mut tls = proxy.tls(&[&TLS13], &[b"http/1.1"]).await.unwrap();
    tls.write_all(
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nonly-a-little",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let resp = read_to_close(&mut tls, Duration::from_secs(10)).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(BODY_TIMEOUT_SECONDS - 1)
            && waited < Duration::from_secs(BODY_TIMEOUT_SECONDS + 3),
        "body timeout after {waited:?}"
    );
    assert!(!resp.contains("200 OK"), "{resp}");
    if !resp.is_empty() {
        assert_eq!(status_of(&resp), 408, "{resp}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_certificate_is_generated_when_allowed() {
    let upstream = Upstream::start().await;
    let mut opts = Options::new(&upstream);
    opts.generate_dev_cert = true;
    let proxy = Proxy::start(opts).await;
    let resp = proxy.client().get(proxy.url("/echo")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(proxy.certs().join("server.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        proxy.log().contains("ca.pem"),
        "CA location not logged: {}",
        proxy.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_over_mutual_tls() {
    // The upstream is a second proxy that requires client certificates.
    let echo = Upstream::start().await;
    let pki = tempfile::tempdir().unwrap();
    let (client_ca, cert, key) = client_pki(pki.path());
    let mut inner = Options::new(&echo);
    inner.client_ca = Some(client_ca);
    let inner = Proxy::start(inner).await;

    let mut outer = Options::to(inner.addr.to_string());
    outer.upstream_tls = Some((inner.ca(), Some((cert, key))));
    let outer = Proxy::start(outer).await;
    let resp = outer.client().get(outer.url("/echo")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = echo_json(&resp.text().await.unwrap());
    assert_eq!(body["target"], "/echo");

    // Without the client certificate the inner proxy refuses the connection: 502.
    let mut no_cert = Options::to(inner.addr.to_string());
    no_cert.upstream_tls = Some((inner.ca(), None));
    let no_cert = Proxy::start(no_cert).await;
    let resp = no_cert
        .client()
        .get(no_cert.url("/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(echo.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_host_is_rejected() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;
    let requests = [
        "GET /echo HTTP/1.1\r\n\r\n",
        "GET /echo HTTP/1.0\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: user@localhost\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: localhost:99999\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: localhost\r\nHost: evil\r\n\r\n",
    ];
    for request in requests {
        let resp = proxy.raw(request.as_bytes()).await;
        assert_eq!(status_of(&resp), 400, "{request:?}: {resp}");
        assert_eq!(
            json_body(&resp)["error"],
            "bad_request",
            "{request:?}: {resp}"
        );
    }
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_the_parser_refuses_are_answered_and_counted_by_the_gateway() {
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Options::new(&upstream)).await;
    let heads = [
        (
            "GET /echo HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n",
            "invalid header name",
        ),
        ("GARBAGE\r\n\r\n", "invalid token"),
        (
            "GET /echo HTTP/9.9\r\nHost: localhost\r\n\r\n",
            "invalid HTTP version",
        ),
        (
            "GET /echo HTTP/1.1\r\nHost: localhost\r\nHost: evil\r\n\r\n",
            "multiple Host header fields",
        ),
    ];
    for (head, reason) in heads {
        let resp = proxy.raw(head.as_bytes()).await;
        assert_eq!(status_of(&resp), 400, "{head:?}: {resp}");
        let body = json_body(&resp);
        assert_eq!(body["error"], "bad_request", "{head:?}: {resp}");
        assert_eq!(body["message"], reason, "{head:?}: {resp}");
        assert_eq!(
            header_of(&resp, "x-request-id"),
            body["request_id"].as_str(),
            "{head:?}: {resp}"
        );
        assert!(header_of(&resp, "strict-transport-security").is_some());
    }
    proxy
        .metrics(&[r#"mimir_proxy_requests_total{route="other",status="400"} 4"#])
        .await;
    // Well-formed requests are still served.
    let ok = proxy.client().get(proxy.url("/echo")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(upstream.hits(), 1);
}
