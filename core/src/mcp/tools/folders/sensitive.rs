//! Names `index_folder` never reads, whatever their case: keys, credentials, environment files,
//! and what the gateway itself keeps on disk (the proxy's API keys and audit trail, the
//! embedded store), which may sit inside an index root.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::sync::LazyLock;

/// Globs over a bare file or folder name.
const PATTERNS: &[&str] = &[
    // Keys, certificates and credentials.
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "credentials",
    "credentials.*",
    "secrets.*",
    "*-secret",
    "*_secret",
    ".env*",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".htpasswd",
    ".git-credentials",
    ".ssh",
    ".gnupg",
    ".aws",
    // The proxy's API-key file (`auth.keys_file`, `api-keys.json`) and its temporary sibling.
    "api-keys*",
    // The proxy's audit trail: the active file, rotated `audit.log.<seq>` and the webhook spool.
    "audit.log*",
    "audit*.jsonl",
    "*.audit",
    "*.audit.*",
    "*.spool",
    // The embedded store (`mimir.sqlite3` and its journal files).
    "*.sqlite3*",
];

static SENSITIVE: LazyLock<GlobSet> = LazyLock::new(|| {
    let mut set = GlobSetBuilder::new();
    for pattern in PATTERNS {
        let glob = GlobBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .expect("built-in sensitive pattern");
        set.add(glob);
    }
    set.build().expect("built-in sensitive patterns")
});

/// Whether a file or folder name must never be indexed; `extra` are exact names from
/// `MIMIR_SENSITIVE_FILES`.
pub fn is_sensitive(name: &str, extra: &[String]) -> bool {
    SENSITIVE.is_match(name) || extra.iter().any(|e| e.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_names() {
        for name in [
            ".env",
            ".env.local",
            "ID_RSA",
            "id_ed25519.pub",
            "server.pem",
            "tls.key",
            "credentials",
            "secrets.yaml",
            ".npmrc",
            "master.key",
            "session.key",
            "keycloak-client-secret",
        ] {
            assert!(is_sensitive(name, &[]), "{name}");
        }
        for name in [
            "README.md",
            "environment.md",
            "keys.txt",
            "secret_santa.txt",
            "monkey",
            "audit.md",
            "audit",
            "api.md",
            "sqlite3.md",
        ] {
            assert!(!is_sensitive(name, &[]), "{name}");
        }
        assert!(is_sensitive("vault.txt", &["vault.txt".into()]));
    }

    #[test]
    fn what_the_gateway_keeps_on_disk_is_sensitive() {
        for name in [
            "api-keys.json",
            "API-KEYS.JSON",
            "api-keys.tmp4242",
            "audit.log",
            "audit.log.00000000000000000001",
            "audit-2025-01.jsonl",
            "proxy.audit",
            "proxy.audit.1",
            "00000000000000000007.spool",
            "mimir.sqlite3",
            "mimir.sqlite3-wal",
            "mimir.sqlite3-shm",
        ] {
            assert!(is_sensitive(name, &[]), "{name}");
        }
    }
}
