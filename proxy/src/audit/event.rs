//! The audit event: one ECS-style JSON object per line, with flat dotted keys (`user.id`, not
//! `{"user":{"id":…}}`). Constructors exist for every kind of event the proxy records; none of
//! them takes a credential, and free-text inputs are cut down so that a query string, a pasted
//! token or an oversized header cannot travel into the log.

use crate::request::mcp::{McpMessage, McpRequest, MessageKind};
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;
use time::OffsetDateTime;

use super::timestamp::rfc3339_millis;

/// Initial size of a serialized record: a request record with a user agent is 400-600 bytes
/// before the writer adds its chain fields.
const OPEN_JSON_CAPACITY: usize = 768;
/// Longest user agent kept.
const MAX_USER_AGENT: usize = 256;
/// Longest attempted user name (failed logins) and other caller-supplied identifiers.
const MAX_NAME: usize = 128;
/// Longest path kept.
const MAX_PATH: usize = 1024;
/// Longest MCP method, tool or operation kept: an entry of `mcp.messages` stays near 300 bytes
/// even when every character needs a JSON escape, so the record of a batch of the shipped
/// `max_batch` (100) fits one syslog datagram.
const MAX_MCP_NAME: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Unknown,
}

/// `event.category` (ECS allowed values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Web,
    Authentication,
    Iam,
    Configuration,
    Network,
    File,
    IntrusionDetection,
}

/// `event.action`: what happened. The string forms are the documented contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    HttpRequest,
    UserLogin,
    UserLogout,
    UserLoginFailed,
    ApiKeyCreated,
    ApiKeyRevoked,
    LockdownEnabled,
    LockdownDisabled,
    PolicyReload,
    PolicyShadowMismatch,
    IpDenied,
    RateLimited,
    BruteForceBlocked,
    AuditFileDeleted,
    AuditFileArchived,
    OauthClientRegistered,
    OauthConsentGranted,
    OauthConsentWithdrawn,
    OauthTokenIssued,
    OauthTokenRefreshed,
    OauthGrantRevoked,
}

impl Action {
    fn category(self) -> Category {
        match self {
            Self::HttpRequest => Category::Web,
            Self::UserLogin | Self::UserLogout | Self::UserLoginFailed => Category::Authentication,
            Self::ApiKeyCreated | Self::ApiKeyRevoked => Category::Iam,
            Self::LockdownEnabled
            | Self::LockdownDisabled
            | Self::PolicyReload
            | Self::PolicyShadowMismatch => Category::Configuration,
            Self::IpDenied | Self::RateLimited => Category::Network,
            Self::BruteForceBlocked => Category::IntrusionDetection,
            Self::AuditFileDeleted | Self::AuditFileArchived => Category::File,
            Self::OauthTokenIssued | Self::OauthTokenRefreshed => Category::Authentication,
            Self::OauthClientRegistered
            | Self::OauthConsentGranted
            | Self::OauthConsentWithdrawn
            | Self::OauthGrantRevoked => Category::Iam,
        }
    }
}

/// One audit event. Build it with a constructor, add context with the `with_*` methods, hand it
/// to [`super::Audit::record`]. The chain fields (`seq`, `prev_hash`, `hash`) are added by the
/// writer, which alone knows the order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    #[serde(rename = "@timestamp")]
    timestamp: String,
    #[serde(rename = "event.kind")]
    kind: &'static str,
    #[serde(rename = "event.category")]
    category: Category,
    #[serde(rename = "event.action")]
    action: Action,
    #[serde(rename = "event.outcome")]
    outcome: Outcome,
    #[serde(rename = "event.reason", skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Nanoseconds, as ECS defines `event.duration`.
    #[serde(rename = "event.duration", skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
    #[serde(rename = "user.id", skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(rename = "user.roles", skip_serializing_if = "Vec::is_empty")]
    user_roles: Vec<String>,
    /// The name typed into a failed login (there is no authenticated `user.id` then).
    #[serde(rename = "user.name", skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    /// The user an IAM event is about (`apikey:<name>` for a key), not the one acting.
    #[serde(rename = "user.target.id", skip_serializing_if = "Option::is_none")]
    target_user: Option<String>,
    /// How the caller authenticated: `jwt`, `api_key`, `session`, `dev`, …
    #[serde(
        rename = "authentication.method",
        skip_serializing_if = "Option::is_none"
    )]
    auth_method: Option<String>,
    #[serde(rename = "source.ip", skip_serializing_if = "Option::is_none")]
    source_ip: Option<IpAddr>,
    #[serde(
        rename = "user_agent.original",
        skip_serializing_if = "Option::is_none"
    )]
    user_agent: Option<String>,
    #[serde(
        rename = "http.request.method",
        skip_serializing_if = "Option::is_none"
    )]
    method: Option<String>,
    #[serde(rename = "url.path", skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(
        rename = "http.response.status_code",
        skip_serializing_if = "Option::is_none"
    )]
    status: Option<u16>,
    /// The first message's method, and the first tool call's tool and operation (all there is
    /// for a single message); `mcp.messages` has every message of a batch.
    #[serde(rename = "mcp.method", skip_serializing_if = "Option::is_none")]
    mcp_method: Option<String>,
    #[serde(rename = "mcp.tool", skip_serializing_if = "Option::is_none")]
    mcp_tool: Option<String>,
    #[serde(rename = "mcp.operation", skip_serializing_if = "Option::is_none")]
    mcp_operation: Option<String>,
    /// One entry per JSON-RPC message, in order: at most the policy's `mcp.max_batch`.
    #[serde(rename = "mcp.messages", skip_serializing_if = "Vec::is_empty")]
    mcp_messages: Vec<McpEntry>,
    /// The request id (`X-Request-ID`).
    #[serde(rename = "trace.id", skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    /// Identifier of an API key (never the key itself).
    #[serde(rename = "api_key.id", skip_serializing_if = "Option::is_none")]
    api_key_id: Option<String>,
    /// A file the event is about: the policy file reloaded, the audit file deleted or archived.
    #[serde(rename = "file.path", skip_serializing_if = "Option::is_none")]
    file_path: Option<String>,
    /// Which limit was hit (e.g. `per-user`, `per-ip`).
    #[serde(rename = "rate_limit.name", skip_serializing_if = "Option::is_none")]
    rate_limit: Option<String>,
    /// The OAuth client, grant and granted scope an authorization-server event is about.
    #[serde(rename = "oauth.client.id", skip_serializing_if = "Option::is_none")]
    oauth_client: Option<String>,
    #[serde(rename = "oauth.grant.id", skip_serializing_if = "Option::is_none")]
    oauth_grant: Option<String>,
    #[serde(rename = "oauth.scope", skip_serializing_if = "Option::is_none")]
    oauth_scope: Option<String>,
    /// The enforced and the shadow policy's decisions of a `policy-shadow-mismatch`.
    #[serde(rename = "authz.live", skip_serializing_if = "Option::is_none")]
    authz_live: Option<VerdictEntry>,
    #[serde(rename = "authz.shadow", skip_serializing_if = "Option::is_none")]
    authz_shadow: Option<VerdictEntry>,
}

/// An authorization decision as the policy vocabulary names it (`authz::Decision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyVerdict<'a> {
    pub allowed: bool,
    /// `granted`, `missing_permission`, … (docs/authorization.md).
    pub reason: &'a str,
    /// The deciding rule's name; `None` when the default decided.
    pub rule: Option<&'a str>,
}

/// `authz.live` and `authz.shadow`: `{"decision":"allow"|"deny","reason":…,"rule":…}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct VerdictEntry {
    decision: &'static str,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<String>,
}

impl VerdictEntry {
    fn of(verdict: PolicyVerdict<'_>) -> Self {
        Self {
            decision: if verdict.allowed { "allow" } else { "deny" },
            reason: clip(verdict.reason, MAX_NAME),
            rule: verdict.rule.map(|r| clip(r, MAX_NAME)),
        }
    }
}

/// One JSON-RPC message of an MCP body, in `mcp.messages`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct McpEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    /// Set for `tools/call`.
    #[serde(skip_serializing_if = "Option::is_none")]
    tool: Option<String>,
    /// The call's `operation` argument, for tools with per-operation permissions.
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<String>,
    /// A JSON-RPC response (the client answering the server): no method.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    response: bool,
}

impl McpEntry {
    fn of(message: &McpMessage) -> Self {
        let tool = message.tool();
        Self {
            method: message.method().map(|m| clip(m, MAX_MCP_NAME)),
            tool: tool.map(|t| clip(&t.name, MAX_MCP_NAME)),
            operation: tool
                .and_then(|t| t.operation.as_deref())
                .map(|o| clip(o, MAX_MCP_NAME)),
            response: message.kind == MessageKind::Response,
        }
    }
}

/// What the gateway knows about a finished request.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo<'a> {
    pub method: &'a str,
    /// The path; anything from `?` or `#` on is dropped (query strings can carry tokens).
    pub path: &'a str,
    pub status: u16,
    pub duration: Duration,
    pub request_id: &'a str,
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub roles: &'a [String],
    /// The parsed `POST /mcp` body, when there was one.
    pub mcp: Option<&'a McpRequest>,
}

impl AuditEvent {
    fn new(action: Action, outcome: Outcome) -> Self {
        Self {
            timestamp: rfc3339_millis(OffsetDateTime::now_utc()),
            kind: "event",
            category: action.category(),
            action,
            outcome,
            reason: None,
            duration: None,
            user_id: None,
            user_roles: Vec::new(),
            user_name: None,
            target_user: None,
            auth_method: None,
            source_ip: None,
            user_agent: None,
            method: None,
            path: None,
            status: None,
            mcp_method: None,
            mcp_tool: None,
            mcp_operation: None,
            mcp_messages: Vec::new(),
            trace_id: None,
            api_key_id: None,
            file_path: None,
            rate_limit: None,
            oauth_client: None,
            oauth_grant: None,
            oauth_scope: None,
            authz_live: None,
            authz_shadow: None,
        }
    }

    /// Every proxied or refused request; the outcome follows the status (< 400 is success).
    pub fn request(info: &RequestInfo<'_>) -> Self {
        let outcome = if info.status < 400 {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let mut e = Self::new(Action::HttpRequest, outcome);
        e.method = Some(clip(info.method, 16));
        e.path = Some(clean_path(info.path));
        e.status = Some(info.status);
        e.duration = Some(u64::try_from(info.duration.as_nanos()).unwrap_or(u64::MAX));
        e.trace_id = Some(clip(info.request_id, MAX_NAME));
        e.source_ip = info.source_ip;
        e.user_agent = info.user_agent.map(|ua| clip(ua, MAX_USER_AGENT));
        if let Some(mcp) = info.mcp {
            e.with_mcp(mcp);
        }
        e.with_user(info.user_id, info.roles)
    }

    fn with_mcp(&mut self, mcp: &McpRequest) {
        self.mcp_messages = mcp.messages.iter().map(McpEntry::of).collect();
        self.mcp_method = self.mcp_messages.iter().find_map(|m| m.method.clone());
        if let Some(call) = self.mcp_messages.iter().find(|m| m.tool.is_some()) {
            self.mcp_tool = call.tool.clone();
            self.mcp_operation = call.operation.clone();
        }
    }

    pub fn login(user_id: &str, roles: &[String], method: &str) -> Self {
        Self::new(Action::UserLogin, Outcome::Success)
            .with_user(Some(user_id), roles)
            .with_auth_method(method)
    }

    pub fn logout(user_id: &str) -> Self {
        Self::new(Action::UserLogout, Outcome::Success).with_user(Some(user_id), &[])
    }

    /// `attempted_user` is what the client typed or presented as a name, if anything; `reason` is
    /// a fixed description such as `bad credentials` or `expired token`, never the credential.
    pub fn login_failed(attempted_user: Option<&str>, method: &str, reason: &'static str) -> Self {
        let mut e = Self::new(Action::UserLoginFailed, Outcome::Failure).with_auth_method(method);
        e.user_name = attempted_user.map(|u| clip(u, MAX_NAME));
        e.reason = Some(reason.to_owned());
        e
    }

    /// The key `key_id` (its public identifier) of user `key_user` appeared in the keys file.
    /// The keys CLI edits the file offline, so no actor is known; add one with
    /// [`Self::with_user`] when there is.
    pub fn api_key_created(key_id: &str, key_user: &str) -> Self {
        Self::new(Action::ApiKeyCreated, Outcome::Success).with_key(key_id, key_user)
    }

    /// The key was revoked, or removed from the keys file.
    pub fn api_key_revoked(key_id: &str, key_user: &str) -> Self {
        Self::new(Action::ApiKeyRevoked, Outcome::Success).with_key(key_id, key_user)
    }

    fn with_key(mut self, key_id: &str, key_user: &str) -> Self {
        self.api_key_id = Some(clip(key_id, MAX_NAME));
        self.target_user = Some(clip(key_user, MAX_NAME));
        self
    }

    /// Emergency lockdown switched on (credentials issued until then refused) or off.
    pub fn lockdown(enabled: bool, reason: &str) -> Self {
        let action = if enabled {
            Action::LockdownEnabled
        } else {
            Action::LockdownDisabled
        };
        let mut e = Self::new(action, Outcome::Success);
        e.reason = Some(clip(reason, MAX_PATH));
        e
    }

    /// Too many failed authentications: `limit` (`bruteforce-ip`) now refuses the client's
    /// address (an IPv6 address's network); `reason` says how many failures in what window.
    pub fn brute_force_blocked(
        ip: IpAddr,
        attempted_user: Option<&str>,
        method: &str,
        limit: &str,
        reason: &str,
    ) -> Self {
        let mut e = Self::new(Action::BruteForceBlocked, Outcome::Failure).with_auth_method(method);
        e.source_ip = Some(ip);
        e.user_name = attempted_user.map(|u| clip(u, MAX_NAME));
        e.rate_limit = Some(clip(limit, MAX_NAME));
        e.reason = Some(clip(reason, MAX_PATH));
        e
    }

    /// A policy reload of `file`; `error` is the validation message when it was refused.
    pub fn policy_reload(file: &str, error: Option<&str>) -> Self {
        let outcome = if error.is_some() {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        let mut e = Self::new(Action::PolicyReload, outcome);
        e.file_path = Some(clip(file, MAX_PATH));
        e.reason = error.map(|m| clip(m, MAX_PATH));
        e
    }

    /// The shadow policy (shadow mode) decided a request otherwise than the live policy, whose
    /// decision was enforced. Add the request with the `with_*` methods.
    pub fn policy_shadow_mismatch(live: PolicyVerdict<'_>, shadow: PolicyVerdict<'_>) -> Self {
        let mut e = Self::new(Action::PolicyShadowMismatch, Outcome::Unknown);
        e.authz_live = Some(VerdictEntry::of(live));
        e.authz_shadow = Some(VerdictEntry::of(shadow));
        e
    }

    /// A connection or request refused by the IP allow/deny rules.
    pub fn ip_denied(ip: IpAddr) -> Self {
        let mut e = Self::new(Action::IpDenied, Outcome::Failure);
        e.source_ip = Some(ip);
        e
    }

    /// A request refused by the rate limit named `limit`.
    pub fn rate_limited(ip: Option<IpAddr>, user_id: Option<&str>, limit: &str) -> Self {
        let mut e = Self::new(Action::RateLimited, Outcome::Failure).with_user(user_id, &[]);
        e.source_ip = ip;
        e.rate_limit = Some(clip(limit, MAX_NAME));
        e
    }

    /// Retention removed (`archived == false`) or moved away a rotated audit file.
    pub(crate) fn retention(file: &str, archived: bool) -> Self {
        let action = if archived {
            Action::AuditFileArchived
        } else {
            Action::AuditFileDeleted
        };
        let mut e = Self::new(action, Outcome::Success);
        e.file_path = Some(clip(file, MAX_PATH));
        e
    }

    /// An event of the gateway's authorization server about `client_id` (and a grant of it).
    pub fn oauth(action: Action, client_id: &str, grant_id: Option<&str>) -> Self {
        let mut e = Self::new(action, Outcome::Success);
        e.oauth_client = Some(clip(client_id, MAX_PATH));
        e.oauth_grant = grant_id.map(|g| clip(g, MAX_NAME));
        e
    }

    /// The scope granted (space-separated role names).
    pub fn with_scope(mut self, scope: &str) -> Self {
        self.oauth_scope = Some(clip(scope, MAX_PATH));
        self
    }

    pub fn with_user(mut self, user_id: Option<&str>, roles: &[String]) -> Self {
        self.user_id = user_id.map(|u| clip(u, MAX_NAME));
        self.user_roles = roles.iter().map(|r| clip(r, MAX_NAME)).collect();
        self
    }

    pub fn with_source(mut self, ip: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        self.source_ip = ip;
        self.user_agent = user_agent.map(|ua| clip(ua, MAX_USER_AGENT));
        self
    }

    pub fn with_request_id(mut self, request_id: &str) -> Self {
        self.trace_id = Some(clip(request_id, MAX_NAME));
        self
    }

    pub fn with_request(mut self, method: &str, path: &str) -> Self {
        self.method = Some(clip(method, 16));
        self.path = Some(clean_path(path));
        self
    }

    /// Why the request was refused: a fixed description, never request content.
    pub fn with_reason(mut self, reason: &str) -> Self {
        self.reason = Some(clip(reason, MAX_PATH));
        self
    }

    /// Every message of the request's MCP body (`mcp.*`), as in its `http-request` record.
    pub fn with_mcp_request(mut self, mcp: &McpRequest) -> Self {
        self.with_mcp(mcp);
        self
    }

    pub fn with_auth_method(mut self, method: &str) -> Self {
        self.auth_method = Some(clip(method, 32));
        self
    }

    pub fn action(&self) -> Action {
        self.action
    }

    /// The JSON object without its closing brace, ready for the chain fields.
    pub(crate) fn to_open_json(&self) -> Vec<u8> {
        // Room for a typical request record, so the buffer is not regrown field by field.
        let mut json = Vec::with_capacity(OPEN_JSON_CAPACITY);
        // Serializing a struct of strings, numbers and enums cannot fail.
        if serde_json::to_writer(&mut json, self).is_err() {
            return b"{".to_vec();
        }
        json.pop();
        json
    }
}

/// At most `max` bytes, cut on a character boundary; control characters become spaces.
fn clip(value: &str, max: usize) -> String {
    let mut end = value.len().min(max);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let value = &value[..end];
    if !value.chars().any(char::is_control) {
        return value.to_owned();
    }
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn clean_path(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    clip(path, MAX_PATH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_drops_query_and_controls() {
        let roles = vec!["admin".to_string()];
        let e = AuditEvent::request(&RequestInfo {
            method: "POST",
            path: "/mcp?access_token=abc#frag",
            status: 403,
            duration: Duration::from_millis(3),
            request_id: "r1",
            source_ip: Some("10.0.0.1".parse().unwrap()),
            user_agent: Some("curl/8\r\nX-Evil: 1"),
            user_id: Some("alice"),
            roles: &roles,
            mcp: None,
        });
        let v = json(&e);
        assert_eq!(v["url.path"], "/mcp");
        assert_eq!(v["event.outcome"], "failure");
        assert_eq!(v["event.action"], "http-request");
        assert_eq!(v["event.duration"], 3_000_000);
        assert_eq!(v["user_agent.original"], "curl/8  X-Evil: 1");
        assert_eq!(v["user.roles"][0], "admin");
        assert!(v.get("mcp.method").is_none());
        assert!(v.get("mcp.messages").is_none());
        assert!(v["@timestamp"].as_str().unwrap().ends_with('Z'));
    }

    fn json(e: &AuditEvent) -> serde_json::Value {
        let mut json = e.to_open_json();
        json.push(b'}');
        serde_json::from_slice(&json).unwrap()
    }

    fn mcp_record(body: &str) -> serde_json::Value {
        let mcp = crate::request::mcp::parse(body.as_bytes(), 4096, 10).unwrap();
        json(&AuditEvent::request(&RequestInfo {
            method: "POST",
            path: "/mcp",
            mcp: Some(&mcp),
            ..RequestInfo::default()
        }))
    }

    #[test]
    fn every_mcp_message_is_recorded() {
        let v = mcp_record(
            r#"[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","method":"ping"},
               {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"todo","arguments":{"operation":"get"}}},
               {"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"todo","arguments":{"operation":"delete\n"}}}]"#,
        );
        // The first method and the first call, as for a single message.
        assert_eq!(v["mcp.method"], "ping");
        assert_eq!(v["mcp.tool"], "todo");
        assert_eq!(v["mcp.operation"], "get");
        assert_eq!(
            v["mcp.messages"],
            serde_json::json!([
                {"response": true},
                {"method": "ping"},
                {"method": "tools/call", "tool": "todo", "operation": "get"},
                {"method": "tools/call", "tool": "todo", "operation": "delete "},
            ])
        );
    }

    #[test]
    fn mcp_names_are_clipped() {
        let long = "\"".repeat(MAX_MCP_NAME + 50);
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": long, "arguments": {"operation": long}}});
        let v = mcp_record(&body.to_string());
        let entry = &v["mcp.messages"][0];
        assert_eq!(entry["tool"].as_str().unwrap().len(), MAX_MCP_NAME);
        assert_eq!(entry["operation"].as_str().unwrap().len(), MAX_MCP_NAME);
        assert_eq!(v["mcp.tool"], entry["tool"]);
        // The worst case of one entry, every character escaped.
        let bytes = serde_json::to_string(entry).unwrap().len();
        assert!(bytes < 320, "{bytes}");
    }

    #[test]
    fn shadow_mismatch_names_both_decisions() {
        let live = PolicyVerdict {
            allowed: true,
            reason: "granted",
            rule: Some("nodes-delete"),
        };
        let shadow = PolicyVerdict {
            allowed: false,
            reason: "no_rule",
            rule: None,
        };
        let v = json(
            &AuditEvent::policy_shadow_mismatch(live, shadow)
                .with_request("DELETE", "/api/nodes/n1?token=x"),
        );
        assert_eq!(v["event.action"], "policy-shadow-mismatch");
        assert_eq!(v["event.category"], "configuration");
        assert_eq!(v["url.path"], "/api/nodes/n1");
        assert_eq!(
            v["authz.live"],
            serde_json::json!({"decision": "allow", "reason": "granted", "rule": "nodes-delete"})
        );
        assert_eq!(
            v["authz.shadow"],
            serde_json::json!({"decision": "deny", "reason": "no_rule"})
        );
        assert!(json(&AuditEvent::logout("u")).get("authz.live").is_none());
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("ééé", 3), "é");
        assert_eq!(clip("abc", 10), "abc");
    }
}
