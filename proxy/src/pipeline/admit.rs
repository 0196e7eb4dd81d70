//! Stages 1 to 6 on the request head: request id, client address, header hygiene, framing and
//! size limits, `Host`, path normalization and the forwarding headers. A refusal is the status to
//! answer; nothing is forwarded then.

use http::header::HOST;
use http::Uri;
use pingora::prelude::*;
use std::time::Duration;

use super::framing;
use super::identity;
use super::request_id;
use super::state::{Gateway, RequestCtx};
use crate::admin::metrics::{self};
use crate::reply::errors::Reject;
use crate::request::forwarded;
use crate::request::normalize;

/// Longest path kept in the access log of a rejected request.
const LOGGED_PATH_MAX: usize = 256;

impl Gateway {
    /// Stages 1-6 on the request header. `Err` means answer with that status, forward nothing.
    pub(crate) fn admit(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<(), Reject> {
        let req = session.req_header();
        ctx.request_id = request_id::accept_or_generate(
            req.headers.get_all(crate::reply::REQUEST_ID_HEADER).iter(),
        );
        let raw_path = req.raw_path();
        let raw_path = &raw_path[..raw_path.len().min(LOGGED_PATH_MAX)];
        ctx.path = String::from_utf8_lossy(raw_path)
            .split('?')
            .next()
            .unwrap_or("")
            .to_owned();

        // The incoming X-Forwarded-For is read (trusted peers only) before hygiene removes it.
        let peer_ip = session
            .client_addr()
            .and_then(|addr| addr.as_inet())
            .map(|addr| addr.ip())
            .ok_or_else(|| Reject::new(500, "client address unavailable"))?;
        let client = forwarded::client_chain(
            peer_ip,
            req.headers.get_all("x-forwarded-for").iter(),
            &self.trusted_proxies,
        );
        ctx.client_ip = Some(client.client_ip);

        identity::strip_client_headers(session.req_header_mut(), &self.identity_header);

        let req = session.req_header();
        if let Some(h1) = session.as_downstream().as_http1() {
            framing::check_h1_framing(req, &h1.get_headers_raw_bytes())?;
        }
        framing::check_limits(req, &self.limits)?;

        let host = forwarded::validated_host(req).map_err(Reject::bad_request)?;
        ctx.host = host.clone();

        // One normalization; the upstream gets exactly the target the checks saw.
        let target = normalize::normalize_target(req.raw_path(), &self.path_options)
            .map_err(|e| Reject::bad_request(e.to_string()))?;
        let path = target.split('?').next().unwrap_or_default();
        ctx.route = metrics::route_group(path);
        // Into the raw path's buffer: no second allocation.
        ctx.path.clear();
        ctx.path.push_str(path);
        let uri =
            Uri::try_from(target).map_err(|_| Reject::bad_request("invalid request target"))?;

        let req = session.req_header_mut();
        req.set_uri(uri);
        // HTTP/2 carried the authority in the URI just replaced; HTTP/1 gets the checked value
        // (usually the one it sent: a header set costs a parse and two map inserts).
        let internal = |_| Reject::new(500, "internal error");
        if req.headers.get(HOST).map(|v| v.as_bytes()) != Some(host.as_bytes()) {
            req.insert_header(HOST, host.as_str()).map_err(internal)?;
        }
        identity::set_forwarding_headers(req, &client, &host, &ctx.request_id).map_err(internal)?;

        // Slow request bodies: each read must make progress within the body timeout.
        session.set_read_timeout(Some(Duration::from_secs(
            self.limits.client_body_timeout_seconds,
        )));
        Ok(())
    }
}
