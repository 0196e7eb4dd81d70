//! The route-rules file (`config/routes.toml`, docs/authorization.md): which permissions each
//! method + path needs, what MCP messages need, and each MCP tool's data permissions.
//!
//! Errors name the file, line, column and key, using the same TOML span machinery as the main
//! policy file.

use super::permission::{Permission, Required};
use crate::request::matcher::{Methods, Pattern};
use crate::settings::{Document, Issue, Origin};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutesDocument {
    /// What happens to a request no rule matches.
    #[serde(default)]
    pub default: DefaultAccess,
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleDef>,
    #[serde(default)]
    pub mcp: McpDef,
    /// MCP tool name → the data permissions its calls need (besides `mcp:call:<tool>`).
    #[serde(default)]
    pub tools: BTreeMap<String, ToolDef>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAccess {
    /// Default-deny: a request no rule names is refused (403).
    #[default]
    Deny,
    /// Any authenticated caller may make requests no rule names (a migration aid).
    Authenticated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// No authentication needed.
    Public,
    /// Any authenticated caller.
    Authenticated,
    /// Nobody, whatever their permissions.
    Deny,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    pub name: String,
    #[serde(default = "any_method")]
    pub methods: Vec<String>,
    pub path: String,
    #[serde(default)]
    pub access: Option<Access>,
    /// At least one of these is needed.
    #[serde(default)]
    pub any_of: Vec<Required>,
    /// All of these are needed.
    #[serde(default)]
    pub all_of: Vec<Required>,
    /// The body is MCP JSON-RPC: each message is also checked against `[mcp]` and `[tools]`.
    #[serde(default)]
    pub mcp: bool,
}

fn any_method() -> Vec<String> {
    vec!["*".into()]
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpDef {
    /// Largest JSON-RPC body the proxy parses; larger ones are refused (413).
    pub max_body_bytes: usize,
    /// Most messages in one batch.
    pub max_batch: usize,
    /// JSON-RPC method → permissions it needs (all of; `[]` = any caller of the MCP route).
    /// `tools/call` is authorized per tool; any method not listed is denied.
    pub methods: BTreeMap<String, Vec<Required>>,
}

impl Default for McpDef {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_batch: 100,
            methods: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolDef {
    /// For tools without an `operation` argument: permissions every call needs.
    #[serde(default)]
    pub all_of: Option<Vec<Required>>,
    /// For tools with an `operation` argument: operation → permissions (all of). Operations not
    /// listed are denied.
    #[serde(default)]
    pub operations: Option<BTreeMap<String, Vec<Required>>>,
}

impl RoutesDocument {
    /// Every permission a rule, an MCP method or a tool call requires (`mcp:call:<tool>`
    /// included): what a role's permission must grant to matter.
    pub fn required_permissions(&self) -> BTreeSet<Permission> {
        let rules = self
            .rules
            .iter()
            .flat_map(|r| r.any_of.iter().chain(&r.all_of));
        let methods = self.mcp.methods.values().flatten();
        let tools = self.tools.values().flat_map(|t| {
            let every = t.all_of.iter().flatten();
            every.chain(t.operations.iter().flat_map(|ops| ops.values().flatten()))
        });
        let calls = self
            .tools
            .keys()
            .filter_map(|t| Permission::mcp_call(t).ok());
        rules
            .chain(methods)
            .chain(tools)
            .map(|r| r.0.clone())
            .chain(calls)
            .collect()
    }
}

/// Reads and checks a route-rules file.
pub fn load(path: &Path) -> Result<RoutesDocument, Vec<Issue>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Issue {
            origin: Origin::File {
                path: path.to_owned(),
                position: None,
            },
            field: None,
            message: format!("cannot read route rules: {e}"),
        }]
    })?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<RoutesDocument, Vec<Issue>> {
    let doc = Document::parse(path, text).map_err(|i| vec![i])?;
    let origin = |field: &str| {
        doc.locate(field).unwrap_or_else(|| Origin::File {
            path: path.to_owned(),
            position: None,
        })
    };
    let de = toml::Deserializer::parse(text).map_err(|e| {
        vec![Issue {
            origin: origin(""),
            field: None,
            message: e.message().to_owned(),
        }]
    })?;
    let routes: RoutesDocument = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        vec![Issue {
            origin: origin(&field),
            field: (field != ".").then_some(field),
            message: e.into_inner().message().to_owned(),
        }]
    })?;
    let issues: Vec<Issue> = check(&routes)
        .into_iter()
        .map(|(field, message)| Issue {
            origin: origin(&field),
            field: Some(field),
            message,
        })
        .collect();
    if issues.is_empty() {
        Ok(routes)
    } else {
        Err(issues)
    }
}

/// Semantic checks: (field, message) pairs.
fn check(doc: &RoutesDocument) -> Vec<(String, String)> {
    let mut issues = Vec::new();
    let mut names = HashSet::new();
    for (i, rule) in doc.rules.iter().enumerate() {
        let at = |key: &str| format!("rule[{i}].{key}");
        if rule.name.trim().is_empty() {
            issues.push((at("name"), "must not be empty".into()));
        } else if !names.insert(rule.name.as_str()) {
            issues.push((at("name"), format!("duplicate rule name {:?}", rule.name)));
        }
        if let Err(e) = Methods::parse(&rule.methods) {
            issues.push((at("methods"), e));
        }
        if let Err(e) = Pattern::parse(&rule.path) {
            issues.push((at("path"), e));
        }
        let has_permissions = !rule.any_of.is_empty() || !rule.all_of.is_empty();
        match (rule.access, has_permissions) {
            (Some(_), true) => issues.push((
                at("access"),
                "set either access or any_of/all_of, not both".into(),
            )),
            (None, false) => issues.push((
                at("path"),
                "the rule grants nothing: set access = \"public\" | \"authenticated\" | \"deny\", or any_of / all_of".into(),
            )),
            _ => {}
        }
        if rule.mcp && matches!(rule.access, Some(Access::Public | Access::Deny)) {
            issues.push((
                at("mcp"),
                "MCP checks need an authenticated caller; not allowed with access = \"public\" or \"deny\"".into(),
            ));
        }
    }
    if doc.mcp.max_body_bytes == 0 {
        issues.push(("mcp.max_body_bytes".into(), "must be greater than 0".into()));
    }
    if doc.mcp.max_batch == 0 {
        issues.push(("mcp.max_batch".into(), "must be greater than 0".into()));
    }
    if doc.mcp.methods.contains_key("tools/call") {
        issues.push((
            "mcp.methods.tools/call".into(),
            "tools/call is authorized per tool in [tools], not here".into(),
        ));
    }
    for (name, tool) in &doc.tools {
        let at = format!("tools.{name}");
        if Permission::mcp_call(name).is_err() {
            issues.push((
                at.clone(),
                format!("{name:?} is not a tool name usable in mcp:call:<tool> (lowercase letters, digits, '_', '-', '.')"),
            ));
        }
        match (&tool.all_of, &tool.operations) {
            (Some(_), Some(_)) | (None, None) => issues.push((
                at,
                "set exactly one of all_of (every call) or operations (per operation)".into(),
            )),
            (None, Some(ops)) if ops.is_empty() => {
                issues.push((format!("{at}.operations"), "lists no operation".into()))
            }
            _ => {}
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(Path::new("routes.toml"), text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn minimal_file() {
        let doc = parse(
            Path::new("r.toml"),
            "[[rule]]\nname = \"h\"\nmethods = [\"GET\"]\npath = \"/health\"\naccess = \"public\"\n",
        )
        .unwrap();
        assert_eq!(doc.default, DefaultAccess::Deny);
        assert_eq!(doc.rules[0].access, Some(Access::Public));
        assert_eq!(doc.mcp.max_batch, 100);
    }

    #[test]
    fn errors_name_line_and_key() {
        assert_eq!(
            err("[[rule]]\nname = \"n\"\npath = \"/api/**\"\nany_of = [\"nodes:read\", \"Nodes:write\"]\n"),
            "routes.toml:4:25: rule[0].any_of[1]: unknown permission syntax \"Nodes:write\": expected `namespace:action` (lowercase letters, digits, '_', '-', '.'), `*` or `namespace:*`"
        );
        assert_eq!(
            err("[[rule]]\nname = \"n\"\npath = \"/api/**\"\nall_of = [\"nodes:*\"]\n"),
            "routes.toml:4:11: rule[0].all_of[0]: \"nodes:*\": a rule must require concrete permissions; wildcards only grant"
        );
        assert_eq!(
            err("[[rule]]\nname = \"n\"\npath = \"/api//x\"\naccess = \"public\"\n"),
            "routes.toml:3:8: rule[0].path: \"/api//x\" is not a normalized path (it would normalize to \"/api/x\"); rules match normalized paths"
        );
        assert_eq!(
            err("[[rule]]\nname = \"n\"\npath = \"/\"\naccess = \"public\"\n\n[[rule]]\nname = \"n\"\npath = \"/x\"\naccess = \"deny\"\n"),
            "routes.toml:7:8: rule[1].name: duplicate rule name \"n\""
        );
        assert_eq!(
            err("[[rule]]\nname = \"n\"\npath = \"/\"\naces = \"public\"\n"),
            "routes.toml:4:8: rule[0].aces: unknown field `aces`, expected one of `name`, `methods`, `path`, `access`, `any_of`, `all_of`, `mcp`"
        );
        assert_eq!(
            err("[[rule]]\nname = \"n\"\npath = \"/\n"),
            "routes.toml:3:10: rule.path: TOML syntax error: invalid basic string, expected `\"`"
        );
        assert_eq!(
            err("[[rule]]\nname = \"n\"\nmethods = [\"get\"]\npath = \"/\"\n"),
            "routes.toml:3:11: rule[0].methods: unknown method \"get\": use uppercase standard methods (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE, CONNECT) or \"*\"\nroutes.toml:4:8: rule[0].path: the rule grants nothing: set access = \"public\" | \"authenticated\" | \"deny\", or any_of / all_of"
        );
        assert_eq!(
            err("[tools.memory_node]\nall_of = []\noperations = { get = [\"nodes:read\"] }\n"),
            "routes.toml:1:1: tools.memory_node: set exactly one of all_of (every call) or operations (per operation)"
        );
        assert_eq!(
            err("[mcp.methods]\n\"tools/call\" = []\n"),
            "routes.toml:2:16: mcp.methods.tools/call: tools/call is authorized per tool in [tools], not here"
        );
    }
}
