//! The `[oauth]` section: the gateway's authorization server for MCP clients.

use serde::Deserialize;
use std::path::{Path, PathBuf};

use super::redirect_uris;
use crate::authn::Announce;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    /// Serve the authorization server (metadata, `/authorize`, `/token`, `/register`,
    /// `/revoke`). Needs `[auth]` on.
    pub enabled: bool,
    /// Which authorization servers the protected-resource metadata names: `gateway`,
    /// `external` (the `[[auth.issuers]]`) or `both`.
    pub announce: Announce,
    /// RFC 7591 registration at `/register` (public clients only).
    pub dynamic_registration: bool,
    /// Registrations accepted per client address (IPv6: per `traffic.ipv6_prefix`) and minute.
    pub registrations_per_minute: u32,
    /// Dynamically registered clients kept at most (the oldest unused go first).
    pub max_clients: usize,
    /// Client ID Metadata Documents: a `client_id` that is an https URL is fetched.
    pub client_metadata_documents: bool,
    /// Let documents come from loopback, private, link-local or other non-public addresses
    /// (tests and closed networks only).
    pub allow_private_document_hosts: bool,
    /// PEM CA bundle trusted for documents (the web's roots when absent).
    pub document_ca_file: Option<PathBuf>,
    pub document_max_bytes: usize,
    pub document_timeout_seconds: u64,
    /// How long a fetched document is used before it is fetched again.
    pub document_cache_seconds: u64,
    /// Private-use URI schemes accepted for redirect URIs (RFC 8252 §7.1) besides those with a
    /// dot (reverse domain names); `https` and loopback `http` are always accepted.
    pub redirect_schemes: Vec<String>,
    /// Lifetime of an authorization code.
    pub code_seconds: u64,
    /// Lifetime of an access token.
    pub access_token_seconds: u64,
    /// Lifetime of a grant: its refresh tokens stop working this long after sign-in.
    pub grant_seconds: u64,
    /// Live access tokens and grants held at most.
    pub max_access_tokens: usize,
    pub max_grants: usize,
    /// Clients, grants and consents, kept across restarts (written atomically, mode 0600);
    /// `oauth-state.json` beside `auth.keys_file` when unset.
    pub state_file: Option<PathBuf>,
    /// Written by `mimir-proxy oauth revoke`, applied by the running gateway within a second;
    /// `oauth-revocations.json` beside `auth.keys_file` when unset.
    pub revocations_file: Option<PathBuf>,
    /// Clients registered by the organisation; with `dynamic_registration` and
    /// `client_metadata_documents` off, the only ones.
    pub clients: Vec<ClientConfig>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    pub client_id: String,
    /// Shown on the consent page.
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// SHA-256 (hex) of the client secret of a confidential client; public when absent.
    pub secret_sha256: Option<String>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            announce: Announce::Gateway,
            dynamic_registration: true,
            registrations_per_minute: 10,
            max_clients: 10_000,
            client_metadata_documents: true,
            allow_private_document_hosts: false,
            document_ca_file: None,
            document_max_bytes: 5_120,
            document_timeout_seconds: 5,
            document_cache_seconds: 300,
            redirect_schemes: ["cursor", "vscode", "vscode-insiders", "claude"]
                .map(String::from)
                .to_vec(),
            code_seconds: 60,
            access_token_seconds: 600,
            grant_seconds: 30 * 86_400,
            max_access_tokens: 100_000,
            max_grants: 100_000,
            state_file: None,
            revocations_file: None,
            clients: Vec::new(),
        }
    }
}

impl OAuthConfig {
    /// The state file and the revocations file; by default beside `keys_file`, the other file
    /// of credentials the gateway keeps.
    pub fn files(&self, keys_file: &Path) -> (PathBuf, PathBuf) {
        let beside = |name: &str| keys_file.with_file_name(name);
        (
            self.state_file
                .clone()
                .unwrap_or_else(|| beside("oauth-state.json")),
            self.revocations_file
                .clone()
                .unwrap_or_else(|| beside("oauth-revocations.json")),
        )
    }
}

/// Semantic checks: `(field, message)` for every problem.
pub fn check(cfg: &OAuthConfig) -> Vec<(String, String)> {
    let mut issues = Vec::new();
    let mut fail = |field: String, message: &str| issues.push((field, message.to_owned()));
    for (field, value) in [
        (
            "registrations_per_minute",
            u64::from(cfg.registrations_per_minute),
        ),
        ("max_clients", cfg.max_clients as u64),
        ("document_max_bytes", cfg.document_max_bytes as u64),
        ("document_timeout_seconds", cfg.document_timeout_seconds),
        ("code_seconds", cfg.code_seconds),
        ("access_token_seconds", cfg.access_token_seconds),
        ("grant_seconds", cfg.grant_seconds),
        ("max_access_tokens", cfg.max_access_tokens as u64),
        ("max_grants", cfg.max_grants as u64),
    ] {
        if value == 0 {
            fail(format!("oauth.{field}"), "must be greater than 0");
        }
    }
    if cfg.code_seconds > 600 {
        fail(
            "oauth.code_seconds".into(),
            "must be at most 600 (RFC 6749 §4.1.2)",
        );
    }
    for scheme in &cfg.redirect_schemes {
        if !redirect_uris::is_private_scheme(scheme) {
            fail(
                "oauth.redirect_schemes".into(),
                "each must be a URI scheme other than http, https, javascript, data, file, blob or about",
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, client) in cfg.clients.iter().enumerate() {
        let field = |name: &str| format!("oauth.clients[{i}].{name}");
        if client.client_id.is_empty() || client.client_id.len() > 255 {
            fail(field("client_id"), "must be 1 to 255 characters");
        } else if !seen.insert(client.client_id.as_str()) {
            fail(field("client_id"), "is used by an earlier client");
        }
        if client.redirect_uris.is_empty() {
            fail(field("redirect_uris"), "needs at least one URI");
        }
        for uri in &client.redirect_uris {
            if let Err(why) = redirect_uris::check(uri, &cfg.redirect_schemes) {
                fail(field("redirect_uris"), why);
            }
        }
        if let Some(hash) = &client.secret_sha256 {
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                fail(field("secret_sha256"), "must be 64 hexadecimal characters");
            }
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_bad_clients_are_named() {
        assert!(check(&OAuthConfig::default()).is_empty());
        let cfg = OAuthConfig {
            clients: vec![
                ClientConfig {
                    client_id: "a".into(),
                    redirect_uris: vec!["http://evil.example/cb".into()],
                    secret_sha256: Some("xyz".into()),
                    ..ClientConfig::default()
                },
                ClientConfig {
                    client_id: "a".into(),
                    ..ClientConfig::default()
                },
            ],
            code_seconds: 0,
            ..OAuthConfig::default()
        };
        let fields: Vec<String> = check(&cfg).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "oauth.code_seconds",
                "oauth.clients[0].redirect_uris",
                "oauth.clients[0].secret_sha256",
                "oauth.clients[1].client_id",
                "oauth.clients[1].redirect_uris",
            ]
        );
    }
}
