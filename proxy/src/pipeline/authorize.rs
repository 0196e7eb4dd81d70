//! Stage 9: the caller's effective roles against the route rules, and for `POST /mcp` against
//! every message of the body, collected whole first ([`super::mcp_body`]).

use bytes::Bytes;
use pingora::prelude::*;

use super::mcp_body;
use super::mcp_body::{Collector, Step};
use super::state::{Gateway, RequestCtx};
use crate::admin::metrics::Denial;
use crate::authn::challenge;
use crate::authz::config::DeniedToolCalls;
use crate::authz::{response as authz_response, Authorizer};
use crate::request::mcp::McpParseError;

impl Gateway {
    /// Stage 9, for an authenticated caller. `Ok(true)` when a response was sent (403, or the
    /// 413 of an MCP body declared too large). A request whose MCP body must be checked is
    /// decided once the body is in ([`Self::check_mcp_body`]).
    pub(crate) async fn authorize(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<bool> {
        let Some(authz) = &self.authz else {
            return Ok(false);
        };
        if ctx.principal.is_none() {
            return Ok(false);
        }
        let method = session.req_header().method.as_str().to_owned();
        if !authz.needs_mcp_body(&method, &ctx.path) {
            return self.decide(session, ctx, authz).await;
        }
        let (max_bytes, _) = authz.policy().mcp_limits();
        let limit = usize::try_from(ctx.max_body).map_or(max_bytes, |m| m.min(max_bytes));
        let collector = Collector::new(limit);
        if collector.declared_too_large(session.req_header()) {
            self.refuse_mcp_body(session, ctx, &McpParseError::TooLarge { limit })
                .await?;
            return Ok(true);
        }
        ctx.mcp_body = Some(collector);
        Ok(false)
    }

    /// The end of stage 9 and stage 10 for a complete `POST /mcp` body. `Ok(true)` when a
    /// response was sent (400, 403, 429, 503).
    pub(crate) async fn check_mcp_body(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        body: &Bytes,
    ) -> Result<bool> {
        let Some(authz) = &self.authz else {
            return Error::e_explain(InternalError, "MCP body collected without authorization");
        };
        ctx.body_bytes = body.len() as u64;
        match authz.parse_mcp(body) {
            Ok(request) => ctx.mcp = Some(request),
            Err(e) => {
                self.refuse_mcp_body(session, ctx, &e).await?;
                return Ok(true);
            }
        }
        Ok(self.decide(session, ctx, authz).await? || self.limit_caller(session, ctx).await?)
    }

    /// Ends proxying after the body filter sent a refusal; the upstream connection, which
    /// never got the whole body, is dropped.
    pub(crate) fn answered(&self, session: &Session, ctx: &mut RequestCtx) -> Result<()> {
        ctx.answered = true;
        let status = session
            .response_written()
            .map_or(400, |r| r.status.as_u16());
        Error::e_explain(HTTPStatus(status), "refused before the body went upstream")
    }

    pub(crate) async fn refuse_mcp_body(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        error: &McpParseError,
    ) -> Result<()> {
        let (resp, body) = mcp_body::parse_error(error, &ctx.request_id)?;
        self.write_generated(session, ctx, resp, body).await
    }

    /// The principal's roles against the route rules (and the parsed MCP request, if any).
    /// `Ok(true)` when the 403 was sent.
    pub(crate) async fn decide(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        authz: &Authorizer,
    ) -> Result<bool> {
        let Some(principal) = ctx.principal.clone() else {
            return Ok(false);
        };
        let method = session.req_header().method.as_str();
        let (roles, presented) = (&principal.roles, ctx.presented.as_deref());
        let (decision, shadow) =
            authz.decide_shadowed(roles, presented, method, &ctx.path, ctx.mcp.as_ref());
        if let Some(shadow) = shadow {
            self.shadow_mismatch(ctx, &principal, method, &decision, &shadow)
                .await;
        }
        if decision.allowed {
            return Ok(false);
        }
        self.metrics.denied(Denial::Authz);
        tracing::info!(
            request_id = %ctx.request_id,
            user = %principal.user_id,
            "{decision}"
        );
        let step_up = authz.step_up_scope(&principal, method, &ctx.path, ctx.mcp.as_ref());
        let (resp, body) = match (step_up, &self.auth) {
            (Some(scope), Some(auth)) => {
                let resource = challenge::resource(&auth.config.resource, &ctx.host);
                let metadata = challenge::metadata_url(&resource);
                authz_response::insufficient_scope(&decision, &scope, &metadata, &ctx.request_id)?
            }
            _ => match self.denied_call_id(ctx) {
                Some(id) => authz_response::jsonrpc_denied(&decision, id)?,
                None => authz_response::forbidden(&decision, &ctx.request_id)?,
            },
        };
        self.write_generated(session, ctx, resp, body).await?;
        Ok(true)
    }
}

impl Gateway {
    /// The id of the refused call when it is answered in JSON-RPC: one `tools/call` message
    /// (not a batch) with an id, and `[authz] denied_tool_calls = "jsonrpc"`.
    fn denied_call_id<'a>(&self, ctx: &'a RequestCtx) -> Option<&'a serde_json::Value> {
        if self.denied_tool_calls != DeniedToolCalls::JsonRpc {
            return None;
        }
        let request = ctx.mcp.as_ref().filter(|r| !r.batch)?;
        let [message] = request.messages.as_slice() else {
            return None;
        };
        message.tool().and(message.id.as_ref())
    }
}

impl Gateway {
    /// Collects a `POST /mcp` body whole and checks it (stages 9 and 10) before any of it goes
    /// upstream; what leaves is exactly the checked bytes, also when pingora retries.
    pub(crate) async fn collect_mcp_body(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(collector) = ctx.mcp_body.as_mut() else {
            return Ok(());
        };
        // An upstream retry replays the body: send exactly the checked bytes again.
        if let Some(checked) = collector.checked() {
            if body.is_some() {
                *body = Some(checked.clone());
            }
            return Ok(());
        }
        let complete = match collector.push(body.take(), end_of_stream) {
            // An empty chunk forwards nothing (`None` would end the upstream body).
            Step::More => {
                *body = Some(Bytes::new());
                return Ok(());
            }
            Step::TooLarge => {
                let limit = collector.limit();
                self.refuse_mcp_body(session, ctx, &McpParseError::TooLarge { limit })
                    .await?;
                return self.answered(session, ctx);
            }
            Step::Complete(complete) => complete,
        };
        // The core may have refused the request on its header alone: nothing to check.
        if session.response_written().is_some() {
            return self.answered(session, ctx);
        }
        if self.check_mcp_body(session, ctx, &complete).await? {
            return self.answered(session, ctx);
        }
        if let Some(collector) = ctx.mcp_body.as_mut() {
            collector.set_checked(complete.clone());
        }
        *body = Some(complete);
        Ok(())
    }
}
