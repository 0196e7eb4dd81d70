//! Answers the gateway writes itself: stamped (HSTS, request id), audited first in strict mode,
//! and the connection not reused after them.

use bytes::Bytes;
use http::Method;
use pingora::http::ResponseHeader;
use pingora::prelude::*;

use super::state::{Gateway, RequestCtx};
use crate::reply::errors::{self, Reject};
use crate::reply::Reply;

impl Gateway {
    pub(crate) async fn send_reply(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        reply: Reply,
    ) -> Result<()> {
        let mut resp = ResponseHeader::build(reply.status, Some(6))?;
        resp.insert_header("content-type", reply.content_type)?;
        resp.insert_header("content-length", reply.body.len())?;
        resp.insert_header("cache-control", "no-store")?;
        resp.insert_header("x-content-type-options", "nosniff")?;
        for (name, value) in reply.headers {
            // Appended: a reply may set several cookies.
            resp.append_header(name, value)?;
        }
        self.write_generated(session, ctx, resp, reply.body).await
    }

    pub(crate) fn stamp(&self, resp: &mut ResponseHeader, ctx: &RequestCtx) -> Result<()> {
        errors::stamp(resp, self.hsts.as_ref(), &ctx.request_id)
    }

    pub(crate) async fn send_error(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        reject: Reject,
    ) -> Result<()> {
        let (resp, body) = errors::json_error(reject.status, &reject.message, &ctx.request_id)?;
        self.write_generated(session, ctx, resp, body).await
    }

    /// Strict mode: the record must be durable before the response leaves. `Err` means it is
    /// not, and the response must become a 503.
    pub(crate) async fn audit_before_response(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
        status: u16,
    ) -> std::result::Result<(), ()> {
        if !self.audit.is_strict() || ctx.audited {
            return Ok(());
        }
        ctx.audited = true;
        let event = self.audit_event(session, ctx, status);
        self.audit.record_durable(event).await.map_err(|e| {
            tracing::error!(request_id = %ctx.request_id, "{e}: refusing the request");
        })
    }

    /// Write a response the proxy produced itself (stamped), then close the connection.
    pub(crate) async fn write_generated(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        resp: ResponseHeader,
        body: Bytes,
    ) -> Result<()> {
        let (mut resp, body) = match self
            .audit_before_response(session, ctx, resp.status.as_u16())
            .await
        {
            Ok(()) => (resp, body),
            Err(()) => audit_unavailable(&ctx.request_id)?,
        };
        self.stamp(&mut resp, ctx)?;
        // Unread request bytes may follow: never reuse the connection after an error.
        session.set_keepalive(None);
        let head = session.req_header().method == Method::HEAD;
        session.write_response_header(Box::new(resp), head).await?;
        if !head {
            session.write_response_body(Some(body), true).await?;
        }
        Ok(())
    }
}

/// The 503 that replaces a response whose audit record could not be written (strict mode).
pub(crate) fn audit_unavailable(request_id: &str) -> Result<(ResponseHeader, Bytes)> {
    errors::json_error(503, "the audit log is unavailable", request_id)
}
