//! nginx in front, the proxy deciding: a real nginx (Debian's `/usr/sbin/nginx`, or `NGINX_BIN`;
//! missing fails when `CI=true`) runs `nginx-compat/auth-request.conf` in front of the real
//! core, asking the real proxy's admin listener (`GET /auth/verify`) about every request.
//! The same requests sent to the proxy directly and through nginx get the same statuses;
//! identity headers a client makes up never reach the core; MCP through nginx is refused; IP
//! lists, rates and brute-force blocks hold across both ways in. `forward-to-proxy.conf` (nginx
//! in front of the proxy) keeps the checks and the client's real address.
//!
//! Runs the core binary: `MIMIR_CORE_BIN`, default `target/debug/mimir-core`.

#[allow(dead_code)]
mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{Core, Options, Proxy};

const AUTH_REQUEST: &str = include_str!("../../nginx-compat/auth-request.conf");
const FORWARD: &str = include_str!("../../nginx-compat/forward-to-proxy.conf");

fn nginx_bin() -> Option<PathBuf> {
    let bin = std::env::var_os("NGINX_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
    if bin.is_file() {
        return Some(bin);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "nginx not found at {} (apt-get install nginx, or set NGINX_BIN)",
        bin.display()
    );
    eprintln!("skipped: nginx not found at {}", bin.display());
    None
}

/// A running nginx with the rendered example config; killed on drop.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// The example with this test's addresses, certificates and temporary paths. Every value
    /// replaced must be in the example, so the two cannot drift apart.
    async fn start(bin: &Path, example: &str, proxy: &Proxy, core: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path();
        let addr: SocketAddr = format!("127.0.0.1:{}", support::free_port())
            .parse()
            .unwrap();
        let certs = proxy.certs();
        let temp_paths = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
            .map(|kind| format!("{kind}_temp_path {}/{kind};", tmp.display()))
            .join("\n");
        let mut conf = example.to_owned();
        let replacements = [
            ("listen 443 ssl;", format!("listen {addr} ssl;")),
            ("127.0.0.1:9090", proxy.admin.to_string()),
            ("127.0.0.1:8081", core.to_owned()),
            ("127.0.0.1:8443", proxy.addr.to_string()),
            (
                "/etc/nginx/ssl/cert.pem",
                certs.join("server.pem").display().to_string(),
            ),
            (
                "/etc/nginx/ssl/key.pem",
                certs.join("server.key").display().to_string(),
            ),
            (
                "/etc/nginx/ssl/mimir-ca.pem",
                certs.join("ca.pem").display().to_string(),
            ),
            (
                "http {",
                format!(
                    "http {{\n{temp_paths}\naccess_log {}/access.log;",
                    tmp.display()
                ),
            ),
        ];
        for (from, to) in replacements {
            // The forwarding example has no admin listener or core address.
            let optional =
                example == FORWARD && (from == "127.0.0.1:9090" || from == "127.0.0.1:8081");
            assert!(
                optional || conf.contains(from),
                "the example no longer has {from:?}"
            );
            conf = conf.replace(from, &to);
        }
        let conf_path = tmp.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        // Started as root, nginx's workers would switch to `nobody`, who cannot enter the
        // temporary directory.
        let user = if unsafe { libc::geteuid() } == 0 {
            " user root;"
        } else {
            ""
        };
        let globals = format!(
            "daemon off; pid {}/nginx.pid; error_log stderr;{user}",
            tmp.display()
        );
        let log = std::fs::File::create(tmp.join("nginx.log")).unwrap();
        let child = Command::new(bin)
            .arg("-p")
            .arg(tmp)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", &globals])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start nginx");
        let mut nginx = Self { child, dir, addr };
        let deadline = Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            let exited = nginx.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "nginx did not start: {}",
                nginx.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nginx
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nginx.log")).unwrap_or_default()
    }
}

/// HTTPS to `localhost` at `addr`, trusting the proxy's dev CA; redirects are not followed.
fn client(proxy: &Proxy, addr: SocketAddr) -> reqwest::Client {
    let ca = std::fs::read(proxy.ca()).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .resolve("localhost", addr)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

#[derive(Clone, Copy)]
enum Credential<'a> {
    None,
    Bearer(&'a str),
    ApiKey(&'a str),
}

struct Setup {
    core: Core,
    state: tempfile::TempDir,
    proxy: Proxy,
    nginx: Nginx,
    direct: reqwest::Client,
    via_nginx: reqwest::Client,
    viewer: String,
    developer: String,
    admin: String,
}

/// nginx runs `example`; `traffic`: extra policy sections (rate limits, IP lists).
async fn setup(bin: &Path, example: &str, traffic: &str) -> Setup {
    let state = tempfile::tempdir().unwrap();
    // As deployed: the core takes only assertions bound to the request it receives, so every
    // request forwarded by nginx also shows that nginx forwards what the proxy signed for.
    let identity = support::identity_keygen(state.path());
    let core = support::start_enforcing_core(state.path()).await;
    let key = |role: &str| support::create_key(state.path(), role, role);
    let (viewer, developer, admin) = (key("viewer"), key("developer"), key("admin"));
    let mut opts = Options::to(core.addr.clone());
    // nginx connects from loopback: its X-Forwarded-For is believed.
    opts.trusted_proxies = r#"["127.0.0.1/32"]"#;
    opts.extra_toml = format!(
        "{}{}\n{}{identity}{traffic}",
        support::auth_toml(state.path()),
        support::shipped_policy_toml(),
        support::audit_file_toml(&state.path().join("audit.log"))
    );
    let proxy = Proxy::start(opts).await;
    let nginx = Nginx::start(bin, example, &proxy, &core.addr).await;
    Setup {
        direct: client(&proxy, proxy.addr),
        via_nginx: client(&proxy, nginx.addr),
        core,
        state,
        proxy,
        nginx,
        viewer,
        developer,
        admin,
    }
}

impl Setup {
    fn request(
        &self,
        via_nginx: bool,
        credential: Credential<'_>,
        method: Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let (client, addr) = if via_nginx {
            (&self.via_nginx, self.nginx.addr)
        } else {
            (&self.direct, self.proxy.addr)
        };
        let req = client.request(method, format!("https://localhost:{}{path}", addr.port()));
        match credential {
            Credential::None => req,
            Credential::Bearer(key) => req.bearer_auth(key),
            Credential::ApiKey(key) => req.header("x-api-key", key),
        }
    }

    /// [`Setup::request`] as it is, sent.
    async fn send(
        &self,
        via_nginx: bool,
        credential: Credential<'_>,
        method: Method,
        path: &str,
    ) -> reqwest::Response {
        self.request(via_nginx, credential, method, path)
            .send()
            .await
            .unwrap()
    }

    /// A request through nginx carrying headers a client made up.
    fn forged(
        &self,
        headers: &[(&str, &str)],
        credential: Credential<'_>,
        method: Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let req = self.request(true, credential, method, path);
        headers
            .iter()
            .fold(req, |req, (name, value)| req.header(*name, *value))
    }

    /// With made-up identity `headers` through nginx: no credential gets a 401 (returned), and
    /// the node a developer's key creates is the developer's in the core, never `mallory`'s.
    async fn forged_identity_is_ignored(&self, headers: &[(&str, &str)]) -> reqwest::Response {
        let refused = self
            .forged(headers, Credential::None, Method::GET, "/api/nodes/query")
            .send()
            .await
            .unwrap();
        assert_eq!(
            refused.status(),
            StatusCode::UNAUTHORIZED,
            "{}",
            self.logs()
        );
        let created = self
            .forged(
                headers,
                Credential::ApiKey(&self.developer),
                Method::POST,
                "/api/nodes",
            )
            .json(&json!({"type": "memory", "properties": {"title": "forged"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED, "{}", self.logs());
        let body = created.text().await.unwrap();
        assert!(
            body.contains("apikey|developer") && !body.contains("mallory"),
            "{body}"
        );
        refused
    }

    fn logs(&self) -> String {
        format!(
            "--- proxy\n{}\n--- nginx\n{}",
            self.proxy.log(),
            self.nginx.log()
        )
    }
}

#[tokio::test]
async fn nginx_with_auth_request_decides_like_the_proxy() {
    let Some(bin) = nginx_bin() else { return };
    let s = setup(&bin, AUTH_REQUEST, "").await;
    let callers = [
        ("anonymous", Credential::None),
        ("viewer", Credential::Bearer(&s.viewer)),
        ("developer", Credential::ApiKey(&s.developer)),
        ("admin", Credential::Bearer(&s.admin)),
    ];
    let node = json!({"type": "memory", "properties": {"title": "t"}});
    let edge = json!({"source": "missing-a", "target": "missing-b", "type": "relates_to"});
    let routes: [(Method, &str, Option<&Value>); 9] = [
        (Method::GET, "/health", None),
        (Method::GET, "/api/nodes/query", None),
        (Method::POST, "/api/nodes", Some(&node)),
        (Method::DELETE, "/api/nodes/missing-node", None),
        (Method::POST, "/api/edges", Some(&edge)),
        (Method::GET, "/api/edges/missing-edge", None),
        (Method::DELETE, "/api/edges/missing-edge", None),
        // A path trick: the public /health must not lend itself to a write.
        (Method::POST, "/health/../api/nodes", Some(&node)),
        // The proxy's own endpoint, which nginx hands to the proxy's HTTPS listener.
        (Method::GET, "/auth/config", None),
    ];
    let mut table = Vec::new();
    for (name, credential) in callers {
        for (method, path, body) in &routes {
            let mut statuses = [0u16; 2];
            for (i, via_nginx) in [false, true].into_iter().enumerate() {
                let mut req = s
                    .request(via_nginx, credential, method.clone(), path)
                    .header("accept", "application/json");
                if let Some(body) = body {
                    req = req.json(body);
                }
                statuses[i] = req.send().await.unwrap().status().as_u16();
            }
            assert_eq!(
                statuses[0],
                statuses[1],
                "{name} {method} {path}: proxy {} vs nginx {}\n{}",
                statuses[0],
                statuses[1],
                s.logs()
            );
            table.push((name, method.clone(), *path, statuses[0]));
        }
    }
    let status = |who: &str, method: Method, path: &str| {
        table
            .iter()
            .find(|(n, m, p, _)| *n == who && *m == method && *p == path)
            .map(|row| row.3)
            .unwrap()
    };
    // The matrix means something: refusals and successes of each kind are in it.
    assert_eq!(status("anonymous", Method::GET, "/health"), 200);
    assert_eq!(status("anonymous", Method::GET, "/api/nodes/query"), 401);
    assert_eq!(
        status("anonymous", Method::POST, "/health/../api/nodes"),
        401
    );
    assert_eq!(status("anonymous", Method::GET, "/auth/config"), 200);
    assert_eq!(status("viewer", Method::POST, "/api/nodes"), 403);
    assert_eq!(
        status("viewer", Method::DELETE, "/api/nodes/missing-node"),
        403
    );
    assert_eq!(status("developer", Method::GET, "/api/nodes/query"), 200);
    assert_eq!(status("developer", Method::POST, "/api/nodes"), 201);
    assert_eq!(
        status("admin", Method::DELETE, "/api/nodes/missing-node"),
        404
    );

    // Both ways write one audit record per decision.
    support::wait_for_records(&s.state.path().join("audit.log"), 2, |r| {
        r["url.path"] == "/api/edges/missing-edge"
            && r["http.request.method"] == "DELETE"
            && r["http.response.status_code"] == 401
    })
    .await;
    drop(s.core);
}

#[tokio::test]
async fn client_identity_headers_never_reach_the_core() {
    let Some(bin) = nginx_bin() else { return };
    let s = setup(&bin, AUTH_REQUEST, "").await;
    let refused = s
        .forged_identity_is_ignored(&[
            ("x-user-id", "mallory"),
            ("x-user-roles", "admin"),
            ("x-mimir-identity", "forged"),
            ("x-forwarded-user", "mallory"),
        ])
        .await;
    // Without a credential the forged identity gets the proxy's challenge.
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("resource_metadata"),
        "{challenge}"
    );
}

#[tokio::test]
async fn browsers_are_sent_to_login_and_mcp_is_refused_through_nginx() {
    let Some(bin) = nginx_bin() else { return };
    let s = setup(&bin, AUTH_REQUEST, "").await;
    let mut locations = Vec::new();
    for via_nginx in [false, true] {
        let resp = s
            .request(
                via_nginx,
                Credential::None,
                Method::GET,
                "/api/nodes/query?x=1",
            )
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{}", s.logs());
        locations.push(resp.headers()["location"].to_str().unwrap().to_owned());
    }
    assert_eq!(locations[0], locations[1]);
    assert_eq!(locations[0], "/login?next=%2Fapi%2Fnodes%2Fquery%3Fx%3D1");

    // MCP tool rules need the body, which auth_request never sees: refused, fail closed.
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "nginx-compat", "version": "1"}}});
    let direct = s
        .request(false, Credential::Bearer(&s.admin), Method::POST, "/mcp")
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), StatusCode::OK);
    let via_nginx = s
        .request(true, Credential::Bearer(&s.admin), Method::POST, "/mcp")
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(via_nginx.status(), StatusCode::FORBIDDEN, "{}", s.logs());
}

#[tokio::test]
async fn traffic_controls_apply_to_the_client_behind_nginx() {
    let Some(bin) = nginx_bin() else { return };
    let limited = "[traffic]\nper_ip = { requests = 3, per = \"hour\", burst = 3 }\n";
    let s = setup(&bin, AUTH_REQUEST, limited).await;
    for _ in 0..3 {
        let resp = s.send(true, Credential::None, Method::GET, "/health").await;
        assert_eq!(resp.status(), StatusCode::OK, "{}", s.logs());
    }
    let resp = s
        .send(true, Credential::Bearer(&s.admin), Method::GET, "/health")
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{}", s.logs());
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0);
    // One budget: the proxy's own listener refuses the same client now.
    let resp = s
        .send(false, Credential::None, Method::GET, "/health")
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);

    let denied = "[traffic.ip]\ndeny = [\"127.0.0.1/32\"]\n";
    let s = setup(&bin, AUTH_REQUEST, denied).await;
    for via_nginx in [false, true] {
        let resp = s
            .send(
                via_nginx,
                Credential::Bearer(&s.admin),
                Method::GET,
                "/health",
            )
            .await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{}", s.logs());
    }
}

#[tokio::test]
async fn guessing_keys_through_nginx_is_blocked_for_both_ways_in() {
    let Some(bin) = nginx_bin() else { return };
    let s = setup(&bin, AUTH_REQUEST, "").await;
    // Well-formed keys that do not exist: each one is a failure for the brute-force guard.
    let guess = |i: usize| format!("mimir_{i:012x}_{}", "A".repeat(43));
    let mut statuses = Vec::new();
    for i in 0..10 {
        let key = guess(i);
        let resp = s
            .send(
                true,
                Credential::ApiKey(&key),
                Method::GET,
                "/api/nodes/query",
            )
            .await;
        statuses.push(resp.status().as_u16());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}\n{}", s.logs());
    assert!(statuses[..statuses.len() - 1].iter().all(|&s| s == 401));
    // The same guard watches the proxy's own listener: this address stays blocked there too.
    let resp = s
        .send(
            false,
            Credential::ApiKey(&guess(99)),
            Method::GET,
            "/api/nodes/query",
        )
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn nginx_forwarding_to_the_proxy_keeps_the_client_and_the_checks() {
    let Some(bin) = nginx_bin() else { return };
    let s = setup(&bin, FORWARD, "").await;
    let spoofed = [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-user-id", "mallory"),
        ("accept", "application/json"),
    ];
    s.forged_identity_is_ignored(&spoofed).await;
    let resp = s
        .forged(
            &spoofed,
            Credential::Bearer(&s.viewer),
            Method::POST,
            "/api/nodes",
        )
        .json(&json!({"type": "memory", "properties": {"title": "t"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // The audit trail has the address nginx saw, not the one the client wrote.
    let created = support::wait_for_records(&s.state.path().join("audit.log"), 1, |r| {
        r["url.path"] == "/api/nodes" && r["http.response.status_code"] == 201
    })
    .await;
    assert_eq!(created[0]["source.ip"], "127.0.0.1", "{created:?}");
}

#[tokio::test]
async fn auth_verify_refuses_peers_that_are_not_trusted_proxies() {
    let core = support::start_core().await;
    let state = tempfile::tempdir().unwrap();
    let key = support::create_key(state.path(), "admin", "admin");
    let mut opts = Options::to(core.addr.clone());
    opts.extra_toml = format!(
        "{}{}",
        support::auth_toml(state.path()),
        support::shipped_policy_toml()
    );
    let proxy = Proxy::start(opts).await;
    let resp = reqwest::Client::new()
        .get(format!("http://{}/auth/verify", proxy.admin))
        .header("x-original-method", "GET")
        .header("x-original-uri", "/api/nodes/query")
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("trusted_proxies"),
        "{body}"
    );
}
