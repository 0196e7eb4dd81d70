//! The `[identity]` section: how the proxy signs the identity assertion it sends the core
//! (docs/identity-assertion.md).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The highest sensitivity of data a caller may read, in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Clearance {
    Public,
    Internal,
    Confidential,
    Restricted,
}

impl Clearance {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Internal => "internal",
            Self::Confidential => "confidential",
            Self::Restricted => "restricted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// PKCS#8 PEM Ed25519 key signing the assertions; generated at start when absent.
    pub signing_key_file: Option<PathBuf>,
    /// Role → clearance; a caller gets the highest level of any role it holds.
    pub clearance: BTreeMap<String, Clearance>,
    /// Clearance of callers none of whose roles is listed.
    pub default_clearance: Clearance,
    /// A PKCS#8 PEM key handed over by an embedding program (not from the file): the
    /// single-process binary generates one and gives its public half to the core.
    #[serde(skip)]
    pub key_pem: Option<String>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        let clearance = [
            ("admin", Clearance::Restricted),
            ("developer", Clearance::Confidential),
            ("analyst", Clearance::Internal),
            ("viewer", Clearance::Internal),
        ]
        .into_iter()
        .map(|(role, level)| (role.to_owned(), level))
        .collect();
        Self {
            signing_key_file: None,
            clearance,
            default_clearance: Clearance::Public,
            key_pem: None,
        }
    }
}

impl IdentityConfig {
    /// The clearance of a caller holding `roles`.
    pub fn clearance_of(&self, roles: &[String]) -> Clearance {
        roles
            .iter()
            .filter_map(|role| self.clearance.get(role).copied())
            .max()
            .unwrap_or(self.default_clearance)
    }
}

/// Semantic checks: `(field, message)` for every problem.
pub fn check(identity: &IdentityConfig) -> Vec<(String, String)> {
    let mut issues = Vec::new();
    if let Some(path) = &identity.signing_key_file {
        if let Err(e) = crate::keys::ed25519::read_private_pem(path) {
            issues.push(("identity.signing_key_file".into(), format!("{e:#}")));
        }
    }
    for role in identity.clearance.keys() {
        if !crate::authn::principal::is_header_safe(role, true) {
            issues.push((
                format!("identity.clearance.{role}"),
                "is not a usable role name (printable ASCII, no commas)".into(),
            ));
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_listed_role_wins() {
        let cfg = IdentityConfig::default();
        let roles = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            cfg.clearance_of(&roles(&["viewer", "admin"])),
            Clearance::Restricted
        );
        assert_eq!(cfg.clearance_of(&roles(&["analyst"])), Clearance::Internal);
        assert_eq!(cfg.clearance_of(&roles(&["other"])), Clearance::Public);
        assert_eq!(cfg.clearance_of(&[]), Clearance::Public);
    }

    fn load_error(body: &str, env: &[(&str, &str)]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, format!("[tls]\ngenerate_dev_cert = true\n{body}")).unwrap();
        let env: std::collections::HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let err = crate::config::load_with_env(Some(&path), &env).unwrap_err();
        err.to_string()
            .replace(&format!("{}", path.display()), "p.toml")
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = load_error("[identity]\nsigning_key_file = \"/nonexistent/key\"\n", &[]);
        assert!(
            err.starts_with("p.toml:4:20: identity.signing_key_file: cannot read /nonexistent/key"),
            "{err}"
        );
        let err = load_error(
            "",
            &[("MIMIR_IDENTITY_SIGNING_KEY_FILE", "/nonexistent/key")],
        );
        assert!(
            err.starts_with(
                "environment variable MIMIR_IDENTITY_SIGNING_KEY_FILE: identity.signing_key_file: "
            ),
            "{err}"
        );
        let err = load_error("[identity]\ndefault_clearance = \"secret\"\n", &[]);
        assert!(
            err.starts_with("p.toml:4:21: identity.default_clearance: unknown variant `secret`"),
            "{err}"
        );
        let err = load_error("[identity.clearance]\nadmin = \"top\"\n", &[]);
        assert!(
            err.starts_with("p.toml:4:9: identity.clearance.admin: unknown variant"),
            "{err}"
        );
    }

    #[test]
    fn upstream_provider_variables_need_an_issuer() {
        let err = load_error(
            "",
            &[
                ("MIMIR_AUTH_PROVIDER", "okta"),
                ("MIMIR_OAUTH_CLIENT_ID", "c"),
            ],
        );
        assert!(
            err.contains(
                "environment variable MIMIR_AUTH_PROVIDER: auth.providers: set MIMIR_OAUTH_ISSUER"
            ),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "[tls]\ngenerate_dev_cert = true\n").unwrap();
        let env: std::collections::HashMap<String, String> = [
            ("MIMIR_AUTH_PROVIDER", "Okta"),
            (
                "MIMIR_OAUTH_ISSUER",
                "https://example.okta.com/oauth2/default",
            ),
            ("MIMIR_OAUTH_CLIENT_ID", "mimir"),
            ("MIMIR_OAUTH_CLIENT_SECRET", "s3cret"),
            ("MIMIR_OAUTH_PROVIDER_NAME", "Company SSO"),
            ("MIMIR_OAUTH_SCOPE", "openid profile groups"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let cfg = crate::config::load_with_env(Some(&path), &env).unwrap();
        let p = &cfg.auth.providers[0];
        assert_eq!(
            (p.id.as_str(), p.label(), p.client_id.as_str()),
            ("okta", "Company SSO", "mimir")
        );
        assert_eq!(p.client_secret.as_deref(), Some("s3cret"));
        assert_eq!(p.scopes, ["profile", "groups"]);
    }
}
