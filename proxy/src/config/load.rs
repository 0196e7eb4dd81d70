//! Loading order: built-in defaults, then the TOML file, then environment overrides, then
//! validation of the result.

use super::origins::Origins;
use super::{env, validate, ProxyConfig};
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
    let text = match path {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| Issue {
            origin: Origin::File {
                path: path.to_owned(),
                position: None,
            },
            field: None,
            message: format!("cannot read config file: {e}"),
        })?),
        None => None,
    };
    let doc = match (path, &text) {
        (Some(path), Some(text)) => Some(Document::parse(path, text)?),
        _ => None,
    };
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
