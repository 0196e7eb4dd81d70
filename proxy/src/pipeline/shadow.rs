//! Shadow mode in the gateway (stage 9): a request the shadow policy decided otherwise than the
//! live one ([`crate::authz::Authorizer::decide_shadowed`]) is counted
//! (`mimir_proxy_policy_shadow_mismatches_total`), logged and audited (`policy-shadow-mismatch`).
//! Nothing here changes the answer.

use super::state::{Gateway, RequestCtx};
use crate::audit::event::PolicyVerdict;
use crate::audit::AuditEvent;
use crate::authn::Principal;
use crate::authz::Decision;

impl Gateway {
    /// `principal` holds the live policy's roles; `live` is its decision, the one enforced;
    /// `shadow` the shadow policy's, which disagrees.
    pub(crate) async fn shadow_mismatch(
        &self,
        ctx: &RequestCtx,
        principal: &Principal,
        method: &str,
        live: &Decision,
        shadow: &Decision,
    ) {
        self.metrics.policy_shadow_mismatch(live.allowed);
        tracing::info!(
            request_id = %ctx.request_id,
            user = %principal.user_id,
            "shadow policy disagrees: live {}; shadow {}",
            live.summary(),
            shadow.summary()
        );
        let mut record = AuditEvent::policy_shadow_mismatch(verdict(live), verdict(shadow))
            .with_request(method, &ctx.path)
            .with_request_id(&ctx.request_id)
            .with_source(ctx.client_ip, None)
            .with_user(Some(&principal.user_id), &principal.roles)
            .with_auth_method(principal.method.as_str());
        if let Some(mcp) = &ctx.mcp {
            record = record.with_mcp_request(mcp);
        }
        if self.audit.record(record).await.is_err() {
            tracing::error!(request_id = %ctx.request_id, "audit log unavailable: shadow mismatch not recorded");
        }
    }
}

fn verdict(decision: &Decision) -> PolicyVerdict<'_> {
    PolicyVerdict {
        allowed: decision.allowed,
        reason: decision.reason.as_str(),
        rule: decision.rule.as_ref().map(|r| &*r.name),
    }
}
