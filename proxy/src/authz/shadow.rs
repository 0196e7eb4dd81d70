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

    /// The shadow policy's decision on the request ([`Policy::verdict`]: allowed or not, the
    /// reason and the rule) when it allows what `live` refuses or the other way round; `None`
    /// when they agree or there is no shadow. `presented` is the principal before
    /// [`Authorizer::grant`].
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
        let verdict = shadow.verdict(presented, method, path, mcp);
        (verdict.allowed != live.allowed).then_some(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::AuthMethod;
    use crate::authz::{rbac, routes};
    use std::path::Path;

    const ROUTES: &str = "[[rule]]\nname = \"read\"\nmethods = [\"GET\"]\npath = \"/api/**\"\nall_of = [\"nodes:read\"]\n";

    fn policy(rbac: &str) -> Policy {
        let rbac = rbac::parse(&rbac::RbacOrigin::Inline, rbac).unwrap();
        let routes = routes::parse(Path::new("r.toml"), ROUTES).unwrap();
        Policy::compile(&rbac, &routes).unwrap()
    }

    fn presenting(roles: &[&str]) -> Principal {
        Principal {
            user_id: "u".into(),
            qualified_id: "t|u".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            method: AuthMethod::Jwt,
            issuer: None,
            key_id: None,
            expires_at: None,
            issued_at: None,
            refresh_cookie: None,
            client: None,
        }
    }

    #[test]
    fn the_shadow_grants_its_own_roles_and_reports_only_disagreements() {
        let live = r#"{"version":"1","claimPath":"roles","roleMappings":{"reader":{"permissions":["nodes:read"]}}}"#;
        // The candidate maps the IdP group `eng` to the reader role.
        let candidate = r#"{"version":"2","claimPath":"roles","roleMappings":{"reader":{"permissions":["nodes:read"]}},"groupMappings":{"eng":["reader"]}}"#;
        let authz = Authorizer::new(policy(live));
        let eng = presenting(&["eng"]);
        let granted = authz.grant(eng.clone().into());
        let decision = authz.decide(&granted.roles, "GET", "/api/x", None);
        assert!(!decision.allowed);
        assert!(!authz.has_shadow());
        assert!(authz
            .shadow_disagrees(&eng, "GET", "/api/x", None, &decision)
            .is_none());

        authz.replace_shadow(policy(candidate));
        assert!(authz.has_shadow());
        let shadow = authz
            .shadow_disagrees(&eng, "GET", "/api/x", None, &decision)
            .unwrap();
        assert!(shadow.allowed);
        assert_eq!(shadow.rule.unwrap().name.as_ref(), "read");
        let reader = presenting(&["reader"]);
        let live = authz.decide(&reader.roles, "GET", "/api/x", None);
        assert!(authz
            .shadow_disagrees(&reader, "GET", "/api/x", None, &live)
            .is_none());
    }
}
