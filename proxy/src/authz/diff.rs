//! What a policy change decides differently (`mimir-proxy policy diff`, docs/policy-workflow.md):
//! every caller (each role, each `groupMappings` group, the default role, a caller holding no
//! role) × every request the two policies' rules describe (each rule's methods on its path
//! pattern, and on MCP routes every tool operation and MCP method either policy knows), decided
//! by both; the decisions that change are listed. A request without a credential never reaches
//! the policy (authentication answers it), so it has no row.
//!
//! It also warns, for the new policy, about rules that can never match (earlier rules match
//! everything they do) and role permissions that no rule, MCP method or tool requires.

use super::decision::Decision;
use super::explain::mcp_request;
use super::loader::Loaded;
use super::rbac::key_position;
use crate::request::matcher::{Methods, Pattern};
use crate::settings::{Document, Issue, Origin};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;

/// The methods tried for a rule that lists `*`.
const ANY_METHOD: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

pub struct Report {
    /// Row labels: role names, `group:<name>`, `(default)`, `(no role)`.
    pub callers: Vec<String>,
    pub requests: usize,
    pub changes: Vec<Change>,
    /// About the new policy.
    pub warnings: Vec<Warning>,
}

pub struct Change {
    pub caller: String,
    pub request: Request,
    pub old: Decision,
    pub new: Decision,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Request {
    pub method: String,
    /// A rule's path pattern, sent as it is: `*` and `**` match themselves like any segment.
    pub path: String,
    pub mcp: Option<McpCall>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum McpCall {
    Method(String),
    Tool {
        name: String,
        operation: Option<String>,
    },
}

pub struct Warning {
    /// `shadowed_rule` or `unused_permission`.
    pub kind: &'static str,
    pub issue: Issue,
}

/// A row of the comparison: the names a caller presents; `None` holds no role at all.
struct Caller {
    label: String,
    names: Option<Vec<String>>,
}

pub fn compare(old: &Loaded, new: &Loaded) -> Report {
    let callers = callers(old, new);
    let requests = requests(old, new);
    let mut changes = Vec::new();
    for caller in &callers {
        let roles = |side: &Loaded| -> Vec<String> {
            match &caller.names {
                Some(names) => side
                    .policy
                    .effective_roles(names)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                None => Vec::new(),
            }
        };
        let (old_roles, new_roles) = (roles(old), roles(new));
        for request in &requests {
            let body = match &request.mcp {
                Some(McpCall::Tool { name, operation }) => {
                    mcp_request(Some(name), operation.as_deref(), None)
                }
                Some(McpCall::Method(m)) => mcp_request(None, None, Some(m)),
                None => None,
            };
            let decide = |side: &Loaded, roles: &[String]| {
                side.policy
                    .decide(roles, &request.method, &request.path, body.as_ref())
            };
            let (before, after) = (decide(old, &old_roles), decide(new, &new_roles));
            if before.allowed != after.allowed {
                changes.push(Change {
                    caller: caller.label.clone(),
                    request: request.clone(),
                    old: before,
                    new: after,
                });
            }
        }
    }
    let mut warnings = shadowed_rules(new);
    warnings.extend(unused_permissions(new));
    Report {
        callers: callers.into_iter().map(|c| c.label).collect(),
        requests: requests.len(),
        changes,
        warnings,
    }
}

fn callers(old: &Loaded, new: &Loaded) -> Vec<Caller> {
    let mut roles: Vec<&str> = Vec::new();
    let mut groups: Vec<&str> = Vec::new();
    for side in [old, new] {
        for (role, _) in &side.rbac.role_mappings.0 {
            if !roles.contains(&role.as_str()) {
                roles.push(role);
            }
        }
        for (group, _) in &side.rbac.group_mappings.0 {
            if !groups.contains(&group.as_str()) {
                groups.push(group);
            }
        }
    }
    groups.retain(|g| !roles.contains(g));
    let named = |label: String, name: &str| Caller {
        label,
        names: Some(vec![name.to_owned()]),
    };
    let mut callers: Vec<Caller> = roles.iter().map(|r| named(r.to_string(), r)).collect();
    callers.extend(groups.iter().map(|g| named(format!("group:{g}"), g)));
    callers.push(Caller {
        label: "(default)".into(),
        names: Some(Vec::new()),
    });
    callers.push(Caller {
        label: "(no role)".into(),
        names: None,
    });
    callers
}

fn requests(old: &Loaded, new: &Loaded) -> Vec<Request> {
    let mut calls = BTreeSet::new();
    for side in [old, new] {
        calls.extend(side.routes.mcp.methods.keys().cloned().map(McpCall::Method));
        for (tool, def) in &side.routes.tools {
            let call = |operation| McpCall::Tool {
                name: tool.clone(),
                operation,
            };
            match &def.operations {
                Some(ops) => calls.extend(ops.keys().cloned().map(|op| call(Some(op)))),
                None => {
                    calls.insert(call(None));
                }
            }
        }
    }
    let mut seen = HashSet::new();
    let mut requests = Vec::new();
    for side in [old, new] {
        for rule in &side.routes.rules {
            let methods: Vec<&str> = if rule.methods.iter().any(|m| m == "*") {
                ANY_METHOD.to_vec()
            } else {
                // GET covers HEAD.
                let listed = rule.methods.iter().map(String::as_str);
                let has_get = rule.methods.iter().any(|m| m == "GET");
                listed.filter(|m| !(has_get && *m == "HEAD")).collect()
            };
            for method in methods {
                let bodies: Vec<Option<McpCall>> = if rule.mcp {
                    calls.iter().cloned().map(Some).collect()
                } else {
                    vec![None]
                };
                for mcp in bodies {
                    let request = Request {
                        method: method.to_owned(),
                        path: rule.path.clone(),
                        mcp,
                    };
                    if seen.insert(request.clone()) {
                        requests.push(request);
                    }
                }
            }
        }
    }
    requests
}

/// Rules whose every request earlier rules match first.
fn shadowed_rules(side: &Loaded) -> Vec<Warning> {
    let doc = Document::parse(&side.routes_path, &side.routes_text).ok();
    let parsed: Vec<Option<(Methods, Pattern)>> = side
        .routes
        .rules
        .iter()
        .map(|r| {
            Some((
                Methods::parse(&r.methods).ok()?,
                Pattern::parse(&r.path).ok()?,
            ))
        })
        .collect();
    let mut warnings = Vec::new();
    for (j, rule) in side.routes.rules.iter().enumerate() {
        let Some((mut left, pattern)) = parsed[j].clone() else {
            continue;
        };
        let mut by = Vec::new();
        for (i, earlier) in parsed[..j].iter().enumerate() {
            let Some((methods, covering)) = earlier else {
                continue;
            };
            let rest = left.without(*methods);
            if rest != left && covering.covers(&pattern) {
                by.push(format!("{:?}", side.routes.rules[i].name));
                left = rest;
            }
        }
        if left.is_empty() {
            let field = format!("rule[{j}].name");
            let origin = doc
                .as_ref()
                .and_then(|d| d.locate(&field))
                .unwrap_or_else(|| file(side.routes_path.clone(), None));
            warnings.push(Warning {
                kind: "shadowed_rule",
                issue: Issue {
                    origin,
                    field: Some(field),
                    message: format!(
                        "rule {:?} can never match: rule {} match every request it does first",
                        rule.name,
                        by.join(" and rule ")
                    ),
                },
            });
        }
    }
    warnings
}

/// Role permissions that grant nothing any rule, MCP method or tool requires.
fn unused_permissions(side: &Loaded) -> Vec<Warning> {
    let required = side.routes.required_permissions();
    let mut warnings = Vec::new();
    for (role, def) in &side.rbac.role_mappings.0 {
        for (k, held) in def.permissions.iter().enumerate() {
            if required.iter().any(|r| held.grants(r)) {
                continue;
            }
            let position = key_position(&side.rbac_text, role);
            warnings.push(Warning {
                kind: "unused_permission",
                issue: Issue {
                    origin: file(PathBuf::from(side.rbac_origin.to_string()), position),
                    field: Some(format!("roleMappings.{role}.permissions[{k}]")),
                    message: format!(
                        "{:?} grants nothing: no rule, MCP method or tool requires it",
                        held.as_str()
                    ),
                },
            });
        }
    }
    warnings
}

fn file(path: PathBuf, position: Option<(usize, usize)>) -> Origin {
    Origin::File { path, position }
}

impl Request {
    fn label(&self) -> String {
        let mcp = match &self.mcp {
            None => String::new(),
            Some(McpCall::Method(m)) => format!(" {m}"),
            Some(McpCall::Tool { name, operation }) => match operation {
                Some(op) => format!(" tools/call {name} {op}"),
                None => format!(" tools/call {name}"),
            },
        };
        format!("{} {}{mcp}", self.method, self.path)
    }
}

/// `allow by "rule"`, `deny:missing_permission by "rule" (nodes:delete)`, `… by the default`.
fn short(d: &Decision) -> String {
    let verdict = if d.allowed {
        "allow".to_owned()
    } else {
        format!("deny:{}", d.reason.as_str())
    };
    let by = match &d.rule {
        Some(r) => format!("{:?}", r.name),
        None => "the default".to_owned(),
    };
    let missing: Vec<&str> = d
        .missing_all_of
        .iter()
        .chain(&d.missing_any_of)
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        format!("{verdict} by {by}")
    } else {
        format!("{verdict} by {by} ({})", missing.join(", "))
    }
}

fn decision_json(d: &Decision) -> Value {
    json!({
        "decision": if d.allowed { "allow" } else { "deny" },
        "reason": d.reason.as_str(),
        "rule": d.rule.as_ref().map(|r| r.name.to_string()),
        "missing_all_of": d.missing_all_of,
        "missing_any_of": d.missing_any_of,
    })
}

fn sides(old: &Loaded, new: &Loaded) -> [(&'static str, String); 2] {
    let name = |s: &Loaded| format!("{} + {}", s.rbac_origin, s.routes_path.display());
    [("old", name(old)), ("new", name(new))]
}

impl Report {
    pub fn to_table(&self, old: &Loaded, new: &Loaded) -> String {
        let mut out = String::new();
        for (side, name) in sides(old, new) {
            let _ = writeln!(out, "{side}: {name}");
        }
        let _ = writeln!(
            out,
            "compared: {} callers ({}) × {} requests",
            self.callers.len(),
            self.callers.join(", "),
            self.requests
        );
        if self.changes.is_empty() {
            out.push_str("no decision changes\n");
        } else {
            let _ = writeln!(out, "{} decisions change:", self.changes.len());
            let rows: Vec<[String; 4]> = self
                .changes
                .iter()
                .map(|c| {
                    [
                        c.caller.clone(),
                        c.request.label(),
                        short(&c.old),
                        short(&c.new),
                    ]
                })
                .collect();
            let header = ["CALLER", "REQUEST", "OLD", "NEW"].map(str::to_owned);
            let width = |i: usize| {
                rows.iter()
                    .chain([&header])
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            };
            let (w0, w1, w2) = (width(0), width(1), width(2));
            for row in std::iter::once(&header).chain(&rows) {
                let _ = writeln!(
                    out,
                    "{:<w0$}  {:<w1$}  {:<w2$}  {}",
                    row[0], row[1], row[2], row[3]
                );
            }
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(out, "warnings about the new policy:");
            for w in &self.warnings {
                let _ = writeln!(out, "  {}", w.issue);
            }
        }
        out
    }

    pub fn to_json(&self, old: &Loaded, new: &Loaded) -> Value {
        let [(_, old_name), (_, new_name)] = sides(old, new);
        let changes: Vec<Value> = self
            .changes
            .iter()
            .map(|c| {
                let mcp = match &c.request.mcp {
                    None => Value::Null,
                    Some(McpCall::Method(m)) => json!({"method": m}),
                    Some(McpCall::Tool { name, operation }) => {
                        json!({"method": "tools/call", "tool": name, "operation": operation})
                    }
                };
                json!({
                    "caller": c.caller,
                    "method": c.request.method,
                    "path": c.request.path,
                    "mcp": mcp,
                    "old": decision_json(&c.old),
                    "new": decision_json(&c.new),
                })
            })
            .collect();
        let warnings: Vec<Value> = self
            .warnings
            .iter()
            .map(|w| {
                let (path, position) = match &w.issue.origin {
                    Origin::File { path, position } => {
                        (Some(path.display().to_string()), *position)
                    }
                    _ => (None, None),
                };
                json!({
                    "kind": w.kind,
                    "file": path,
                    "line": position.map(|p| p.0),
                    "column": position.map(|p| p.1),
                    "field": w.issue.field,
                    "message": w.issue.message,
                })
            })
            .collect();
        json!({
            "old": old_name,
            "new": new_name,
            "callers": self.callers,
            "requests": self.requests,
            "changes": changes,
            "warnings": warnings,
        })
    }
}
