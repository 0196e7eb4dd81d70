//! The `[auth]` section of the policy file. Authentication is on unless `enabled = false`, which
//! validation only accepts on a loopback listener (local development and tests).

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use std::path::PathBuf;

use super::dev::DevUser;
use super::login_config::{is_http_url, ProviderConfig, SessionConfig};
use super::password_checks::PasswordCheckConfig;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `false` forwards requests without authenticating anyone (loopback listeners only).
    pub enabled: bool,
    /// This resource's identifier (RFC 8707/9728), e.g. `https://mimir.example.com`: the
    /// audience external tokens must carry. Empty: `https://<Host>` in the metadata document, and
    /// external issuers must then name their audiences themselves.
    pub resource: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway_seconds: u64,
    /// Longer bearer tokens are refused without being parsed.
    pub max_token_bytes: usize,
    /// Accept `?access_token=` / `?api_key=` (they end up in logs and browser history).
    pub allow_query_credentials: bool,
    /// Verified tokens remembered (by hash) so that a repeated token skips the signature check.
    pub token_cache_entries: usize,
    /// API keys file written by `mimir-proxy keys`; re-read when it changes.
    pub keys_file: PathBuf,
    /// Written by `mimir-proxy lockdown`: credentials issued before its time are refused.
    pub lockdown_file: PathBuf,
    /// PKCS#8 PEM Ed25519 key signing the proxy's own tokens; generated at start when absent
    /// (tokens then die with the process, and replicas do not share them).
    pub signing_key_file: Option<PathBuf>,
    /// Lifetime of tokens from `/auth/login` and `/auth/token`.
    pub token_lifetime_seconds: u64,
    /// `grant_type=password` at `/auth/token`: off unless set (OAuth 2.1 removed the grant);
    /// `/auth/login` is unaffected.
    pub password_grant: bool,
    /// JWKS of external issuers are re-fetched this often, and at most every
    /// `jwks_min_refresh_seconds` when a token names an unknown key.
    pub jwks_refresh_seconds: u64,
    pub jwks_min_refresh_seconds: u64,
    /// External OpenID providers whose access tokens are accepted.
    pub issuers: Vec<IssuerConfig>,
    /// OpenID providers for browser login (authorization code + PKCE).
    pub providers: Vec<ProviderConfig>,
    /// The browser session cookie.
    pub session: SessionConfig,
    /// How many dev-user password checks (Argon2id) run and wait at once.
    pub password_checks: PasswordCheckConfig,
    /// Users added by the embedding program (not from the file), e.g. generated dev users.
    #[serde(skip)]
    pub extra_dev_users: Vec<DevUser>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IssuerConfig {
    /// The `iss` value, exactly; discovery is read from `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// Source of this issuer's users in the core (`<source>|<user id>`); the issuer URL's host
    /// and explicit port when absent (docs/identity-assertion.md).
    pub source: Option<String>,
    /// Accepted `aud` values; empty means `[auth.resource]`.
    pub audiences: Vec<String>,
    /// Allowed signature algorithms (asymmetric only: RS*, PS*, ES256, ES384, EdDSA).
    pub algorithms: Vec<String>,
    /// Skip discovery and fetch keys from here.
    pub jwks_uri: Option<String>,
    /// Claim holding the user id.
    pub user_claim: String,
    /// Claims holding roles, as dot paths (`realm_access.roles`, `resource_access.app.roles`,
    /// `https://example.com/roles`, `cognito:groups`); roles from all of them are merged.
    pub role_claims: Vec<String>,
    /// PEM CA bundle for the issuer's TLS certificate (system web roots when absent).
    pub ca_file: Option<PathBuf>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            resource: String::new(),
            leeway_seconds: 30,
            max_token_bytes: 8_192,
            allow_query_credentials: false,
            token_cache_entries: 10_000,
            keys_file: "data/proxy/api-keys.json".into(),
            lockdown_file: "data/proxy/lockdown".into(),
            signing_key_file: None,
            token_lifetime_seconds: 900,
            password_grant: false,
            jwks_refresh_seconds: 600,
            jwks_min_refresh_seconds: 30,
            issuers: Vec::new(),
            providers: Vec::new(),
            session: SessionConfig::default(),
            password_checks: PasswordCheckConfig::default(),
            extra_dev_users: Vec::new(),
        }
    }
}

impl Default for IssuerConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            source: None,
            audiences: Vec::new(),
            algorithms: vec!["RS256".into(), "ES256".into(), "EdDSA".into()],
            jwks_uri: None,
            user_claim: "sub".into(),
            role_claims: vec!["roles".into()],
            ca_file: None,
        }
    }
}

impl IssuerConfig {
    /// The audiences tokens from this issuer must carry.
    pub fn effective_audiences(&self, resource: &str) -> Vec<String> {
        if self.audiences.is_empty() && !resource.is_empty() {
            vec![resource.to_owned()]
        } else {
            self.audiences.clone()
        }
    }
}

/// Semantic checks: `(field, message)` for every problem.
pub fn check(auth: &AuthConfig, listen_is_loopback: bool) -> Vec<(String, String)> {
    let mut issues = Vec::new();
    let mut fail = |field: String, message: String| issues.push((field, message));
    if !auth.enabled && !listen_is_loopback {
        fail(
            "auth.enabled".into(),
            "may only be false when server.listen is a loopback address".into(),
        );
    }
    if !auth.resource.is_empty() && !is_http_url(&auth.resource, false) {
        fail(
            "auth.resource".into(),
            format!("{:?} is not an https URL", auth.resource),
        );
    }
    for (field, value) in [
        ("auth.max_token_bytes", auth.max_token_bytes as u64),
        ("auth.token_cache_entries", auth.token_cache_entries as u64),
        ("auth.token_lifetime_seconds", auth.token_lifetime_seconds),
        ("auth.jwks_refresh_seconds", auth.jwks_refresh_seconds),
        (
            "auth.jwks_min_refresh_seconds",
            auth.jwks_min_refresh_seconds,
        ),
        (
            "auth.password_checks.max_concurrent",
            u64::from(auth.password_checks.max_concurrent),
        ),
    ] {
        if value == 0 {
            fail(field.into(), "must be greater than 0".into());
        }
    }
    if auth.leeway_seconds > 300 {
        fail(
            "auth.leeway_seconds".into(),
            "must be at most 300 (a larger skew means a broken clock)".into(),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (i, issuer) in auth.issuers.iter().enumerate() {
        let at = |key: &str| format!("auth.issuers[{i}].{key}");
        if !is_http_url(&issuer.issuer, true) {
            fail(
                at("issuer"),
                format!(
                    "{:?} must be an https URL (http only on loopback)",
                    issuer.issuer
                ),
            );
        }
        if !seen.insert(issuer.issuer.as_str()) {
            fail(at("issuer"), "listed twice".into());
        }
        if issuer.effective_audiences(&auth.resource).is_empty() {
            fail(
                at("audiences"),
                "empty while auth.resource is unset: tokens issued for other services would be accepted".into(),
            );
        }
        if issuer.algorithms.is_empty() {
            fail(at("algorithms"), "must name at least one algorithm".into());
        }
        for (j, name) in issuer.algorithms.iter().enumerate() {
            if let Err(message) = parse_algorithm(name) {
                fail(format!("auth.issuers[{i}].algorithms[{j}]"), message);
            }
        }
        if let Some(uri) = &issuer.jwks_uri {
            if !is_http_url(uri, true) {
                fail(
                    at("jwks_uri"),
                    format!("{uri:?} must be an https URL (http only on loopback)"),
                );
            }
        }
        if issuer.user_claim.is_empty() {
            fail(at("user_claim"), "must not be empty".into());
        }
    }
    issues.extend(super::login_config::check(&auth.session, &auth.providers));
    issues
}

/// The asymmetric algorithms an issuer may use. `none` and HMAC are never accepted: an HMAC
/// "verified" with a public key is the classic algorithm-confusion forgery.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    match name {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384"
        | "EdDSA" => name.parse().map_err(|_| format!("unknown algorithm {name:?}")),
        "HS256" | "HS384" | "HS512" => Err(format!(
            "{name} is symmetric and never accepted (anyone holding the key could mint tokens)"
        )),
        _ if name.eq_ignore_ascii_case("none") => {
            Err("\"none\" (unsigned tokens) is never accepted".into())
        }
        _ => Err(format!(
            "unknown algorithm {name:?}; expected one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(check(&AuthConfig::default(), false), []);
    }

    #[test]
    fn rejects_unsafe_settings() {
        let auth = AuthConfig {
            enabled: false,
            issuers: vec![IssuerConfig {
                issuer: "http://idp.example".into(),
                algorithms: vec!["HS256".into(), "none".into(), "RS256".into()],
                ..IssuerConfig::default()
            }],
            ..AuthConfig::default()
        };
        let fields: Vec<String> = check(&auth, false).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "auth.enabled",
                "auth.issuers[0].issuer",
                "auth.issuers[0].audiences",
                "auth.issuers[0].algorithms[0]",
                "auth.issuers[0].algorithms[1]",
            ]
        );
    }

    #[test]
    fn loopback_http_issuer_is_allowed() {
        assert!(is_http_url("http://127.0.0.1:9000", true));
        assert!(is_http_url("http://localhost:9000/realms/x", true));
        assert!(!is_http_url("http://10.0.0.1", true));
        assert!(!is_http_url("https://user:pw@idp.example", true));
        assert!(is_http_url("https://idp.example", false));
    }
}
