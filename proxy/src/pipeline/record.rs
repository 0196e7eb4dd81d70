//! What a finished request leaves behind: metrics, the access log line and its audit record.

use pingora::prelude::*;

use super::state::{Gateway, RequestCtx};
use crate::audit::{AuditEvent, RequestInfo};

impl Gateway {
    /// The request's audit record.
    pub(crate) fn audit_event(
        &self,
        session: &Session,
        ctx: &RequestCtx,
        status: u16,
    ) -> AuditEvent {
        let req = session.req_header();
        let (user_id, roles) = match &ctx.principal {
            Some(p) => (Some(p.user_id.as_str()), p.roles.as_slice()),
            None => (None, &[][..]),
        };
        AuditEvent::request(&RequestInfo {
            method: req.method.as_str(),
            path: &ctx.path,
            status,
            duration: ctx.started.elapsed(),
            request_id: &ctx.request_id,
            source_ip: ctx.client_ip,
            user_agent: req
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
            user_id,
            roles,
            mcp: ctx.mcp.as_ref(),
        })
    }

    /// Metrics, the access log and (unless strict mode wrote it already) the audit record of a
    /// finished request.
    pub(crate) async fn record(&self, session: &Session, ctx: &RequestCtx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.started.elapsed();
        self.metrics.observe_request(ctx.route, status, elapsed);
        let user = ctx.principal.as_ref().map(|p| p.user_id.as_str());
        self.metrics
            .observe_caller(ctx.route, user, ctx.response_bytes);
        // Never headers or query strings: they may carry credentials.
        tracing::info!(
            target: "mimir_proxy::access",
            method = %session.req_header().method,
            path = ?ctx.path,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            request_id = %ctx.request_id,
            client_ip = %ctx.client_ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
            user = ctx.principal.as_ref().map_or("-", |p| p.user_id.as_str()),
            auth = ctx.principal.as_ref().map_or("-", |p| p.method.as_str()),
            key_id = ctx.principal.as_ref().and_then(|p| p.key_id.as_deref()).unwrap_or("-"),
            "request"
        );
        // Building the record costs allocations on every request: only when it is kept.
        if !ctx.audited
            && self.audit.is_enabled()
            && self
                .audit
                .record(self.audit_event(session, ctx, status))
                .await
                .is_err()
        {
            tracing::error!(request_id = %ctx.request_id, "audit log unavailable: request not recorded");
        }
    }
}
