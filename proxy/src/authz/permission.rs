//! Permission strings, compatible with upstream Mimir: `namespace:action` (more `:`-separated
//! parts are allowed, e.g. `mcp:call:memory_node`), the bare names upstream uses (`admin`), and
//! the wildcards `*` (everything) and `prefix:*` (the prefix itself and everything below it, so
//! `nodes:*` grants `nodes:read` and `mcp:*` grants `mcp:call:memory_node`).
//!
//! Parts are lowercase ASCII letters, digits, `_`, `-` and `.`; anything else is refused when the
//! policy is loaded, so a typo cannot silently grant or require nothing.

use serde::{de, Deserialize, Deserializer};
use std::fmt;

/// Longest accepted permission string.
const MAX_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission(Box<str>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission syntax {0:?}: expected `namespace:action` (lowercase letters, digits, '_', '-', '.'), `*` or `namespace:*`")]
pub struct PermissionError(pub String);

impl Permission {
    pub fn parse(s: &str) -> Result<Self, PermissionError> {
        let last = s.matches(':').count();
        let valid = s.len() <= MAX_LEN
            && (s == "*"
                || s.split(':').enumerate().all(|(i, part)| {
                    (i == last && i > 0 && part == "*")
                        || (!part.is_empty()
                            && part.bytes().all(|b| {
                                b.is_ascii_lowercase()
                                    || b.is_ascii_digit()
                                    || matches!(b, b'_' | b'-' | b'.')
                            }))
                }));
        if valid {
            Ok(Self(s.into()))
        } else {
            Err(PermissionError(s.to_owned()))
        }
    }

    /// `mcp:call:<tool>`, the permission to call one MCP tool.
    pub fn mcp_call(tool: &str) -> Result<Self, PermissionError> {
        Self::parse(&format!("mcp:call:{tool}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_wildcard(&self) -> bool {
        self.0.ends_with('*')
    }

    /// Whether holding `self` grants `required` (a concrete permission).
    pub fn grants(&self, required: &Permission) -> bool {
        match self.0.strip_suffix('*') {
            None => self.0 == required.0,
            Some("") => true,
            // `nodes:*` → prefix `nodes:`; it also grants the bare `nodes` (as upstream's
            // `admin:*` grants `admin`).
            Some(prefix) => {
                required.0.starts_with(prefix) || *required.0 == prefix[..prefix.len() - 1]
            }
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parsing during deserialization lets the JSON and TOML readers attach their own position
/// (line, column, key path) to a bad permission.
impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Permission::parse(&s).map_err(de::Error::custom)
    }
}

/// A permission a rule may require: concrete, never a wildcard (a rule requiring `nodes:*` would
/// be ambiguous: holding `nodes:*` literally, or any `nodes:` permission?).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Required(pub Permission);

impl<'de> Deserialize<'de> for Required {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = Permission::deserialize(d)?;
        if p.is_wildcard() {
            return Err(de::Error::custom(format!(
                "{:?}: a rule must require concrete permissions; wildcards only grant",
                p.as_str()
            )));
        }
        Ok(Self(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Permission {
        Permission::parse(s).unwrap()
    }

    #[test]
    fn syntax() {
        for ok in [
            "*",
            "admin",
            "nodes:read",
            "nodes:*",
            "mcp:call:memory_node",
            "mcp:call:*",
            "a-b.c:d_e",
        ] {
            assert!(Permission::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ":",
            "nodes:",
            ":read",
            "nodes::read",
            "*:read",
            "nodes:re*d",
            "nodes:*:read",
            "Nodes:read",
            "nodes read",
            "nodes:read ",
            "**",
            "nodes:**",
            "nödes:read",
        ] {
            assert!(Permission::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Permission::parse(&"a".repeat(MAX_LEN + 1)).is_err());
    }

    #[test]
    fn wildcards_follow_upstream() {
        assert!(p("*").grants(&p("admin")));
        assert!(p("*").grants(&p("mcp:call:todo")));
        assert!(p("nodes:*").grants(&p("nodes:read")));
        assert!(p("nodes:*").grants(&p("nodes")));
        assert!(!p("nodes:*").grants(&p("nodesx:read")));
        assert!(!p("nodes:*").grants(&p("edges:read")));
        assert!(p("mcp:*").grants(&p("mcp:call:memory_node")));
        assert!(p("mcp:call:*").grants(&p("mcp:call:memory_node")));
        assert!(!p("mcp:call:*").grants(&p("mcp:list")));
        assert!(p("nodes:read").grants(&p("nodes:read")));
        assert!(!p("nodes:read").grants(&p("nodes:write")));
        assert!(!p("nodes").grants(&p("nodes:read")));
    }
}
