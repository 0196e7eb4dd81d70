//! The real OpenID provider (`tests/idp/idp.mjs`, oidc-provider on Node) on a free loopback port.
//! Needs `tests/idp/install.sh` to have run; `MIMIR_TEST_NODE` names the node binary.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::support::free_port;

pub struct Idp {
    child: Child,
    pub issuer: String,
}

pub const CLIENT_ID: &str = "mcp-agent";
pub const CLIENT_SECRET: &str = "agent-secret";

impl Idp {
    pub fn start(resource: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/idp");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "oidc-provider is not installed: run tests/idp/install.sh"
        );
        let node = std::env::var("MIMIR_TEST_NODE").unwrap_or_else(|_| "node".into());
        let port = free_port();
        let mut child = Command::new(node)
            .arg(dir.join("idp.mjs"))
            .arg(port.to_string())
            .arg(resource)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node (set MIMIR_TEST_NODE)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let issuer = line
            .trim()
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("idp did not start: {line:?}"))
            .to_owned();
        Self { child, issuer }
    }

    /// A client-credentials access token for `resource`.
    pub async fn client_credentials_token(&self, resource: &str) -> String {
        let resp = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", resource),
                ("scope", "mcp"),
            ])
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
        let body: serde_json::Value = resp.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop();
    }
}
