//! Browser login settings: `[auth.session]` (the session cookie) and `[[auth.providers]]`
//! (OpenID providers users sign in with).

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session ends this long after sign-in, however active.
    pub lifetime_seconds: u64,
    /// A session unused for this long ends; each use renews it (sliding).
    pub idle_timeout_seconds: u64,
    /// File holding at least 32 random bytes (any encoding) from which the cookie encryption
    /// key is derived, so sessions survive restarts and are shared by replicas. Absent: a key
    /// is generated at start.
    pub key_file: Option<PathBuf>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            lifetime_seconds: 8 * 3600,
            idle_timeout_seconds: 30 * 60,
            key_file: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    /// Short name used in URLs (`/auth/oauth/login?provider=<id>`).
    pub id: String,
    /// Button label on the login page.
    pub display_name: String,
    /// OpenID issuer; endpoints and keys come from its discovery document.
    pub issuer: String,
    /// Source of this issuer's users in the core, as in `[[auth.issuers]]` (the same for
    /// every entry of one issuer).
    pub source: Option<String>,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// File holding the client secret (preferred over `client_secret`).
    pub client_secret_file: Option<PathBuf>,
    /// Requested scopes besides `openid`.
    pub scopes: Vec<String>,
    /// ID token claim holding the user id.
    pub user_claim: String,
    /// ID token claims holding roles (same paths as `auth.issuers[].role_claims`).
    pub role_claims: Vec<String>,
    /// Redirect URI registered at the provider; default `<auth.resource or https://<Host>>`
    /// + `/auth/oauth/callback`.
    pub redirect_uri: Option<String>,
    /// PEM CA bundle for the provider's TLS certificate.
    pub ca_file: Option<PathBuf>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            id: String::new(),
            display_name: String::new(),
            issuer: String::new(),
            source: None,
            client_id: String::new(),
            client_secret: None,
            client_secret_file: None,
            scopes: vec!["profile".into(), "email".into()],
            user_claim: "sub".into(),
            role_claims: vec!["roles".into()],
            redirect_uri: None,
            ca_file: None,
        }
    }
}

/// Semantic checks: `(field, message)` for every problem.
pub fn check(session: &SessionConfig, providers: &[ProviderConfig]) -> Vec<(String, String)> {
    let mut issues = Vec::new();
    let mut fail = |field: String, message: &str| issues.push((field, message.to_owned()));
    if session.lifetime_seconds == 0 {
        fail(
            "auth.session.lifetime_seconds".into(),
            "must be greater than 0",
        );
    }
    if session.idle_timeout_seconds == 0 || session.idle_timeout_seconds > session.lifetime_seconds
    {
        fail(
            "auth.session.idle_timeout_seconds".into(),
            "must be greater than 0 and at most auth.session.lifetime_seconds",
        );
    }
    if let Some(path) = &session.key_file {
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() >= 32 => {}
            Ok(_) => fail(
                "auth.session.key_file".into(),
                "must hold at least 32 bytes",
            ),
            Err(_) => fail("auth.session.key_file".into(), "cannot be read"),
        }
    }
    let mut ids = std::collections::HashSet::new();
    for (i, p) in providers.iter().enumerate() {
        let at = |key: &str| format!("auth.providers[{i}].{key}");
        let id_ok = !p.id.is_empty()
            && p.id.len() <= 64
            && p.id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            fail(
                at("id"),
                "must be 1-64 characters of letters, digits, '-' or '_'",
            );
        } else if !ids.insert(p.id.as_str()) {
            fail(at("id"), "listed twice");
        }
        if !is_http_url(&p.issuer, true) {
            fail(at("issuer"), "must be an https URL (http only on loopback)");
        }
        if p.client_id.is_empty() {
            fail(at("client_id"), "must not be empty");
        }
        if p.client_secret.is_some() && p.client_secret_file.is_some() {
            fail(
                at("client_secret_file"),
                "set client_secret or client_secret_file, not both",
            );
        }
        if let Some(path) = &p.client_secret_file {
            if std::fs::read_to_string(path).map_or(true, |s| s.trim().is_empty()) {
                fail(at("client_secret_file"), "cannot be read or is empty");
            }
        }
        if p.user_claim.is_empty() {
            fail(at("user_claim"), "must not be empty");
        }
        if let Some(uri) = &p.redirect_uri {
            if !is_http_url(uri, true) {
                fail(
                    at("redirect_uri"),
                    "must be an https URL (http only on loopback)",
                );
            }
        }
    }
    issues
}

impl ProviderConfig {
    pub fn label(&self) -> &str {
        if self.display_name.is_empty() {
            &self.id
        } else {
            &self.display_name
        }
    }

    /// The client secret from the file or the setting.
    pub fn secret(&self) -> anyhow::Result<Option<String>> {
        match &self.client_secret_file {
            Some(path) => Ok(Some(std::fs::read_to_string(path)?.trim().to_owned())),
            None => Ok(self.client_secret.clone()),
        }
    }
}

/// `https://…`, or `http://` to a loopback host when `loopback_http` (a local test IdP).
pub fn is_http_url(value: &str, loopback_http: bool) -> bool {
    let Ok(url) = url::Url::parse(value) else {
        return false;
    };
    if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    match url.scheme() {
        "https" => true,
        "http" => loopback_http && is_loopback_host(&url),
        _ => false,
    }
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unusable_providers() {
        let providers = vec![
            ProviderConfig {
                id: "kc".into(),
                issuer: "https://kc.example/realms/m".into(),
                client_id: "mimir".into(),
                ..ProviderConfig::default()
            },
            ProviderConfig {
                id: "kc".into(),
                issuer: "http://idp.example".into(),
                ..ProviderConfig::default()
            },
            ProviderConfig {
                id: "a b".into(),
                issuer: "https://x.example".into(),
                client_id: "c".into(),
                ..ProviderConfig::default()
            },
        ];
        let fields: Vec<String> = check(&SessionConfig::default(), &providers)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(
            fields,
            [
                "auth.providers[1].id",
                "auth.providers[1].issuer",
                "auth.providers[1].client_id",
                "auth.providers[2].id",
            ]
        );
        let session = SessionConfig {
            idle_timeout_seconds: 10_000_000,
            ..SessionConfig::default()
        };
        assert_eq!(check(&session, &[]).len(), 1);
    }
}
