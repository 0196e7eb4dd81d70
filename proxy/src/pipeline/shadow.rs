//! Shadow mode in the gateway (stage 9): the shadow policy decides the request the live policy
//! has just decided; a disagreement is counted (`mimir_proxy_policy_shadow_mismatches_total`),
//! logged and audited (`policy-shadow-mismatch`). Nothing here changes the answer.

use super::state::{Gateway, RequestCtx};
use crate::audit::event::PolicyVerdict;
use crate::audit::AuditEvent;
use crate::authn::Principal;
use crate::authz::Decision;

impl Gateway {
    /// `principal` holds the live policy's roles; `live` is its decision, the one enforced.
    pub(crate) async fn shadow_decide(
        &self,
        ctx: &RequestCtx,
        principal: &Principal,
        method: &str,
        live: &Decision,
    ) {
        let (Some(authz), Some(presented)) = (&self.authz, &ctx.presented) else {
            return;
        };
        let mcp = ctx.mcp.as_ref();
        let Some(shadow) = authz.shadow_disagrees(presented, method, &ctx.path, mcp, live) else {
            return;
        };
        self.metrics.policy_shadow_mismatch(live.allowed);
        tracing::info!(
            request_id = %ctx.request_id,
            user = %principal.user_id,
            "shadow policy disagrees: live {}; shadow {}",
            live.summary(),
            shadow.summary()
        );
        let mut record = AuditEvent::policy_shadow_mismatch(verdict(live), verdict(&shadow))
            .with_request(method, &ctx.path)
            .with_request_id(&ctx.request_id)
            .with_source(ctx.client_ip, None)
            .with_user(Some(&principal.user_id), &principal.roles)
            .with_auth_method(principal.method.as_str());
        if let Some(mcp) = mcp {
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
