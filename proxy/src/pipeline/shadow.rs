//! Shadow mode's record of a disagreement: a request the shadow policy decided otherwise than
//! the live one ([`crate::authz::Authorizer::decide_shadowed`]) is counted
//! (`mimir_proxy_policy_shadow_mismatches_total`), logged and audited (`policy-shadow-mismatch`).
//! Nothing here changes the answer. Used by the gateway (stage 9) and the nginx `auth_request`
//! endpoint alike.

use std::net::IpAddr;

use super::state::{Gateway, RequestCtx};
use crate::admin::metrics::Metrics;
use crate::audit::event::PolicyVerdict;
use crate::audit::{Audit, AuditEvent};
use crate::authn::Principal;
use crate::authz::Decision;
use crate::request::mcp::McpRequest;

/// The request both policies decided.
pub struct Decided<'a> {
    pub request_id: &'a str,
    pub client_ip: Option<IpAddr>,
    pub method: &'a str,
    /// The normalized path.
    pub path: &'a str,
    pub mcp: Option<&'a McpRequest>,
    /// With the live policy's roles.
    pub principal: &'a Principal,
}

/// `live` is the decision enforced; `shadow` the shadow policy's, which disagrees.
pub async fn record_mismatch(
    metrics: &Metrics,
    audit: &Audit,
    request: &Decided<'_>,
    live: &Decision,
    shadow: &Decision,
) {
    let principal = request.principal;
    metrics.policy_shadow_mismatch(live.allowed);
    tracing::info!(
        request_id = %request.request_id,
        user = %principal.user_id,
        "shadow policy disagrees: live {}; shadow {}",
        live.summary(),
        shadow.summary()
    );
    let mut record = AuditEvent::policy_shadow_mismatch(verdict(live), verdict(shadow))
        .with_request(request.method, request.path)
        .with_request_id(request.request_id)
        .with_source(request.client_ip, None)
        .with_user(Some(&principal.user_id), &principal.roles)
        .with_auth_method(principal.method.as_str());
    if let Some(mcp) = request.mcp {
        record = record.with_mcp_request(mcp);
    }
    if audit.record(record).await.is_err() {
        tracing::error!(request_id = %request.request_id, "audit log unavailable: shadow mismatch not recorded");
    }
}

impl Gateway {
    pub(crate) async fn shadow_mismatch(
        &self,
        ctx: &RequestCtx,
        principal: &Principal,
        method: &str,
        live: &Decision,
        shadow: &Decision,
    ) {
        let request = Decided {
            request_id: &ctx.request_id,
            client_ip: ctx.client_ip,
            method,
            path: &ctx.path,
            mcp: ctx.mcp.as_ref(),
            principal,
        };
        record_mismatch(&self.metrics, &self.audit, &request, live, shadow).await;
    }
}

fn verdict(decision: &Decision) -> PolicyVerdict<'_> {
    PolicyVerdict {
        allowed: decision.allowed,
        reason: decision.reason.as_str(),
        rule: decision.rule.as_ref().map(|r| &*r.name),
    }
}
