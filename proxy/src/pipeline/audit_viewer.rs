//! The audit viewer (`/admin/audit`), served after authorization let the caller through.

use pingora::prelude::*;
use std::path::Path;

use super::state::{Gateway, RequestCtx};
use crate::audit::viewer;
use crate::reply::errors::Reject;

impl Gateway {
    /// The audit viewer (`/admin/audit`), after authentication and authorization let the
    /// caller through (route rule `audit-viewer`). `Ok(true)` when it answered.
    pub(crate) async fn serve_viewer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<bool> {
        if !viewer::handles(&ctx.path) {
            return Ok(false);
        }
        if ctx.principal.is_none() {
            // Development passthrough has no caller to check: the viewer is never public.
            let reject = Reject::new(404, "the audit viewer needs authentication");
            self.send_error(session, ctx, reject).await?;
            return Ok(true);
        }
        let req = session.req_header();
        let file = self.audit.file_path().map(Path::to_owned);
        let query = req.uri.query();
        let reply = viewer::serve(file, &req.method, &ctx.path, query, &ctx.request_id).await;
        self.send_reply(session, ctx, reply).await?;
        Ok(true)
    }
}
