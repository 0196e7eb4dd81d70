//! Reading values out of token claims by a configured path. A path is dot-separated, but claim
//! names may themselves contain dots (namespaced URLs such as `https://example.com/roles`), so at
//! each level the longest run of segments that names an existing key wins.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    pub fn parse(path: &str) -> Self {
        Self(path.split('.').map(str::to_owned).collect())
    }

    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        lookup(claims, &self.0)
    }
}

fn lookup<'a>(object: &'a Map<String, Value>, segments: &[String]) -> Option<&'a Value> {
    for take in (1..=segments.len()).rev() {
        let key = segments[..take].join(".");
        let Some(value) = object.get(&key) else {
            continue;
        };
        if take == segments.len() {
            return Some(value);
        }
        if let Some(found) = value
            .as_object()
            .and_then(|inner| lookup(inner, &segments[take..]))
        {
            return Some(found);
        }
    }
    None
}

/// Role names in a claim value: a string, an array of strings, or objects with a `name`
/// (some IdPs emit `[{"name": "admin"}]`). Anything else contributes nothing.
pub fn roles_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(role) => push_unique(out, role),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(role) => push_unique(out, role),
                    Value::Object(o) => {
                        if let Some(Value::String(role)) = o.get("name") {
                            push_unique(out, role);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn push_unique(out: &mut Vec<String>, role: &str) {
    if !out.iter().any(|r| r == role) {
        out.push(role.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roles(claims: Value, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(v) = ClaimPath::parse(path).lookup(claims.as_object().unwrap()) {
            roles_in(v, &mut out);
        }
        out
    }

    #[test]
    fn nested_namespaced_and_prefixed_claims() {
        let claims = json!({
            "roles": "admin",
            "realm_access": {"roles": ["developer", "viewer"]},
            "resource_access": {"mimir.app": {"roles": ["analyst"]}},
            "groups": ["g1", {"name": "g2"}, 3],
            "cognito:groups": ["ops"],
            "https://example.com/roles": ["ns-role"],
            "https://example.com": {"other": ["shadow"]},
        });
        assert_eq!(roles(claims.clone(), "roles"), ["admin"]);
        assert_eq!(
            roles(claims.clone(), "realm_access.roles"),
            ["developer", "viewer"]
        );
        assert_eq!(
            roles(claims.clone(), "resource_access.mimir.app.roles"),
            ["analyst"]
        );
        assert_eq!(roles(claims.clone(), "groups"), ["g1", "g2"]);
        assert_eq!(roles(claims.clone(), "cognito:groups"), ["ops"]);
        assert_eq!(
            roles(claims.clone(), "https://example.com/roles"),
            ["ns-role"]
        );
        assert_eq!(
            roles(claims.clone(), "https://example.com.other"),
            ["shadow"]
        );
        assert!(roles(claims, "realm_access.missing").is_empty());
    }
}
