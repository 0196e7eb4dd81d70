//! Data classification: the sensitivity levels, ordered, and the default level per node type.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How sensitive a node's content is; a caller reads a node only when its clearance is at
/// least the node's level.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    Public,
    #[default]
    Internal,
    Confidential,
    Restricted,
}

impl Sensitivity {
    pub const ALL: [Sensitivity; 4] = [
        Sensitivity::Public,
        Sensitivity::Internal,
        Sensitivity::Confidential,
        Sensitivity::Restricted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Internal => "internal",
            Sensitivity::Confidential => "confidential",
            Sensitivity::Restricted => "restricted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.as_str() == text)
    }
}

impl fmt::Display for Sensitivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The level a node of each type gets when its writer names none (`person=confidential,*=internal`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SensitivityDefaults {
    by_type: BTreeMap<String, Sensitivity>,
    fallback: Sensitivity,
}

impl SensitivityDefaults {
    pub fn for_type(&self, node_type: &str) -> Sensitivity {
        self.by_type
            .get(node_type)
            .copied()
            .unwrap_or(self.fallback)
    }

    /// The level of every type not named in [`Self::named`].
    pub fn fallback(&self) -> Sensitivity {
        self.fallback
    }

    /// The types given a level of their own, with that level.
    pub fn named(&self) -> impl Iterator<Item = (&str, Sensitivity)> {
        self.by_type.iter().map(|(t, level)| (t.as_str(), *level))
    }

    /// Parses `type=level` pairs separated by commas; `*` sets the fallback (built-in: internal).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut defaults = Self::default();
        for (node_type, level) in super::pairs(text)? {
            let level = Sensitivity::parse(level).ok_or_else(|| {
                format!(
                    "{level:?} is not a sensitivity (public, internal, confidential, restricted)"
                )
            })?;
            if node_type == "*" {
                defaults.fallback = level;
            } else {
                defaults.by_type.insert(node_type.to_owned(), level);
            }
        }
        Ok(defaults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered() {
        assert!(Sensitivity::Public < Sensitivity::Internal);
        assert!(Sensitivity::Confidential < Sensitivity::Restricted);
        assert_eq!(
            Sensitivity::parse("restricted"),
            Some(Sensitivity::Restricted)
        );
        assert_eq!(Sensitivity::parse("secret"), None);
    }

    #[test]
    fn defaults_per_type_with_fallback() {
        let d = SensitivityDefaults::parse("person=confidential, *=public").unwrap();
        assert_eq!(d.for_type("person"), Sensitivity::Confidential);
        assert_eq!(d.for_type("memory"), Sensitivity::Public);
        assert_eq!(
            SensitivityDefaults::parse("").unwrap().for_type("x"),
            Sensitivity::Internal
        );
        assert!(SensitivityDefaults::parse("person=secret").is_err());
        assert!(SensitivityDefaults::parse("person").is_err());
    }
}
