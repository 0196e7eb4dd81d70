//! Authorization: RBAC (upstream Mimir's `rbac.json`), route rules on the normalized path, and
//! MCP-aware rules for `POST /mcp` bodies. See docs/authorization.md.
//!
//! How the gateway uses it, per request, after path normalization and authentication:
//! 1. the caller's effective roles, once, right after authentication: [`Authorizer::grant`]
//!    replaces the role or IdP group names the principal presented (its token's claims, read at
//!    the RBAC document's `claimPath` with [`Authorizer::roles_for_claims`]) by the roles
//!    `groupMappings`, `strictGroupMappings` and the default role give it; every later stage,
//!    the identity injected towards the core included, sees only these;
//! 2. if [`Authorizer::needs_mcp_body`], buffer the body and [`Authorizer::parse_mcp`] it
//!    (a parse error is the client's 400/413);
//! 3. [`Authorizer::decide`]; a denial is answered with [`response::forbidden`];
//! 4. if the MCP request [`McpRequest::lists_tools`], pass the core's JSON answer through
//!    [`Authorizer::filter_tools_list`] (an error there is a 502).
//!
//! With a shadow policy ([`shadow`]), step 3 is [`Authorizer::decide_shadowed`].
//!
//! Uses `authn` (the principal and its claims), `request` (targets, route patterns, MCP bodies)
//! and `settings`; never `config`: `config` gathers `[authz]` from here.

pub mod config;
pub mod decision;
pub mod diff;
pub mod explain;
pub mod loader;
pub mod permission;
pub mod policy;
pub mod rbac;
pub mod reload;
pub mod response;
pub mod routes;
pub mod shadow;
pub mod source;
pub mod step_up;
pub mod tools_list;

pub use decision::{Decision, Reason};
pub use policy::Policy;
pub use tools_list::FilterError;

use crate::authn::Principal;
use crate::request::mcp::{self, McpParseError, McpRequest};
use arc_swap::{ArcSwap, ArcSwapOption, Guard};
use std::sync::Arc;

/// The current policy, replaced atomically on reload; decisions never wait for a reload.
pub struct Authorizer {
    policy: ArcSwap<Policy>,
    /// The candidate of shadow mode ([`shadow`]), when one is configured and has loaded.
    shadow: ArcSwapOption<shadow::Shadow>,
}

impl Authorizer {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy: ArcSwap::from_pointee(policy),
            shadow: ArcSwapOption::empty(),
        }
    }

    /// The policy in force now (one consistent snapshot for several calls).
    pub fn policy(&self) -> Guard<Arc<Policy>> {
        self.policy.load()
    }

    pub fn replace(&self, policy: Policy) {
        self.policy.store(Arc::new(policy));
        self.pair_shadow();
    }

    pub fn needs_mcp_body(&self, method: &str, path: &str) -> bool {
        self.policy().needs_mcp_body(method, path)
    }

    /// See [`Policy::grant`].
    pub fn grant(&self, principal: Arc<Principal>) -> Arc<Principal> {
        self.policy().grant(principal)
    }

    pub fn roles_for_claims(&self, claims: &serde_json::Value) -> Vec<String> {
        self.policy().roles_for_claims(claims)
    }

    /// Parses a `POST /mcp` body within the policy's size and batch limits.
    pub fn parse_mcp(&self, body: &[u8]) -> Result<McpRequest, McpParseError> {
        let (max_bytes, max_batch) = self.policy().mcp_limits();
        mcp::parse(body, max_bytes, max_batch)
    }

    /// See [`Policy::decide`]: `roles` are effective roles ([`Authorizer::grant`]); `path` is
    /// the normalized path without the query.
    pub fn decide(
        &self,
        roles: &[String],
        method: &str,
        path: &str,
        mcp: Option<&McpRequest>,
    ) -> Decision {
        self.policy().decide(roles, method, path, mcp)
    }

    /// See [`step_up::needed_scope`].
    pub fn step_up_scope(
        &self,
        principal: &Principal,
        method: &str,
        path: &str,
        mcp: Option<&McpRequest>,
    ) -> Option<String> {
        step_up::needed_scope(&self.policy(), principal, method, path, mcp)
    }

    /// The core's answer to `request` with every `tools/list` result reduced to the tools the
    /// caller may call.
    pub fn filter_tools_list(
        &self,
        roles: &[String],
        request: &McpRequest,
        body: &[u8],
    ) -> Result<Vec<u8>, FilterError> {
        let policy = self.policy();
        tools_list::filter_tools_list(request, body, |tool| policy.may_call_tool(roles, tool))
    }
}
