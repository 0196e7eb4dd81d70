//! Configuration errors. `Display` is the complete user-facing report (one issue per line), so the
//! CLI and `check-config` print it as is.

use std::fmt;
use std::path::PathBuf;

/// Where a value (or a problem) came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The config file; `position` is the 1-based (line, column) when known.
    File {
        path: PathBuf,
        position: Option<(usize, usize)>,
    },
    /// An environment variable (e.g. `MIMIR_UPSTREAM` or `MIMIR_TLS_KEY_FILE`).
    Env(String),
    /// Neither the file nor the environment set it: the built-in default.
    Default,
}

/// One problem, located as precisely as the source allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub origin: Origin,
    /// Dotted key path such as `upstream.address` or `headers.trusted_proxies[1]`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File {
                path,
                position: Some((line, column)),
            } => write!(f, "{}:{line}:{column}: ", path.display())?,
            Origin::File {
                path,
                position: None,
            } => write!(f, "{}: ", path.display())?,
            Origin::Env(var) => write!(f, "environment variable {var}: ")?,
            Origin::Default => {}
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)?;
        if self.origin == Origin::Default {
            f.write_str(" (built-in default)")?;
        }
        Ok(())
    }
}

/// Every problem found while loading; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    issues: Vec<Issue>,
}

impl ConfigError {
    pub(crate) fn new(issues: Vec<Issue>) -> Self {
        debug_assert!(!issues.is_empty());
        Self { issues }
    }

    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    pub fn into_issues(self) -> Vec<Issue> {
        self.issues
    }
}

impl From<Issue> for ConfigError {
    fn from(issue: Issue) -> Self {
        Self::new(vec![issue])
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
