//! The case files of `mimir-proxy policy test` (docs/policy-workflow.md): named callers, and
//! requests with the outcome each caller must get.
//!
//! Everything a case names (roles, groups, scopes, API keys, rules, tools, operations, MCP
//! methods, permissions) must exist in the policy under test, so that a typo fails loudly instead
//! of passing as a denial. Only a case expecting `deny:mcp_unknown_tool` (`_operation`,
//! `deny:mcp_method_not_allowed`) may name a tool, operation or method the policy lacks. Errors
//! name the file, line, column and key, like the policy's own.

use crate::authn::keystore::{KeyFile, KeyRecord};
use crate::authz::decision::Reason;
use crate::authz::explain::normalized_path;
use crate::authz::loader::Loaded;
use crate::authz::permission::Permission;
use crate::authz::rbac::UniqueMap;
use crate::request::normalize::PathOptions;
use crate::settings::{Document, Issue, Origin};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    #[serde(default)]
    callers: UniqueMap<CallerDef>,
    #[serde(default, rename = "case")]
    cases: Vec<CaseDef>,
}

/// Who sends a request: `roles` and/or `claims`, an `api_key`, or `anonymous`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerDef {
    /// Role or IdP group names the caller presents; `[]` presents none (the default role).
    pub roles: Option<Vec<String>>,
    /// Token claims: the names at the RBAC document's `claimPath` count as presented.
    pub claims: Option<serde_json::Value>,
    /// A key of the API keys file, by name: its roles. A revoked or expired key gets 401.
    pub api_key: Option<String>,
    /// No credential at all.
    #[serde(default)]
    pub anonymous: bool,
    /// The user id in reports (default: the caller's name).
    pub user: Option<String>,
    /// How the caller signed in (default `jwt`, or `api_key` for a key).
    pub auth: Option<AuthKind>,
    /// With `auth = "oauth_client"`: the roles the client was granted.
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    Jwt,
    Session,
    ApiKey,
    OauthClient,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseDef {
    pub name: Option<String>,
    /// The caller when `expect` is one outcome.
    pub caller: Option<String>,
    pub method: String,
    /// The request target as a client sends it; normalized as the gateway does.
    pub path: String,
    /// The `Accept` header (`text/html` makes an anonymous `GET` a browser navigation).
    pub accept: Option<String>,
    pub mcp_method: Option<String>,
    pub mcp_tool: Option<String>,
    pub mcp_operation: Option<String>,
    pub expect: Expect,
    /// The rule that must decide, for callers the policy decides.
    pub rule: Option<String>,
    /// The permissions a denial must name (order aside), for callers expected `deny`.
    pub missing: Option<Vec<String>>,
}

impl CaseDef {
    /// `METHOD path` and the MCP message, as the case gives them: `POST /mcp tools/call todo get`.
    pub fn request(&self) -> String {
        let mcp = match (&self.mcp_tool, &self.mcp_operation, &self.mcp_method) {
            (Some(t), Some(op), _) => format!(" tools/call {t} {op}"),
            (Some(t), None, _) => format!(" tools/call {t}"),
            (None, _, Some(m)) => format!(" {m}"),
            (None, _, None) => String::new(),
        };
        format!("{} {}{mcp}", self.method, self.path)
    }
}

/// One outcome (for `caller`), or caller name → outcome.
#[derive(Debug, Clone)]
pub enum Expect {
    One(Outcome),
    PerCaller(Vec<(String, Outcome)>),
}

/// What the gateway does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded: the policy allows it, or it needs no credential (public paths, the proxy's
    /// own endpoints).
    Allow,
    /// 403 from the policy, for this reason if given.
    Deny(Option<Reason>),
    /// 401: no or a refused credential.
    Unauthorized,
    /// 303 to the login page (an anonymous browser navigation).
    Redirect,
    /// 400: the path normalization refuses the target.
    BadRequest,
}

impl FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "allow" => Outcome::Allow,
            "deny" => Outcome::Deny(None),
            "401" => Outcome::Unauthorized,
            "redirect" => Outcome::Redirect,
            "400" => Outcome::BadRequest,
            _ => {
                let reason = s
                    .strip_prefix("deny:")
                    .and_then(|r| Reason::DENIALS.into_iter().find(|d| d.as_str() == r));
                match reason {
                    Some(reason) => Outcome::Deny(Some(reason)),
                    None => {
                        let reasons: Vec<_> = Reason::DENIALS.iter().map(|r| r.as_str()).collect();
                        return Err(format!(
                            "unknown outcome {s:?}: expected allow, deny, deny:<reason> ({}), 401, redirect or 400",
                            reasons.join(", ")
                        ));
                    }
                }
            }
        })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Allow => f.write_str("allow"),
            Outcome::Deny(None) => f.write_str("deny"),
            Outcome::Deny(Some(r)) => write!(f, "deny:{}", r.as_str()),
            Outcome::Unauthorized => f.write_str("401"),
            Outcome::Redirect => f.write_str("redirect"),
            Outcome::BadRequest => f.write_str("400"),
        }
    }
}

/// Parsing while deserializing lets the TOML reader locate a bad outcome.
impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Expect;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an outcome, or a table of caller = outcome")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Expect, E> {
                s.parse().map(Expect::One).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Expect, A::Error> {
                let mut entries = Vec::new();
                while let Some(caller) = map.next_key::<String>()? {
                    entries.push((caller, map.next_value()?));
                }
                Ok(Expect::PerCaller(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// A checked case file.
pub struct CaseFile {
    pub path: PathBuf,
    pub callers: Vec<Caller>,
    pub cases: Vec<Case>,
}

pub struct Caller {
    pub name: String,
    pub def: CallerDef,
    /// The record of `def.api_key`.
    pub key: Option<KeyRecord>,
}

pub struct Case {
    pub name: String,
    pub line: usize,
    pub def: CaseDef,
    /// (index into [`CaseFile::callers`], outcome), in the file's order.
    pub expect: Vec<(usize, Outcome)>,
}

/// What the checks need besides the file: the policy under test, where API keys are and how
/// paths are normalized.
pub struct Context<'a> {
    pub policy: &'a Loaded,
    pub keys_file: &'a Path,
    pub paths: &'a PathOptions,
}

/// Reads and checks a case file; every problem is reported.
pub fn load(path: &Path, cx: &Context) -> Result<CaseFile, Vec<Issue>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Issue {
            origin: Origin::File {
                path: path.to_owned(),
                position: None,
            },
            field: None,
            message: format!("cannot read the case file: {e}"),
        }]
    })?;
    let doc = Document::parse(path, &text).map_err(|i| vec![i])?;
    let def: FileDef = doc.deserialize().map_err(|i| vec![i])?;
    let mut checks = Checks {
        cx,
        issues: Vec::new(),
        keys: None,
    };
    let callers: Vec<Caller> = def
        .callers
        .0
        .into_iter()
        .map(|(name, def)| checks.caller(name, def))
        .collect();
    let cases: Vec<Case> = def
        .cases
        .into_iter()
        .enumerate()
        .map(|(i, def)| {
            let at = format!("case[{i}]");
            let line = match doc.locate(&at) {
                Some(Origin::File {
                    position: Some((line, _)),
                    ..
                }) => header_line(&text, line),
                _ => 0,
            };
            checks.case(&at, line, def, &callers)
        })
        .collect();
    if cases.is_empty() && checks.issues.is_empty() {
        checks.fail("case".into(), "the file has no [[case]]".into());
    }
    if !checks.issues.is_empty() {
        // A key the file does not set is located at the table that lacks it.
        let origin = |field: &str| {
            let mut at = field;
            loop {
                if let Some(origin) = doc.locate(at) {
                    return origin;
                }
                match at.rfind('.') {
                    Some(dot) => at = &at[..dot],
                    None => {
                        return Origin::File {
                            path: path.to_owned(),
                            position: None,
                        }
                    }
                }
            }
        };
        return Err(checks
            .issues
            .into_iter()
            .map(|(field, message)| Issue {
                origin: origin(&field),
                field: Some(field),
                message,
            })
            .collect());
    }
    Ok(CaseFile {
        path: path.to_owned(),
        callers,
        cases,
    })
}

/// The `[[case]]` line at or above `line` (the located span may start at the table's first key).
fn header_line(text: &str, line: usize) -> usize {
    let lines: Vec<&str> = text.lines().take(line).collect();
    lines
        .iter()
        .rposition(|l| l.trim_start().starts_with("[[case]]"))
        .map_or(line, |i| i + 1)
}

struct Checks<'a> {
    cx: &'a Context<'a>,
    /// (field, message).
    issues: Vec<(String, String)>,
    /// The API keys file, read for the first caller naming a key.
    keys: Option<Result<KeyFile, String>>,
}

impl Checks<'_> {
    fn fail(&mut self, field: String, message: String) {
        self.issues.push((field, message));
    }

    fn is_role(&self, name: &str) -> bool {
        self.cx.policy.rbac.role_mappings.get(name).is_some()
    }

    fn caller(&mut self, name: String, def: CallerDef) -> Caller {
        let at = |key: &str| format!("callers.{name}.{key}");
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            self.fail(
                format!("callers.{name}"),
                "caller names are ASCII letters, digits, '-' and '_'".into(),
            );
        }
        let presents = def.roles.is_some() || def.claims.is_some();
        let kinds =
            usize::from(presents) + usize::from(def.api_key.is_some()) + usize::from(def.anonymous);
        if kinds != 1 {
            self.fail(
                format!("callers.{name}"),
                "give exactly one of roles (and/or claims), api_key or anonymous = true".into(),
            );
        }
        if def.anonymous && (def.user.is_some() || def.auth.is_some() || def.scopes.is_some()) {
            self.fail(
                at("anonymous"),
                "an anonymous caller has no user, auth or scopes".into(),
            );
        }
        if def.api_key.is_some() && def.auth.is_some_and(|a| a != AuthKind::ApiKey) {
            self.fail(
                at("auth"),
                "a caller with an api_key signs in with auth = \"api_key\"".into(),
            );
        }
        for (i, role) in def.roles.iter().flatten().enumerate() {
            let group = self.cx.policy.rbac.group_mappings.get(role).is_some();
            if !self.is_role(role) && !group {
                let message = format!(
                    "{role:?} is neither a role nor a groupMappings group of {}",
                    self.cx.policy.rbac_origin
                );
                self.fail(at(&format!("roles[{i}]")), message);
            }
        }
        if def.claims.as_ref().is_some_and(|c| !c.is_object()) {
            self.fail(at("claims"), "must be a table of claims".into());
        }
        if def.scopes.is_some() && def.auth != Some(AuthKind::OauthClient) {
            self.fail(
                at("scopes"),
                "scopes are granted to OAuth clients: set auth = \"oauth_client\"".into(),
            );
        }
        for (i, scope) in def.scopes.iter().flatten().enumerate() {
            if !self.is_role(scope) {
                let message = format!("{scope:?} is not a role (scopes are roles)");
                self.fail(at(&format!("scopes[{i}]")), message);
            }
        }
        let key = def.api_key.as_deref().and_then(|key| {
            let file = self.cx.keys_file;
            let keys = self.keys.get_or_insert_with(|| {
                KeyFile::load(file).map_err(|e| format!("cannot read the API keys file: {e}"))
            });
            let found = match keys {
                Ok(keys) => keys
                    .keys
                    .iter()
                    .find(|k| k.name == key)
                    .cloned()
                    .ok_or_else(|| format!("no key named {key:?} in {}", file.display())),
                Err(e) => Err(e.clone()),
            };
            found.map_err(|e| self.fail(at("api_key"), e)).ok()
        });
        Caller { name, def, key }
    }

    fn case(&mut self, at: &str, line: usize, def: CaseDef, callers: &[Caller]) -> Case {
        let field = |key: &str| format!("{at}.{key}");
        let index = |name: &str| callers.iter().position(|c| c.name == name);
        let mut expect = Vec::new();
        match (&def.expect, &def.caller) {
            (Expect::One(outcome), Some(name)) => match index(name) {
                Some(i) => expect.push((i, *outcome)),
                None => self.fail(
                    field("caller"),
                    format!("no caller named {name:?} in [callers]"),
                ),
            },
            (Expect::One(_), None) => self.fail(
                field("expect"),
                "one outcome needs `caller`; or give a table of caller = outcome".into(),
            ),
            (Expect::PerCaller(_), Some(_)) => self.fail(
                field("caller"),
                "`caller` goes with one outcome; this expect is a table of caller = outcome".into(),
            ),
            (Expect::PerCaller(list), None) => {
                if list.is_empty() {
                    self.fail(field("expect"), "names no caller".into());
                }
                for (name, outcome) in list {
                    match index(name) {
                        Some(i) => expect.push((i, *outcome)),
                        None => self.fail(
                            field(&format!("expect.{name}")),
                            format!("no caller named {name:?} in [callers]"),
                        ),
                    }
                }
            }
        }
        expect.sort_by_key(|(caller, _)| *caller);
        if def.method.is_empty() || !def.method.bytes().all(|b| b.is_ascii_uppercase()) {
            self.fail(
                field("method"),
                format!("{:?} is not an HTTP method such as GET", def.method),
            );
        }
        self.mcp(at, &def, &expect);
        if let Some(rule) = &def.rule {
            if !self.cx.policy.routes.rules.iter().any(|r| &r.name == rule) {
                let message = format!(
                    "no rule named {rule:?} in {}",
                    self.cx.policy.routes_path.display()
                );
                self.fail(field("rule"), message);
            }
        }
        let required = self.cx.policy.routes.required_permissions();
        for (i, name) in def.missing.iter().flatten().enumerate() {
            let known = Permission::parse(name).is_ok_and(|p| required.contains(&p));
            if !known {
                let message =
                    format!("{name:?} is a permission no rule, MCP method or tool requires");
                self.fail(field(&format!("missing[{i}]")), message);
            }
        }
        let name = def.name.clone().unwrap_or_else(|| def.request());
        Case {
            name,
            line,
            def,
            expect,
        }
    }

    /// The MCP part: given exactly for MCP routes, naming what the policy knows.
    fn mcp(&mut self, at: &str, def: &CaseDef, expect: &[(usize, Outcome)]) {
        let field = |key: &str| format!("{at}.{key}");
        // Callers refused before the policy (401, redirect, 400) decide nothing either way.
        let all_expect = |reason| {
            let denied = |o: &Outcome| *o == Outcome::Deny(Some(reason));
            let before_policy = |o: &Outcome| {
                matches!(
                    o,
                    Outcome::Unauthorized | Outcome::Redirect | Outcome::BadRequest
                )
            };
            expect.iter().any(|(_, o)| denied(o))
                && expect.iter().all(|(_, o)| denied(o) || before_policy(o))
        };
        let routes = &self.cx.policy.routes;
        if def.mcp_operation.is_some() && def.mcp_tool.is_none() {
            self.fail(field("mcp_operation"), "goes with mcp_tool".into());
        }
        match (&def.mcp_method, &def.mcp_tool) {
            (Some(_), Some(_)) => self.fail(
                field("mcp_method"),
                "give mcp_method or mcp_tool (a tools/call), not both".into(),
            ),
            (Some(m), None) if m == "tools/call" => self.fail(
                field("mcp_method"),
                "a tools/call is given with mcp_tool".into(),
            ),
            (Some(m), None)
                if !routes.mcp.methods.contains_key(m)
                    && !all_expect(Reason::McpMethodNotAllowed) =>
            {
                let message = format!(
                    "{m:?} is not in [mcp.methods] (a case expecting deny:mcp_method_not_allowed may name it)"
                );
                self.fail(field("mcp_method"), message);
            }
            (None, Some(tool)) => match routes.tools.get(tool) {
                None if !all_expect(Reason::McpUnknownTool) => {
                    let message = format!(
                        "{tool:?} is not in [tools] (a case expecting deny:mcp_unknown_tool may name it)"
                    );
                    self.fail(field("mcp_tool"), message);
                }
                Some(t) => match (&t.operations, &def.mcp_operation) {
                    (None, Some(_)) => self.fail(
                        field("mcp_operation"),
                        format!("tool {tool:?} has no operations in [tools]"),
                    ),
                    (Some(ops), op)
                        if !op.as_ref().is_some_and(|op| ops.contains_key(op))
                            && !all_expect(Reason::McpUnknownOperation) =>
                    {
                        let listed: Vec<&str> = ops.keys().map(String::as_str).collect();
                        let message = format!(
                            "tool {tool:?} needs one of its operations ({}) (a case expecting deny:mcp_unknown_operation may name another)",
                            listed.join(", ")
                        );
                        self.fail(field("mcp_operation"), message);
                    }
                    _ => {}
                },
                None => {}
            },
            _ => {}
        }
        let Ok(path) = normalized_path(&def.path, self.cx.paths) else {
            return;
        };
        let has_mcp = def.mcp_method.is_some() || def.mcp_tool.is_some();
        match (
            self.cx.policy.policy.needs_mcp_body(&def.method, &path),
            has_mcp,
        ) {
            (true, false) => self.fail(
                field("path"),
                format!(
                    "{} {path} is an MCP route: give mcp_method or mcp_tool",
                    def.method
                ),
            ),
            (false, true) => self.fail(
                field(if def.mcp_tool.is_some() {
                    "mcp_tool"
                } else {
                    "mcp_method"
                }),
                format!(
                    "{} {path} is not an MCP route (no rule with mcp = true matches it)",
                    def.method
                ),
            ),
            _ => {}
        }
    }
}
