//! The outcome of an authorization check: allowed or not, which rule decided, and what the
//! caller lacks. Everything here is policy vocabulary (rule and permission names), never a
//! credential, so it may be logged, audited and (except the rule) shown to the client.

use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The rule that decided; `None` when no rule matched and the default applied.
    pub rule: Option<RuleRef>,
    pub reason: Reason,
    /// Permissions the caller lacks and needs, every one of them.
    pub missing_all_of: Vec<String>,
    /// When not empty: the caller needs at least one of these and has none.
    pub missing_any_of: Vec<String>,
    /// For MCP refusals: the message that was refused.
    pub mcp: Option<McpDenial>,
}

/// A rule, by its position in the rules file (0-based) and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub index: usize,
    pub name: Arc<str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The rule is `access = "public"`.
    Public,
    /// The rule (or the default) lets any authenticated caller in.
    Authenticated,
    /// The caller holds what the rule (and every MCP message) needs.
    Granted,
    /// The rule is `access = "deny"`.
    RuleDenies,
    /// No rule matched and the default is deny.
    NoRule,
    MissingPermission,
    /// An MCP rule matched but the gateway passed no parsed body.
    McpBodyRequired,
    /// A JSON-RPC method not listed in `[mcp.methods]`.
    McpMethodNotAllowed,
    /// `tools/call` of a tool not in `[tools]`.
    McpUnknownTool,
    /// `tools/call` without an `operation` the tool's table lists.
    McpUnknownOperation,
    /// A JSON-RPC response sent by the client (the core never asks the client anything).
    McpResponse,
}

impl Reason {
    /// The reasons of a refusal, as [`Reason::as_str`] names them.
    pub const DENIALS: [Reason; 8] = [
        Reason::RuleDenies,
        Reason::NoRule,
        Reason::MissingPermission,
        Reason::McpBodyRequired,
        Reason::McpMethodNotAllowed,
        Reason::McpUnknownTool,
        Reason::McpUnknownOperation,
        Reason::McpResponse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Public => "public",
            Reason::Authenticated => "authenticated",
            Reason::Granted => "granted",
            Reason::RuleDenies => "rule_denies",
            Reason::NoRule => "no_rule",
            Reason::MissingPermission => "missing_permission",
            Reason::McpBodyRequired => "mcp_body_required",
            Reason::McpMethodNotAllowed => "mcp_method_not_allowed",
            Reason::McpUnknownTool => "mcp_unknown_tool",
            Reason::McpUnknownOperation => "mcp_unknown_operation",
            Reason::McpResponse => "mcp_response",
        }
    }
}

/// Which MCP message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpDenial {
    /// Position in the batch (0 for a single message).
    pub index: usize,
    pub method: Option<String>,
    pub tool: Option<String>,
    pub operation: Option<String>,
}

impl Decision {
    pub(crate) fn new(allowed: bool, rule: Option<RuleRef>, reason: Reason) -> Self {
        Self {
            allowed,
            rule,
            reason,
            missing_all_of: Vec::new(),
            missing_any_of: Vec::new(),
            mcp: None,
        }
    }

    /// A sentence for the client (403 body) and the log; names permissions, never secrets.
    pub fn message(&self) -> String {
        let subject = match &self.mcp {
            Some(McpDenial {
                tool: Some(tool),
                operation,
                ..
            }) => match operation {
                Some(op) => format!("MCP tool {tool} (operation {op})"),
                None => format!("MCP tool {tool}"),
            },
            Some(McpDenial {
                method: Some(m), ..
            }) => format!("MCP method {m}"),
            _ => "this request".to_owned(),
        };
        match self.reason {
            Reason::Public | Reason::Authenticated | Reason::Granted => "allowed".to_owned(),
            Reason::RuleDenies => "access to this resource is denied by policy".to_owned(),
            Reason::NoRule => "no policy rule allows this request".to_owned(),
            Reason::MissingPermission => {
                let mut parts = Vec::new();
                if !self.missing_all_of.is_empty() {
                    parts.push(self.missing_all_of.join(", "));
                }
                if !self.missing_any_of.is_empty() {
                    parts.push(format!("one of [{}]", self.missing_any_of.join(", ")));
                }
                format!(
                    "permission denied: {} required for {subject}",
                    parts.join(" and ")
                )
            }
            Reason::McpBodyRequired => "the MCP request body could not be checked".to_owned(),
            Reason::McpMethodNotAllowed => format!("{subject} is not allowed"),
            Reason::McpUnknownTool => format!("{subject} is not allowed (unknown tool)"),
            Reason::McpUnknownOperation => {
                format!("{subject} is not allowed (unknown or missing operation)")
            }
            Reason::McpResponse => {
                "JSON-RPC responses are not accepted on this endpoint".to_owned()
            }
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.summary(), self.message())
    }
}

impl Decision {
    /// `ALLOW by rule #3 "x" (granted)`, `DENY by the default (no_rule)`: the decision without
    /// its message.
    pub fn summary(&self) -> Summary<'_> {
        Summary(self)
    }
}

pub struct Summary<'a>(&'a Decision);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        f.write_str(if d.allowed { "ALLOW" } else { "DENY" })?;
        match &d.rule {
            Some(r) => write!(f, " by rule #{} {:?}", r.index, r.name)?,
            None => f.write_str(" by the default")?,
        }
        write!(f, " ({})", d.reason.as_str())
    }
}
