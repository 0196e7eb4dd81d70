//! A `mimir-proxy` with authentication configured, in front of the echo upstream of
//! `support`: its keys file, lockdown file and log live in a temporary directory.

#![allow(dead_code)]

pub mod idp;
pub mod issuer;
pub mod keys;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{free_port, gen_certs, BIN};

/// The repository's shipped policy (config/rbac.json, config/routes.toml).
pub fn policy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config")
}

pub struct AuthProxy {
    child: Child,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    config: PathBuf,
}

impl AuthProxy {
    /// `auth_toml` is appended inside `[auth]`; `env` is the proxy's whole MIMIR_* environment.
    pub async fn start(upstream: &str, auth_toml: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        gen_certs(&certs);
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin = free_port();
        let d = dir.path().display();
        let config = dir.path().join("proxy.toml");
        std::fs::write(
            &config,
            format!(
                r#"[server]
listen = "{addr}"
admin_listen = "127.0.0.1:{admin}"
grace_period_seconds = 1
threads = 1
[tls]
cert = "{c}/server.pem"
key = "{c}/server.key"
[upstream]
address = "{upstream}"
connect_timeout_ms = 500
[log]
level = "info"
[auth]
keys_file = "{d}/keys.json"
lockdown_file = "{d}/lockdown"
{auth_toml}
[authz]
rbac = "{cfg}/rbac.json"
routes = "{cfg}/routes.toml"
"#,
                c = certs.display(),
                cfg = policy_dir().display(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("proxy.log")).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("run")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        for (name, _) in std::env::vars() {
            if name.starts_with("MIMIR_") {
                cmd.env_remove(name);
            }
        }
        cmd.envs(env.iter().copied());
        let child = cmd.spawn().expect("start mimir-proxy");
        let proxy = Self {
            child,
            dir,
            addr,
            config,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "proxy did not start: {}",
                proxy.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        proxy
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("proxy.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    pub fn client(&self) -> reqwest::Client {
        self.client_builder().build().unwrap()
    }

    /// A client trusting this proxy's CA, resolving `localhost` to it.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let ca = std::fs::read(self.dir.path().join("certs/ca.pem")).unwrap();
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .resolve("localhost", self.addr)
            .timeout(Duration::from_secs(20))
    }

    /// `mimir-proxy <args> --config <this proxy's config>`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap()
    }

    /// `POST /auth/login` as a dev user; the JSON answer (`access_token`, …).
    pub async fn login(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> serde_json::Value {
        client
            .post(self.url("/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Create an API key with the CLI; returns (id, key).
    pub fn create_key(&self, name: &str, roles: &str) -> (String, String) {
        let out = self.cli(&["keys", "create", "--name", name, "--roles", roles]);
        assert!(out.status.success(), "{out:?}");
        let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let id = key["mimir_".len().."mimir_".len() + 12].to_owned();
        (id, key)
    }
}

impl Drop for AuthProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
