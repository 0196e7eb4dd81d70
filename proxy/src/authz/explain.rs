//! `mimir-proxy explain --user U --roles a,b METHOD PATH [--mcp-tool T]`: loads the policy the
//! server would use, normalizes the path as the gateway does, and prints the decision and the
//! rule that made it. Exit status 0 = allowed, 1 = denied, 2 = bad input or policy.

use super::config::{AuthzConfig, Sources};
use super::decision::Decision;
use super::loader;
use super::policy::Policy;
use crate::request::mcp::{McpMessage, McpRequest, MessageKind, ToolCall};
use crate::request::normalize::{normalize_target, PathOptions};
use crate::settings::ProcessEnv;
use std::fmt::Write as _;
use std::process::ExitCode;

#[derive(Debug, Clone, clap::Args)]
pub struct ExplainArgs {
    /// User id (shown in the report; decisions depend on roles only).
    #[arg(long)]
    pub user: String,
    /// Roles, comma-separated (the default role applies when none is given).
    #[arg(long, value_delimiter = ',')]
    pub roles: Vec<String>,
    /// Token claims as JSON; roles are also read from them via claimPath and groupMappings.
    #[arg(long, value_name = "JSON")]
    pub claims: Option<String>,
    /// For an MCP route: explain a `tools/call` of this tool.
    #[arg(long, value_name = "TOOL")]
    pub mcp_tool: Option<String>,
    /// The tool's `operation` argument.
    #[arg(long, value_name = "OP", requires = "mcp_tool")]
    pub mcp_operation: Option<String>,
    /// For an MCP route: explain this JSON-RPC method instead (e.g. `tools/list`).
    #[arg(long, value_name = "METHOD", conflicts_with = "mcp_tool")]
    pub mcp_method: Option<String>,
    /// HTTP method, e.g. GET.
    pub method: String,
    /// Request path (with optional query), as a client would send it.
    pub path: String,
}

/// Exit status for a denied request.
const EXIT_DENIED: u8 = 1;
const EXIT_INVALID: u8 = 2;

/// With the `[authz]` settings and the path options of the loaded policy file.
pub fn run(authz: &AuthzConfig, paths: &PathOptions, args: &ExplainArgs) -> ExitCode {
    let result = Sources::from_config(authz, &ProcessEnv)
        .map_err(|e| e.to_string())
        .and_then(|sources| loader::load_blocking(&sources).map_err(|e| e.to_string()))
        .and_then(|snapshot| explain(&snapshot.policy, paths, args));
    match result {
        Ok((report, decision)) => {
            print!("{report}");
            if decision.allowed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_DENIED)
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// The report text and the decision.
pub fn explain(
    policy: &Policy,
    opts: &PathOptions,
    args: &ExplainArgs,
) -> Result<(String, Decision), String> {
    let path = normalized_path(&args.path, opts)?;
    let path = path.as_str();
    let mut roles = args.roles.clone();
    if let Some(claims) = &args.claims {
        let claims: serde_json::Value =
            serde_json::from_str(claims).map_err(|e| format!("--claims: {e}"))?;
        for role in policy.roles_for_claims(&claims) {
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
    }
    let mcp = mcp_request(
        args.mcp_tool.as_deref(),
        args.mcp_operation.as_deref(),
        args.mcp_method.as_deref(),
    );
    let effective = policy.effective_roles(&roles);
    let granted: Vec<String> = effective.iter().map(|r| r.to_string()).collect();
    let decision = policy.decide(&granted, &args.method, path, mcp.as_ref());

    let mut out = String::new();
    let _ = writeln!(out, "user:      {}", args.user);
    let _ = writeln!(
        out,
        "roles:     {} → effective: {}",
        if roles.is_empty() {
            "(none)".to_owned()
        } else {
            roles.join(", ")
        },
        if effective.is_empty() {
            "(none)".to_owned()
        } else {
            effective.join(", ")
        }
    );
    let _ = writeln!(out, "request:   {} {path}", args.method);
    if path != args.path.split('?').next().unwrap_or_default() {
        let _ = writeln!(out, "           (normalized from {})", args.path);
    }
    if let Some(m) = mcp.as_ref().and_then(|r| r.messages.first()) {
        let uses = if policy.needs_mcp_body(&args.method, path) {
            ""
        } else {
            " (ignored: not an MCP route)"
        };
        match m.tool() {
            Some(t) => {
                let op = t
                    .operation
                    .as_deref()
                    .map(|o| format!(" operation={o}"))
                    .unwrap_or_default();
                let _ = writeln!(out, "mcp:       tools/call {}{op}{uses}", t.name);
            }
            None => {
                let _ = writeln!(out, "mcp:       {}{uses}", m.method().unwrap_or_default());
            }
        }
    }
    let _ = writeln!(
        out,
        "decision:  {}",
        if decision.allowed { "ALLOW" } else { "DENY" }
    );
    let _ = writeln!(
        out,
        "rule:      {}",
        match &decision.rule {
            Some(r) => format!("#{} {:?}", r.index, r.name),
            None => "none matched: the default applies".to_owned(),
        }
    );
    let _ = writeln!(
        out,
        "reason:    {} ({})",
        decision.message(),
        decision.reason.as_str()
    );
    Ok((out, decision))
}

/// The path the gateway decides on: `raw` (a request target) normalized, without the query.
/// An error is the gateway's 400.
pub fn normalized_path(raw: &str, opts: &PathOptions) -> Result<String, String> {
    let target = normalize_target(raw.as_bytes(), opts)
        .map_err(|e| format!("{raw}: {e} (the gateway answers 400)"))?;
    Ok(target.split('?').next().unwrap_or(&target).to_owned())
}

/// A one-message MCP body: a `tools/call` of `tool` (with its `operation` argument), or a call
/// of `method`; `None` when neither is given.
pub fn mcp_request(
    tool: Option<&str>,
    operation: Option<&str>,
    method: Option<&str>,
) -> Option<McpRequest> {
    let kind = match (tool, method) {
        (Some(tool), _) => MessageKind::Call {
            method: "tools/call".into(),
            tool: Some(ToolCall {
                name: tool.to_owned(),
                operation: operation.map(str::to_owned),
            }),
        },
        (None, Some(method)) => MessageKind::Call {
            method: method.to_owned(),
            tool: None,
        },
        (None, None) => return None,
    };
    Some(McpRequest {
        batch: false,
        messages: vec![McpMessage {
            id: Some(serde_json::json!(1)),
            kind,
        }],
    })
}
