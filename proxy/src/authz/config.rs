//! `[authz]` in the policy file, and the environment variables upstream Mimir uses for RBAC.

use crate::settings::{env_value, ConfigError, EnvSource, Issue, Origin};
use serde::Deserialize;
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthzConfig {
    /// RBAC document (upstream's `config/rbac.json` format): a file path, an `https://` URL or
    /// inline JSON. `MIMIR_RBAC_CONFIG` overrides it.
    pub rbac: String,
    /// Route rules, MCP methods and tool permissions (TOML).
    pub routes: PathBuf,
    /// How often a remote RBAC document is polled (conditional GET with the last ETag).
    pub rbac_poll_seconds: NonZeroU64,
    /// Timeout of one remote fetch.
    pub rbac_timeout_seconds: NonZeroU64,
    /// PEM CA bundle for the remote RBAC server (the public web roots when absent).
    pub rbac_ca: Option<PathBuf>,
    /// How a refused `tools/call` is answered: `http` (403, the transport fails) or `jsonrpc`
    /// (200 with a JSON-RPC error for that call, so an agent reads "permission denied" and goes
    /// on). Batches and other methods always get the 403.
    pub denied_tool_calls: DeniedToolCalls,
    /// A candidate policy decided beside the live one and never enforced (shadow mode,
    /// docs/policy-workflow.md). Off when absent.
    pub shadow: Option<ShadowConfig>,
}

/// `[authz.shadow]`: the candidate's two documents, read like `rbac` and `routes` (the remote
/// settings above apply to a remote shadow RBAC document too; `MIMIR_RBAC_CONFIG` does not).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowConfig {
    pub rbac: String,
    pub routes: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeniedToolCalls {
    #[default]
    Http,
    JsonRpc,
}

impl Default for AuthzConfig {
    fn default() -> Self {
        Self {
            rbac: "config/rbac.json".into(),
            routes: "config/routes.toml".into(),
            rbac_poll_seconds: NonZeroU64::new(60).expect("not zero"),
            rbac_timeout_seconds: NonZeroU64::new(10).expect("not zero"),
            rbac_ca: None,
            denied_tool_calls: DeniedToolCalls::Http,
            shadow: None,
        }
    }
}

/// Where the RBAC document comes from, detected as upstream does: inline JSON (trimmed text
/// starting with `{` and ending with `}`), then a URL, then a file path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RbacSource {
    Inline(String),
    Url(String),
    File(PathBuf),
}

/// Everything needed to (re)load the policy.
#[derive(Debug, Clone)]
pub struct Sources {
    pub rbac: RbacSource,
    pub routes: PathBuf,
    /// Sent as `Authorization` when fetching a remote RBAC document (`MIMIR_RBAC_AUTH_HEADER`
    /// or `MIMIR_RBAC_AUTH_HEADER_FILE`). Never logged.
    pub auth_header: Option<String>,
    pub poll_interval: Duration,
    pub timeout: Duration,
    pub ca: Option<PathBuf>,
    /// Accept `http://` RBAC URLs. Off unless set in code: for tests against a local server.
    pub allow_http: bool,
}

impl Sources {
    pub fn from_config(cfg: &AuthzConfig, env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let (spec, origin) = match env_value(env, "MIMIR_RBAC_CONFIG")? {
            Some(v) => (v, Origin::Env("MIMIR_RBAC_CONFIG".into())),
            None => (cfg.rbac.clone(), Origin::Default),
        };
        let rbac = detect(&spec).map_err(|message| Issue {
            origin,
            field: Some("authz.rbac".into()),
            message,
        })?;
        Ok(Self {
            rbac,
            routes: cfg.routes.clone(),
            auth_header: env_value(env, "MIMIR_RBAC_AUTH_HEADER")?,
            poll_interval: Duration::from_secs(cfg.rbac_poll_seconds.get()),
            timeout: Duration::from_secs(cfg.rbac_timeout_seconds.get()),
            ca: cfg.rbac_ca.clone(),
            allow_http: false,
        })
    }

    /// The shadow policy's sources (`[authz.shadow]`), when there is one: the live sources'
    /// remote settings with the shadow's documents.
    pub fn shadow(&self, cfg: &AuthzConfig) -> Result<Option<Self>, String> {
        let Some(shadow) = &cfg.shadow else {
            return Ok(None);
        };
        let rbac = detect(&shadow.rbac).map_err(|e| format!("authz.shadow.rbac: {e}"))?;
        Ok(Some(Self {
            rbac,
            routes: shadow.routes.clone(),
            ..self.clone()
        }))
    }
}

/// Checks of `[authz]` the configuration loader reports with their location: (field, message).
pub fn check(cfg: &AuthzConfig) -> Vec<(String, String)> {
    cfg.shadow
        .iter()
        .filter_map(|shadow| detect(&shadow.rbac).err())
        .map(|message| ("authz.shadow.rbac".to_owned(), message))
        .collect()
}

fn detect(spec: &str) -> Result<RbacSource, String> {
    let trimmed = spec.trim();
    if trimmed.starts_with('{') && trimmed.ends_with('}') {
        return Ok(RbacSource::Inline(trimmed.to_owned()));
    }
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return reqwest::Url::parse(trimmed)
            .map(|u| RbacSource::Url(u.to_string()))
            .map_err(|e| format!("invalid RBAC URL: {e}"));
    }
    if trimmed.is_empty() {
        return Err("empty; give a file path, an https:// URL or inline JSON".into());
    }
    Ok(RbacSource::File(trimmed.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn sources(env: &[(&str, &str)]) -> Result<Sources, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Sources::from_config(&AuthzConfig::default(), &env)
    }

    #[test]
    fn the_shadow_has_its_own_documents_and_the_live_remote_settings() {
        let mut cfg = AuthzConfig::default();
        assert!(check(&cfg).is_empty());
        cfg.shadow = Some(ShadowConfig {
            rbac: " ".into(),
            routes: "cand/routes.toml".into(),
        });
        let issues = check(&cfg);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].0, "authz.shadow.rbac");
        assert!(issues[0].1.starts_with("empty"), "{issues:?}");
        cfg.shadow = Some(ShadowConfig {
            rbac: "cand/rbac.json".into(),
            routes: "cand/routes.toml".into(),
        });
        // MIMIR_RBAC_CONFIG replaces the live document only.
        let env: HashMap<String, String> =
            [("MIMIR_RBAC_CONFIG".to_owned(), "/etc/rbac.json".to_owned())].into();
        let live = Sources::from_config(&cfg, &env).unwrap();
        let shadow = live.shadow(&cfg).unwrap().unwrap();
        assert_eq!(live.rbac, RbacSource::File("/etc/rbac.json".into()));
        assert_eq!(shadow.rbac, RbacSource::File("cand/rbac.json".into()));
        assert_eq!(shadow.routes, PathBuf::from("cand/routes.toml"));
        assert_eq!(shadow.timeout, live.timeout);
        assert!(live.shadow(&AuthzConfig::default()).unwrap().is_none());
    }

    #[test]
    fn upstream_detection_order() {
        assert_eq!(
            sources(&[]).unwrap().rbac,
            RbacSource::File("config/rbac.json".into())
        );
        assert_eq!(
            sources(&[("MIMIR_RBAC_CONFIG", " {\"version\":\"1\"} ")])
                .unwrap()
                .rbac,
            RbacSource::Inline("{\"version\":\"1\"}".into())
        );
        assert_eq!(
            sources(&[("MIMIR_RBAC_CONFIG", "https://policy.example/rbac.json")])
                .unwrap()
                .rbac,
            RbacSource::Url("https://policy.example/rbac.json".into())
        );
        assert_eq!(
            sources(&[("MIMIR_RBAC_CONFIG", "/etc/mimir/rbac.json")])
                .unwrap()
                .rbac,
            RbacSource::File("/etc/mimir/rbac.json".into())
        );
        assert_eq!(
            sources(&[("MIMIR_RBAC_AUTH_HEADER", "Bearer x")])
                .unwrap()
                .auth_header
                .as_deref(),
            Some("Bearer x")
        );
        let err = sources(&[("MIMIR_RBAC_CONFIG", "https://")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("environment variable MIMIR_RBAC_CONFIG: authz.rbac: invalid RBAC URL"),
            "{err}"
        );
    }
}
