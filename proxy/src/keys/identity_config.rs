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
        if !crate::request::header_value::is_header_safe(role, true) {
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
}
