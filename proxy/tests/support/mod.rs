//! Test harness: a tiny axum upstream that echoes what it received, and the real
//! `mimir-proxy` binary started in front of it with a freshly generated dev certificate.

use axum::body::Body;
use axum::extract::Query;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

pub const BIN: &str = env!("CARGO_BIN_EXE_mimir-proxy");

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The echo upstream. Every route records a hit; `/slow?ms=N` answers after N ms; `/sse`
/// sends one event, waits `?gap_ms` (default 1500), then a second one.
pub struct Upstream {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    pub async fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let app = Router::new()
            .route("/slow", get(slow))
            .route("/sse", get(sse))
            .route("/broken", get(broken))
            .fallback(echo)
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let counter = counter.clone();
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        next.run(req).await
                    }
                },
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &headers {
        seen.entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    axum::Json(serde_json::json!({
        "method": method.as_str(),
        "target": uri.to_string(),
        "headers": seen,
        "body_len": body.len(),
    }))
    .into_response()
}

async fn slow(Query(q): Query<HashMap<String, u64>>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(q.get("ms").copied().unwrap_or(1000))).await;
    "slow done"
}

async fn sse(Query(q): Query<HashMap<String, u64>>) -> Response {
    let gap = Duration::from_millis(q.get("gap_ms").copied().unwrap_or(1500));
    let stream = async_stream(gap);
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

/// Sends the header and a first chunk, then fails: hyper drops the connection mid-body.
async fn broken() -> Response {
    let stream = futures_util::stream::unfold(0u8, |n| async move {
        match n {
            0 => Some((Ok(axum::body::Bytes::from("partial")), 1)),
            1 => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Some((Err(std::io::Error::other("upstream died")), 2))
            }
            _ => None,
        }
    });
    Response::new(Body::from_stream(stream))
}

fn async_stream(
    gap: Duration,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> {
    futures_util::stream::unfold(0u8, move |n| async move {
        match n {
            0 => Some((Ok("data: first\n\n".into()), 1)),
            1 => {
                tokio::time::sleep(gap).await;
                Some((Ok("data: second\n\n".into()), 2))
            }
            _ => None,
        }
    })
}

/// Knobs of a proxy under test; everything else is fixed in [`Proxy::start`].
#[derive(Clone)]
pub struct Options {
    pub upstream: String,
    pub read_timeout_seconds: u64,
    /// TOML array, e.g. `["127.0.0.1/32"]`.
    pub trusted_proxies: &'static str,
    pub grace_period_seconds: u64,
    pub header_timeout_seconds: u64,
    /// `limits.max_body_bytes` ([`MAX_BODY_BYTES`] unless a test needs larger bodies).
    pub max_body_bytes: usize,
    pub redirect: bool,
    /// `tls.client_ca`: require client certificates signed by this CA.
    pub client_ca: Option<PathBuf>,
    /// Let the proxy create its own certificate (`tls.generate_dev_cert`) instead of `gen-certs`.
    pub generate_dev_cert: bool,
    /// TLS to the upstream: the CA to verify it with (SNI `localhost`) and an optional client
    /// certificate and key.
    pub upstream_tls: Option<(PathBuf, Option<(PathBuf, PathBuf)>)>,
    /// Appended to the policy file: further sections, e.g. `[audit]`. By default
    /// [`AUTH_DISABLED`], for tests about everything but authentication.
    pub extra_toml: String,
}

/// Authentication off (accepted on a loopback listener only): requests are forwarded as they are.
pub const AUTH_DISABLED: &str = "[auth]\nenabled = false\n";

/// `[authz]` naming the repository's shipped policy by absolute path (the proxy's default paths
/// are relative to its working directory). Added to every test proxy's file that has none.
pub fn shipped_policy_toml() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    format!(
        "[authz]\nrbac = \"{}\"\nroutes = \"{}\"\n",
        dir.join("rbac.json").display(),
        dir.join("routes.toml").display()
    )
}

impl Options {
    pub fn new(upstream: &Upstream) -> Self {
        Self::to(upstream.addr.to_string())
    }

    pub fn to(upstream: String) -> Self {
        Self {
            upstream,
            read_timeout_seconds: 5,
            trusted_proxies: "[]",
            grace_period_seconds: 1,
            header_timeout_seconds: 5,
            max_body_bytes: MAX_BODY_BYTES,
            redirect: false,
            client_ca: None,
            generate_dev_cert: false,
            upstream_tls: None,
            extra_toml: AUTH_DISABLED.to_owned(),
        }
    }
}

pub const MAX_URI_BYTES: usize = 1024;
pub const MAX_HEADER_BYTES: usize = 4096;
pub const MAX_BODY_BYTES: usize = 1024;
pub const BODY_TIMEOUT_SECONDS: u64 = 2;

/// A running `mimir-proxy`; killed on drop.
pub struct Proxy {
    child: Child,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub redirect: Option<SocketAddr>,
}

impl Proxy {
    pub async fn start(opts: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        if !opts.generate_dev_cert {
            gen_certs(&certs);
        }
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let redirect = opts
            .redirect
            .then(|| format!("127.0.0.1:{}", free_port()).parse().unwrap());
        let redirect_line = redirect
            .map(|r: SocketAddr| format!("http_redirect_listen = \"{r}\"\n"))
            .unwrap_or_default();
        let client_ca_line = opts
            .client_ca
            .as_ref()
            .map(|ca| format!("client_ca = \"{}\"\n", ca.display()))
            .unwrap_or_default();
        let upstream_tls_lines = match &opts.upstream_tls {
            None => String::new(),
            Some((ca, client)) => {
                let mut lines = format!(
                    "tls = true\nsni = \"localhost\"\nca = \"{}\"\n",
                    ca.display()
                );
                if let Some((cert, key)) = client {
                    lines += &format!(
                        "client_cert = \"{}\"\nclient_key = \"{}\"\n",
                        cert.display(),
                        key.display()
                    );
                }
                lines
            }
        };
        let config = format!(
            r#"
[server]
listen = "{addr}"
admin_listen = "{admin}"
{redirect_line}hsts_max_age = 600
grace_period_seconds = {grace}
threads = 1

[tls]
cert = "{certs}/server.pem"
key = "{certs}/server.key"
generate_dev_cert = {generate}
{client_ca_line}
[upstream]
address = "{upstream}"
connect_timeout_ms = 500
read_timeout_seconds = {read_timeout}
write_timeout_seconds = 5
{upstream_tls_lines}
[headers]
trusted_proxies = {trusted}

[limits]
max_uri_bytes = {MAX_URI_BYTES}
max_header_bytes = {MAX_HEADER_BYTES}
max_body_bytes = {max_body}
client_header_timeout_seconds = {header_timeout}
client_body_timeout_seconds = {BODY_TIMEOUT_SECONDS}

[log]
level = "info"

{extra}
"#,
            certs = certs.display(),
            upstream = opts.upstream,
            grace = opts.grace_period_seconds,
            read_timeout = opts.read_timeout_seconds,
            trusted = opts.trusted_proxies,
            header_timeout = opts.header_timeout_seconds,
            max_body = opts.max_body_bytes,
            generate = opts.generate_dev_cert,
            extra = if opts.extra_toml.contains("[authz]") {
                opts.extra_toml.clone()
            } else {
                opts.extra_toml.clone() + "\n" + &shipped_policy_toml()
            },
        );
        let config_path = dir.path().join("proxy.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("proxy.log")).unwrap();
        let child = Command::new(BIN)
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start mimir-proxy");
        let proxy = Self {
            child,
            dir,
            addr,
            admin,
            redirect,
        };
        proxy.wait_listening().await;
        proxy
    }

    async fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        for addr in [Some(self.addr), Some(self.admin), self.redirect]
            .into_iter()
            .flatten()
        {
            while TcpStream::connect(addr).await.is_err() {
                assert!(
                    Instant::now() < deadline,
                    "proxy did not listen on {addr}: {}",
                    self.log()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("proxy.log")).unwrap_or_default()
    }

    pub fn certs(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    pub fn ca(&self) -> PathBuf {
        self.certs().join("ca.pem")
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait for the process to exit; `None` if it is still running at the deadline.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// reqwest over TLS trusting the dev CA, `localhost` pinned to the proxy's address.
    pub fn client(&self) -> reqwest::Client {
        let ca = std::fs::read(self.ca()).unwrap();
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .resolve("localhost", self.addr)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    /// `method path` on `client` (one trusting the dev CA, e.g. [`Proxy::client`]), with `key` as
    /// the bearer credential when there is one.
    pub fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let req = client.request(method, self.url(path));
        match key {
            Some(key) => req.bearer_auth(key),
            None => req,
        }
    }

    /// An MCP session opened through the proxy as `key` (`initialize`, then the `initialized`
    /// notification); the core binds sessions to the caller. Returns the session id.
    pub async fn mcp_session(&self, client: &reqwest::Client, key: &str) -> String {
        let post = |body: serde_json::Value| {
            self.request(client, reqwest::Method::POST, "/mcp", Some(key))
                .header("accept", "application/json, text/event-stream")
                .json(&body)
        };
        let resp = post(
            serde_json::json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},
            "clientInfo":{"name":"mimir-proxy-tests","version":"1"}}}),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status(), 200, "{}", self.log());
        let session = resp.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let initialized = serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"});
        let resp = post(initialized)
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        session
    }

    /// The Prometheus text of the admin listener's `/metrics`, which must have every `expected`
    /// line (or part of one).
    pub async fn metrics(&self, expected: &[&str]) -> String {
        let text = reqwest::get(format!("http://{}/metrics", self.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for line in expected {
            assert!(
                text.contains(line),
                "{line} missing from the metrics:\n{text}"
            );
        }
        text
    }

    /// A TLS connection with the given versions and ALPN offer.
    pub async fn tls(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> std::io::Result<TlsStream<TcpStream>> {
        tls_connect(self.addr, &[self.ca()], versions, alpn, None).await
    }

    /// Send raw HTTP/1.1 bytes over TLS and read until the server closes (or 5 s pass).
    pub async fn raw(&self, request: &[u8]) -> String {
        self.raw_within(request, Duration::from_secs(5)).await
    }

    /// [`Self::raw`], reading the answer for up to `limit`.
    pub async fn raw_within(&self, request: &[u8], limit: Duration) -> String {
        let mut tls = self
            .tls(&[&rustls::version::TLS13], &[b"http/1.1"])
            .await
            .unwrap();
        tls.write_all(request).await.unwrap();
        read_to_close(&mut tls, limit).await
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn gen_certs(dir: &Path) {
    let out = Command::new(BIN)
        .args(["gen-certs", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "gen-certs: {out:?}");
}

/// A client certificate chain and key (PEM files) for mTLS.
pub type ClientAuth<'a> = Option<(&'a Path, &'a Path)>;

pub async fn tls_connect(
    addr: SocketAddr,
    cas: &[PathBuf],
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
    client_auth: ClientAuth<'_>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let suites = rustls::crypto::ring::default_provider().cipher_suites;
    tls_connect_preferring(addr, cas, versions, alpn, client_auth, suites).await
}

/// [`tls_connect`] offering `suites`, in that order of preference.
pub async fn tls_connect_preferring(
    addr: SocketAddr,
    cas: &[PathBuf],
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
    client_auth: ClientAuth<'_>,
    suites: Vec<rustls::SupportedCipherSuite>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = RootCertStore::empty();
    for ca in cas {
        for cert in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    let provider = Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: suites,
        ..rustls::crypto::ring::default_provider()
    });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client_auth {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
            let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

pub async fn read_to_close<S: AsyncReadExt + Unpin>(stream: &mut S, limit: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Status code of a raw HTTP/1 response, `None` if it is not one.
pub fn try_status_of(response: &str) -> Option<u16> {
    response.split(' ').nth(1).and_then(|s| s.parse().ok())
}

/// Status code of a raw HTTP/1 response.
pub fn status_of(response: &str) -> u16 {
    try_status_of(response).unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

/// JSON body of a raw HTTP/1 response (Content-Length framed).
pub fn json_body(response: &str) -> serde_json::Value {
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response:?}"))
}

/// Header value from a raw HTTP/1 response (case-insensitive name).
pub fn header_of<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The real core binary (`MIMIR_CORE_BIN`, default target/debug/mimir-core) on a free port with
/// its own data directory; killed on drop.
pub struct Core {
    child: Child,
    _dir: tempfile::TempDir,
    pub addr: String,
}

impl Drop for Core {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_core() -> Core {
    start_core_with(&[]).await
}

/// [`start_core`] with further environment variables (e.g. `MIMIR_PROXY_PUBLIC_KEY_FILE`).
pub async fn start_core_with(env: &[(&str, &std::ffi::OsStr)]) -> Core {
    let bin = std::env::var_os("MIMIR_CORE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/mimir-core")
        });
    assert!(
        bin.is_file(),
        "mimir-core binary not found at {}: run `cargo build -p mimir-core` or set MIMIR_CORE_BIN",
        bin.display()
    );
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    // Beside the data directory: a root holding it would refuse the start.
    let index = dir.path().join("index");
    std::fs::create_dir(&index).unwrap();
    let child = Command::new(bin)
        .env("MIMIR_CORE_BIND", format!("127.0.0.1:{port}"))
        .env("MIMIR_DATA_DIR", dir.path().join("data"))
        .env("MIMIR_INDEX_ROOTS", &index)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let core = Core {
        child,
        _dir: dir,
        addr: format!("127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = reqwest::get(format!("http://{}/health", core.addr)).await {
            if r.status() == 200 {
                return core;
            }
        }
        assert!(Instant::now() < deadline, "the core did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A new identity key pair in `dir` (`identity.key`, `identity.pub`, from `mimir-proxy
/// identity-keygen`); returns the proxy's `[identity]` section signing with it.
pub fn identity_keygen(dir: &Path) -> String {
    let out = Command::new(BIN)
        .args(["identity-keygen", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "identity-keygen: {out:?}");
    let key = dir.join("identity.key");
    format!("[identity]\nsigning_key_file = \"{}\"\n", key.display())
}

/// [`start_core`] as deployed: it requires assertions signed with the pair
/// [`identity_keygen`] made in `dir`.
pub async fn start_enforcing_core(dir: &Path) -> Core {
    start_core_with(&[
        (
            "MIMIR_PROXY_PUBLIC_KEY_FILE",
            dir.join("identity.pub").as_os_str(),
        ),
        ("MIMIR_REQUIRE_PROXY_IDENTITY", "true".as_ref()),
    ])
    .await
}

/// The `[auth]` section keeping API keys and the lockdown mark in `dir`.
pub fn auth_toml(dir: &Path) -> String {
    format!(
        "[auth]\nkeys_file = \"{d}/keys.json\"\nlockdown_file = \"{d}/lockdown\"\n",
        d = dir.display()
    )
}

/// The `[audit]` section writing JSON lines to the file `log` only.
pub fn audit_file_toml(log: &Path) -> String {
    format!(
        "[audit]\nenabled = true\ndestinations = [\"file\"]\n[audit.file]\npath = \"{}\"\n",
        log.display()
    )
}

/// The audit records in `log` that `select` picks, waiting up to 15 s for `count` of them (the
/// proxy writes them in the background).
pub async fn wait_for_records(
    log: &Path,
    count: usize,
    select: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let records: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|r| select(r))
            .collect();
        if records.len() >= count {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "{count} matching records expected:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An API key with `roles`, made with `mimir-proxy keys create` and stored in `dir/keys.json`.
pub fn create_key(dir: &Path, name: &str, roles: &str) -> String {
    let config = dir.join("keys.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = \"{d}/certs/server.pem\"\nkey = \"{d}/certs/server.key\"\n\
             generate_dev_cert = true\n{auth}",
            d = dir.display(),
            auth = auth_toml(dir)
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["keys", "create", "--config"])
        .arg(&config)
        .args(["--name", name, "--roles", roles, "--expires", "1d"])
        .output()
        .unwrap();
    assert!(out.status.success(), "keys create: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Polls `status` until it answers `expected`: for changes the proxy picks up from files (keys,
/// lockdown) on its own schedule. Fails after 15 s, naming `what`.
pub async fn await_status<F, Fut>(what: &str, expected: u16, mut status: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = status().await;
        if got == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {got}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
