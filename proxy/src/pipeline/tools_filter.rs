//! Collecting the core's answer to a `tools/list` call so that the authorizer can remove the
//! tools the caller may not call. Only a plain JSON answer can be filtered; anything else is a
//! 502 rather than an unfiltered list.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;

use super::state::{Gateway, RequestCtx};

/// Largest answer buffered; the core's full tool list is a few kilobytes.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Checks the answer can be filtered and drops its length, which filtering changes (HTTP/1 is
/// sent chunked; HTTP/2 frames the body itself).
pub fn prepare(resp: &mut ResponseHeader, http2: bool) -> Result<()> {
    let header = |name| resp.headers.get(name).and_then(|v| v.to_str().ok());
    let json = header(http::header::CONTENT_TYPE).is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    let encoded = header(http::header::CONTENT_ENCODING)
        .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
    if !json || encoded {
        return Error::e_explain(
            HTTPStatus(502),
            "the MCP tools/list answer is not plain JSON and cannot be filtered",
        );
    }
    resp.remove_header(&http::header::CONTENT_LENGTH);
    if !http2 {
        resp.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
    }
    Ok(())
}

/// Appends one chunk of the answer (nothing is forwarded until the whole answer is filtered).
pub fn collect(collected: &mut Vec<u8>, chunk: Option<Bytes>) -> Result<()> {
    if let Some(chunk) = chunk {
        if collected.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Error::e_explain(HTTPStatus(502), "the MCP tools/list answer is too large");
        }
        collected.extend_from_slice(&chunk);
    }
    Ok(())
}

impl Gateway {
    /// Collects the core's answer to a `tools/list` and, at its end, sends it on reduced to the
    /// tools the caller may call.
    pub(crate) fn filter_tools_answer(
        &self,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(collected) = ctx.tools_answer.as_mut() else {
            return Ok(());
        };
        collect(collected, body.take())?;
        if end_of_stream {
            let (Some(authz), Some(principal), Some(request)) =
                (&self.authz, &ctx.principal, &ctx.mcp)
            else {
                return Error::e_explain(InternalError, "tools/list answer without a request");
            };
            let filtered = authz
                .filter_tools_list(&principal.roles, request, collected)
                .or_else(|e| Error::e_explain(HTTPStatus(502), e.to_string()))?;
            *body = Some(Bytes::from(filtered));
        }
        Ok(())
    }
}
