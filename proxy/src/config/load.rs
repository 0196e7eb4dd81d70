//! Loading order: built-in defaults, then the TOML file, then environment overrides, then
//! validation of the result.

use super::origins::Origins;
use super::sections::ProxyConfig;
use super::{env, validate};
use crate::settings::{ConfigError, Document, EnvSource, Issue, Origin, ProcessEnv};
use std::path::Path;

/// Loads `path` (or only the defaults when `None`) with the process environment applied.
pub fn load(path: Option<&Path>) -> Result<ProxyConfig, ConfigError> {
    load_with_env(path, &ProcessEnv)
}

/// `mimir-proxy check-config FILE`: the same checks the server runs at startup, including the
/// environment overrides it would apply, so a passing check means the server will start.
pub fn check(path: &Path) -> Result<ProxyConfig, ConfigError> {
    load(Some(path))
}

/// [`load`] with an explicit environment (tests pass a map instead of mutating the process).
pub fn load_with_env(path: Option<&Path>, env: &dyn EnvSource) -> Result<ProxyConfig, ConfigError> {
    let Some(path) = path else {
        return finish(None, env);
    };
    let text = std::fs::read_to_string(path).map_err(|e| Issue {
        origin: Origin::File {
            path: path.to_owned(),
            position: None,
        },
        field: None,
        message: format!("cannot read config file: {e}"),
    })?;
    parse_with_env(path, &text, env)
}

/// [`load_with_env`] of the policy `text`, as if read from `path` (named in the issues).
pub fn parse_with_env(
    path: &Path,
    text: &str,
    env: &dyn EnvSource,
) -> Result<ProxyConfig, ConfigError> {
    finish(Some(Document::parse(path, text)?), env)
}

/// Defaults or the document, then the environment, then validation.
fn finish(doc: Option<Document<'_>>, env: &dyn EnvSource) -> Result<ProxyConfig, ConfigError> {
    let mut cfg = match &doc {
        Some(doc) => doc.deserialize()?,
        None => ProxyConfig::default(),
    };
    let (env, mut issues) = env::apply(&mut cfg, env);
    let origins = Origins {
        doc: doc.as_ref(),
        env,
    };
    issues.extend(validate::validate(&cfg, &origins));
    if issues.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigError::new(issues))
    }
}

/// Sections of the subsystems, read through the whole loading order (file, environment,
/// validation), as `check-config` and the server read them.
#[cfg(test)]
mod tests {
    use super::*;

    fn load_error(body: &str, env: &[(&str, &str)]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, format!("[tls]\ngenerate_dev_cert = true\n{body}")).unwrap();
        let env: std::collections::HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let err = load_with_env(Some(&path), &env).unwrap_err();
        err.to_string()
            .replace(&format!("{}", path.display()), "p.toml")
    }

    #[test]
    fn identity_errors_name_file_line_and_field() {
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
        let cfg = load_with_env(Some(&path), &env).unwrap();
        let p = &cfg.auth.providers[0];
        assert_eq!(
            (p.id.as_str(), p.label(), p.client_id.as_str()),
            ("okta", "Company SSO", "mimir")
        );
        assert_eq!(p.client_secret.as_deref(), Some("s3cret"));
        assert_eq!(p.scopes, ["profile", "groups"]);
    }

    #[test]
    fn upstream_audit_variables_apply() {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, "[tls]\ngenerate_dev_cert = true\n").unwrap();
        let env = |extra: &[(&str, &str)]| {
            let mut vars: std::collections::HashMap<String, String> = [
                ("MIMIR_ENABLE_AUDIT_LOGGING", "true"),
                ("MIMIR_AUDIT_LOG_DESTINATION", "all"),
                ("MIMIR_AUDIT_LOG_FILE", "/var/log/mimir/audit.log"),
                ("MIMIR_AUDIT_WEBHOOK_URL", "https://siem.example/ingest"),
                ("MIMIR_AUDIT_WEBHOOK_AUTH_HEADER", "Bearer t"),
                ("MIMIR_AUDIT_WEBHOOK_BATCH_SIZE", "7"),
                ("MIMIR_AUDIT_WEBHOOK_BATCH_INTERVAL_MS", "250"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            vars
        };
        let cfg = load_with_env(Some(&policy), &env(&[])).unwrap().audit;
        assert!(cfg.enabled);
        assert_eq!(cfg.destinations.len(), 3);
        assert_eq!(cfg.file.path.to_str(), Some("/var/log/mimir/audit.log"));
        assert_eq!(cfg.webhook.url, "https://siem.example/ingest");
        assert_eq!(cfg.webhook.auth_header.as_deref(), Some("Bearer t"));
        assert_eq!(
            (cfg.webhook.batch_size, cfg.webhook.batch_interval_ms),
            (7, 250)
        );

        let bad = env(&[
            ("MIMIR_AUDIT_WEBHOOK_BATCH_SIZE", "0"),
            ("MIMIR_AUDIT_WEBHOOK_URL", "https://user:pw@siem.example/"),
        ]);
        let err = load_with_env(Some(&policy), &bad).unwrap_err().to_string();
        assert!(err.contains("MIMIR_AUDIT_WEBHOOK_BATCH_SIZE"), "{err}");
        assert!(err.contains("must not contain credentials"), "{err}");
    }
}
