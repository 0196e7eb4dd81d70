//! Shadow mode: a candidate policy (`[authz.shadow]`) decides every request beside the live one.
//! Only the live decision is enforced; the gateway counts and audits each request the two decide
//! differently (docs/policy-workflow.md).
//!
//! The shadow applies its own group mappings, default role and scopes to the principal as it was
//! authenticated, so a change to `rbac.json` shows up as well as one to the rules. It reloads like
//! the live policy ([`super::reload`]); one that fails to load leaves the previous shadow (or
//! none) in place and never touches the live policy.
//!
//! The body of `POST /mcp` is collected only when the live policy's rule asks for it: a shadow
//! rule that adds `mcp = true` to a route decides it without the body (`mcp_body_required`).

use super::decision::Decision;
use super::policy::Policy;
use super::Authorizer;
use crate::authn::Principal;
use crate::request::mcp::McpRequest;

impl Authorizer {
    /// Whether a shadow policy is in force (the gateway then keeps the authenticated principal
    /// for it).
    pub fn has_shadow(&self) -> bool {
        self.shadow.load().is_some()
    }

    pub fn replace_shadow(&self, policy: Policy) {
        self.shadow.store(Some(policy.into()));
    }

    /// The shadow policy's decision on the request when it allows what `live` refuses or the
    /// other way round; `None` when they agree or there is no shadow. `presented` is the
    /// principal before [`Authorizer::grant`].
    pub fn shadow_disagrees(
        &self,
        presented: &Principal,
        method: &str,
        path: &str,
        mcp: Option<&McpRequest>,
        live: &Decision,
    ) -> Option<Decision> {
        let guard = self.shadow.load();
        let shadow = guard.as_deref()?;
        let roles = shadow.granted_roles(presented);
        let decision = shadow.decide(&roles, method, path, mcp);
        (decision.allowed != live.allowed).then_some(decision)
    }
}
