//! Stages 7 and 10 on the request: the slots and rates before authentication, the caller's
//! rates after it, and the answer to a refusal ([`super::limits`] decides).

use pingora::prelude::*;
use std::net::IpAddr;

use super::limits::{self, Refusal};
use super::state::{client_ip, Gateway, RequestCtx};
use crate::admin::metrics::Denial;
use crate::reply::errors::Reject;
use crate::traffic::Allowance;

impl Gateway {
    /// Stage 7, before authentication. `Ok(true)` when a response was sent (403, 503, 429,
    /// 413).
    pub(crate) async fn limit_client(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<bool> {
        let ip = client_ip(ctx)?;
        ctx.group = self.traffic.group(&ctx.path);
        let decision = match self.traffic.admit(ip) {
            Ok(admission) => {
                ctx.admission = Some(admission);
                self.traffic.before_auth(ip, ctx.group).await
            }
            Err(refusal) => Err(refusal),
        };
        if self.apply_traffic(session, ctx, ip, decision).await? {
            return Ok(true);
        }
        ctx.max_body = self
            .traffic
            .max_body_bytes(ctx.group, self.limits.max_body_bytes);
        if limits::declared_length(session.req_header()).is_some_and(|n| n > ctx.max_body) {
            let reject = Reject::new(413, "request body too large");
            self.send_error(session, ctx, reject).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Stage 10, once the caller and the tools are known (or, for the proxy's own endpoints,
    /// with the client IP as the caller). `Ok(true)` when a response was sent.
    pub(crate) async fn limit_caller(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<bool> {
        let ip = client_ip(ctx)?;
        let principal = ctx.principal.as_ref();
        let decision = self
            .traffic
            .after_auth(
                ip,
                principal.map(|p| p.user_id.as_str()),
                principal.and_then(|p| p.key_id.as_deref()),
                ctx.group,
                ctx.mcp.as_ref(),
            )
            .await;
        self.apply_traffic(session, ctx, ip, decision).await
    }

    /// Keeps the tightest allowance, or answers the refusal and records why.
    pub(crate) async fn apply_traffic(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        ip: IpAddr,
        decision: std::result::Result<Option<Allowance>, Refusal>,
    ) -> Result<bool> {
        let refusal = match decision {
            Ok(allowance) => {
                ctx.allowance = limits::tighter(ctx.allowance.take(), allowance);
                return Ok(false);
            }
            Err(refusal) => refusal,
        };
        self.metrics.denied(match refusal {
            Refusal::Ip(_) => Denial::Ip,
            _ => Denial::RateLimit,
        });
        let user = ctx.principal.as_ref().map(|p| p.user_id.as_str());
        tracing::info!(request_id = %ctx.request_id, client_ip = %ip, "refused: {refusal:?}");
        if self
            .audit
            .record(refusal.audit_event(ip, user))
            .await
            .is_err()
        {
            tracing::error!(request_id = %ctx.request_id, "audit log unavailable: refusal not recorded");
        }
        let (resp, body) = refusal.response(&ctx.request_id)?;
        self.write_generated(session, ctx, resp, body).await?;
        Ok(true)
    }
}
