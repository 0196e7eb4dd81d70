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
use super::policy::{Lookup, Policy};
use super::Authorizer;
use crate::authn::Principal;
use crate::request::mcp::McpRequest;
use std::sync::Arc;

/// The shadow policy, paired with the live policy when both have the same routes (the common
/// case: an RBAC change): the live decision's rule is then the shadow's, and the shadow skips
/// the route lookup.
pub(super) struct Shadow {
    policy: Arc<Policy>,
    twin: Option<Arc<Policy>>,
}

impl Authorizer {
    /// Whether a shadow policy is in force (the gateway then keeps the authenticated principal
    /// for it).
    pub fn has_shadow(&self) -> bool {
        self.shadow.load().is_some()
    }

    pub fn replace_shadow(&self, policy: Policy) {
        self.shadow
            .store(Some(Arc::new(self.paired(Arc::new(policy)))));
    }

    /// Pairs the shadow with a new live policy.
    pub(super) fn pair_shadow(&self) {
        self.shadow.rcu(|shadow| {
            shadow
                .as_ref()
                .map(|s| Arc::new(self.paired(s.policy.clone())))
        });
    }

    fn paired(&self, policy: Arc<Policy>) -> Shadow {
        let live = self.policy.load_full();
        Shadow {
            twin: live.same_routes(&policy).then_some(live),
            policy,
        }
    }

    /// [`Authorizer::decide`], and with a shadow policy and `presented` (the principal before
    /// [`Authorizer::grant`]) the shadow's decision ([`Policy::verdict`]: allowed or not, the
    /// reason and the rule) when it allows what the live decision refuses or the other way
    /// round.
    pub fn decide_shadowed(
        &self,
        roles: &[String],
        presented: Option<&Principal>,
        method: &str,
        path: &str,
        mcp: Option<&McpRequest>,
    ) -> (Decision, Option<Decision>) {
        let live = self.policy();
        let decision = live.decide(roles, method, path, mcp);
        let shadow = presented.and_then(|principal| {
            let guard = self.shadow.load();
            let shadow = guard.as_deref()?;
            let lookup = match &shadow.twin {
                Some(twin) if Arc::ptr_eq(twin, &live) => {
                    Lookup::Known(decision.rule.as_ref().map(|r| r.index))
                }
                _ => Lookup::Table,
            };
            let verdict = shadow.policy.verdict(principal, lookup, method, path, mcp);
            (verdict.allowed != decision.allowed).then_some(verdict)
        });
        (decision, shadow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::AuthMethod;
    use crate::authz::{rbac, routes};
    use std::path::Path;

    const ROUTES: &str = "[[rule]]\nname = \"read\"\nmethods = [\"GET\"]\npath = \"/api/**\"\nall_of = [\"nodes:read\"]\n";

    fn policy(rbac: &str, routes: &str) -> Policy {
        let rbac = rbac::parse(&rbac::RbacOrigin::Inline, rbac).unwrap();
        let routes = routes::parse(Path::new("r.toml"), routes).unwrap();
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
        let authz = Authorizer::new(policy(live, ROUTES));
        let eng = presenting(&["eng"]);
        let roles = authz.grant(eng.clone().into()).roles.clone();
        let decide = |who: &Principal, roles: &[String], path| {
            authz.decide_shadowed(roles, Some(who), "GET", path, None)
        };
        let (decision, shadow) = decide(&eng, &roles, "/api/x");
        assert!(!decision.allowed);
        assert!(!authz.has_shadow() && shadow.is_none());

        // Same routes (the rule comes from the live decision), then other routes (looked up).
        let with_x =
            format!("{ROUTES}\n[[rule]]\nname = \"x\"\npath = \"/x\"\naccess = \"deny\"\n");
        for routes in [ROUTES, &with_x] {
            authz.replace_shadow(policy(candidate, routes));
            assert!(authz.has_shadow());
            let (decision, shadow) = decide(&eng, &roles, "/api/x");
            assert!(!decision.allowed);
            let shadow = shadow.expect("the shadow allows `eng`");
            assert!(shadow.allowed);
            assert_eq!(shadow.rule.unwrap().name.as_ref(), "read");
            let (_, shadow) = decide(&eng, &roles, "/nothing");
            assert!(shadow.is_none(), "both refuse: no rule");
            let reader = presenting(&["reader"]);
            assert!(decide(&reader, &reader.roles, "/api/x").1.is_none());
        }
        // A new live policy with the shadow's routes: the two are paired again.
        authz.replace(policy(live, &with_x));
        let (decision, shadow) = decide(&eng, &roles, "/api/x");
        assert!(!decision.allowed);
        assert_eq!(shadow.unwrap().rule.unwrap().name.as_ref(), "read");
        let (decision, shadow) = decide(&eng, &roles, "/x");
        assert_eq!(decision.reason.as_str(), "rule_denies");
        assert!(shadow.is_none());
    }
}
