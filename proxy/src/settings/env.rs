//! Environment variables: the process's in production, a map in tests. Every variable can also
//! be given as `NAME_FILE`, the path of a file holding the value (Docker/Kubernetes secrets).

use super::error::{ConfigError, Issue, Origin};
use std::collections::HashMap;
use std::ffi::OsString;

/// Where variables are read from: the process in production, a map in tests.
pub trait EnvSource {
    fn var_os(&self, name: &str) -> Option<OsString>;
}

pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var_os(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }
}

impl EnvSource for HashMap<String, String> {
    fn var_os(&self, name: &str) -> Option<OsString> {
        self.get(name).map(OsString::from)
    }
}

/// The value of `name`, or the trimmed contents of the file named by `name_FILE`. Empty values
/// count as unset (compose files often write `VAR=`); setting both forms is an error.
pub fn env_value(env: &dyn EnvSource, name: &str) -> Result<Option<String>, ConfigError> {
    Ok(lookup(env, name)?.map(|(value, _)| value))
}

/// Like [`env_value`], also returning which variable supplied the value.
pub(crate) fn lookup(env: &dyn EnvSource, name: &str) -> Result<Option<(String, String)>, Issue> {
    let file_var = format!("{name}_FILE");
    match (non_empty(env, name)?, non_empty(env, &file_var)?) {
        (Some(_), Some(_)) => Err(env_issue(
            name,
            format!("both {name} and {file_var} are set; use only one"),
        )),
        (Some(value), None) => Ok(Some((value, name.to_owned()))),
        (None, Some(path)) => {
            let contents = std::fs::read_to_string(&path)
                .map_err(|e| env_issue(&file_var, format!("cannot read {path}: {e}")))?;
            let value = contents.trim();
            if value.is_empty() {
                return Err(env_issue(&file_var, format!("{path} is empty")));
            }
            Ok(Some((value.to_owned(), file_var)))
        }
        (None, None) => Ok(None),
    }
}

fn non_empty(env: &dyn EnvSource, name: &str) -> Result<Option<String>, Issue> {
    match env.var_os(name) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v
            .into_string()
            .map(Some)
            .map_err(|_| env_issue(name, "value is not valid UTF-8".into())),
    }
}

fn env_issue(var: &str, message: String) -> Issue {
    Issue {
        origin: Origin::Env(var.to_owned()),
        field: None,
        message,
    }
}
