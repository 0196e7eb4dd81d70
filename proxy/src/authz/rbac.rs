//! Upstream Mimir's `config/rbac.json`, read unchanged:
//! `{version, claimPath, defaultRole?, roleMappings: {role: {description?, permissions: [...]}}}`.
//! Two optional additions that upstream ignores: `groupMappings` (`{"idp-group": ["role", ...]}`)
//! and `strictGroupMappings` (when true, claim values count only through `groupMappings`).
//!
//! Unlike upstream, a bad document is refused (never replaced by a built-in default), and every
//! error names the source, line, column and field: unknown permission syntax, a duplicate role or
//! group, bad JSON, a missing field, a `defaultRole` or mapping target that names no role.

use super::permission::Permission;
use crate::settings::{Issue, Origin};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RbacDocument {
    pub version: String,
    /// Dot path of the roles claim, e.g. `roles`, `groups`, `realm_access.roles`.
    pub claim_path: String,
    #[serde(default)]
    pub default_role: Option<String>,
    pub role_mappings: UniqueMap<RoleDef>,
    #[serde(default)]
    pub group_mappings: UniqueMap<Vec<String>>,
    #[serde(default)]
    pub strict_group_mappings: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RoleDef {
    #[serde(default)]
    pub description: Option<String>,
    pub permissions: Vec<Permission>,
}

/// A JSON object kept in document order whose keys must be unique (serde's maps would silently
/// keep the last of two `"developer"` entries).
#[derive(Debug, Clone, PartialEq)]
pub struct UniqueMap<V>(pub Vec<(String, V)>);

impl<V> Default for UniqueMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> UniqueMap<V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V_<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, V)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("duplicate key {key:?}")));
                    }
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(UniqueMap(entries))
            }
        }
        d.deserialize_map(V_(PhantomData))
    }
}

/// Where an RBAC document came from, for error messages and audit events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RbacOrigin {
    File(PathBuf),
    Url(String),
    /// JSON given directly in `MIMIR_RBAC_CONFIG` (or `authz.rbac`).
    Inline,
}

impl fmt::Display for RbacOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Url(u) => f.write_str(u),
            Self::Inline => f.write_str("<inline RBAC JSON>"),
        }
    }
}

impl RbacOrigin {
    fn issue(
        &self,
        position: Option<(usize, usize)>,
        field: Option<String>,
        message: String,
    ) -> Issue {
        Issue {
            origin: Origin::File {
                path: PathBuf::from(self.to_string()),
                position,
            },
            field,
            message,
        }
    }
}

/// Parses and checks an RBAC document. All references are checked, so a policy that loads has
/// no dangling role names.
pub fn parse(origin: &RbacOrigin, text: &str) -> Result<RbacDocument, Vec<Issue>> {
    let json_issue = |field: Option<String>, e: serde_json::Error| {
        let position = (e.line() > 0).then(|| (e.line(), e.column()));
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
        vec![origin.issue(position, field, message)]
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let doc: RbacDocument = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        json_issue(
            (field != "." && field != "?").then_some(field),
            e.into_inner(),
        )
    })?;
    de.end().map_err(|e| json_issue(None, e))?;
    let issues = check(&doc, origin, text);
    if issues.is_empty() {
        Ok(doc)
    } else {
        Err(issues)
    }
}

fn check(doc: &RbacDocument, origin: &RbacOrigin, text: &str) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut fail = |key: &str, field: String, message: String| {
        issues.push(origin.issue(key_position(text, key), Some(field), message));
    };
    if doc.claim_path.is_empty() || doc.claim_path.split('.').any(str::is_empty) {
        fail(
            "claimPath",
            "claimPath".into(),
            format!(
                "{:?} is not a dot path such as roles or realm_access.roles",
                doc.claim_path
            ),
        );
    }
    if doc.role_mappings.0.is_empty() {
        fail(
            "roleMappings",
            "roleMappings".into(),
            "defines no role".into(),
        );
    }
    if let Some(role) = &doc.default_role {
        if doc.role_mappings.get(role).is_none() {
            fail(
                "defaultRole",
                "defaultRole".into(),
                format!("role {role:?} is not defined in roleMappings"),
            );
        }
    }
    for (group, roles) in &doc.group_mappings.0 {
        for (i, role) in roles.iter().enumerate() {
            if doc.role_mappings.get(role).is_none() {
                fail(
                    group,
                    format!("groupMappings.{group}[{i}]"),
                    format!("role {role:?} is not defined in roleMappings"),
                );
            }
        }
    }
    issues
}

/// Best effort for checks made after parsing (serde_json keeps no spans): the first `"key":` in
/// the text.
pub(super) fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    let quoted = format!("\"{key}\"");
    let mut from = 0;
    while let Some(i) = text[from..].find(&quoted) {
        let at = from + i;
        let after = text[at + quoted.len()..].trim_start();
        if after.starts_with(':') {
            let before = &text[..at];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
            return Some((line, column));
        }
        from = at + quoted.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(&RbacOrigin::File("rbac.json".into()), text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    const GOOD: &str = r#"{
  "version": "1.0",
  "claimPath": "roles",
  "defaultRole": "viewer",
  "roleMappings": {
    "admin": { "description": "all", "permissions": ["*"] },
    "viewer": { "permissions": ["nodes:read"] }
  },
  "somethingUpstreamAdds": true
}"#;

    #[test]
    fn upstream_shape_loads_and_ignores_unknown_fields() {
        let doc = parse(&RbacOrigin::Inline, GOOD).unwrap();
        assert_eq!(doc.claim_path, "roles");
        assert_eq!(doc.role_mappings.0.len(), 2);
        assert_eq!(doc.default_role.as_deref(), Some("viewer"));
    }

    #[test]
    fn bad_permission_names_line_and_field() {
        let text = GOOD.replace("\"nodes:read\"", "\"nodes:\"");
        assert_eq!(
            err(&text),
            "rbac.json:7:41: roleMappings.viewer.permissions[0]: unknown permission syntax \"nodes:\": expected `namespace:action` (lowercase letters, digits, '_', '-', '.'), `*` or `namespace:*`"
        );
    }

    #[test]
    fn duplicate_role_is_refused() {
        let text = GOOD.replace("\"viewer\": {", "\"admin\": {");
        assert_eq!(
            err(&text),
            "rbac.json:7:11: roleMappings: duplicate key \"admin\""
        );
    }

    #[test]
    fn bad_json_and_missing_fields() {
        assert_eq!(
            err("{\n  \"version\": \"1.0\",\n  \"claimPath\": roles\n}"),
            "rbac.json:3:16: claimPath: expected value"
        );
        assert_eq!(
            err("{\"version\": \"1\", \"roleMappings\": {}}"),
            "rbac.json:1:36: missing field `claimPath`"
        );
        assert_eq!(
            err("{\"version\": \"1\", \"claimPath\": \"r\", \"roleMappings\": {\"a\": {\"permissions\": \"*\"}}}"),
            "rbac.json:1:76: roleMappings.a.permissions: invalid type: string \"*\", expected a sequence"
        );
        assert!(err(&format!("{GOOD} x")).starts_with("rbac.json:10:3: trailing characters"));
    }

    #[test]
    fn dangling_references() {
        let text = GOOD.replace("\"defaultRole\": \"viewer\"", "\"defaultRole\": \"viewr\"");
        assert_eq!(
            err(&text),
            "rbac.json:4:3: defaultRole: role \"viewr\" is not defined in roleMappings"
        );
        let text = GOOD.replace(
            "\"somethingUpstreamAdds\": true",
            "\"groupMappings\": {\"eng\": [\"admin\", \"dev\"]}",
        );
        assert_eq!(
            err(&text),
            "rbac.json:9:21: groupMappings.eng[1]: role \"dev\" is not defined in roleMappings"
        );
        let text = GOOD.replace("\"claimPath\": \"roles\"", "\"claimPath\": \"a..b\"");
        assert!(err(&text).starts_with("rbac.json:3:3: claimPath: \"a..b\" is not a dot path"));
    }
}
