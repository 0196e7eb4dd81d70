//! Steps every password login takes, whichever endpoint it comes through (`/auth/login`,
//! `/auth/token`, the `/login` form): reading the small body, and the password check within the
//! bound of [`super::password_checks`], or its 503 when every check is taken.

use pingora::proxy::Session;
use std::sync::Arc;

use super::password_checks::Busy;
use super::Authenticator;
use crate::reply::Reply;

/// Login bodies are tiny; anything larger is refused unread.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// `Retry-After` of a login refused because every password check is taken: one check takes a
/// fraction of a second.
const BUSY_RETRY_SECONDS: &str = "1";
pub const BUSY_MESSAGE: &str = "too many logins in progress; retry shortly";

/// 503 with `Retry-After`: every password check is taken (nothing was checked).
pub fn busy(request_id: &str) -> Reply {
    let reply = Reply::error(503, "service_unavailable", BUSY_MESSAGE, request_id);
    retry_shortly(reply)
}

pub fn retry_shortly(mut reply: Reply) -> Reply {
    reply
        .headers
        .push(("retry-after", BUSY_RETRY_SECONDS.into()));
    reply
}

/// A dev user's (id, username, roles), checked off the async threads (Argon2 is deliberately
/// slow and memory-hard) within the bound of [`super::password_checks`].
pub async fn check_password(
    auth: &Arc<Authenticator>,
    username: String,
    password: String,
) -> Result<Option<(String, String, Vec<String>)>, Busy> {
    let checker = auth.clone();
    auth.password_checks
        .run(move || {
            checker
                .dev_users
                .check(&username, &password)
                .map(|u| (u.id.clone(), u.username.clone(), u.roles.clone()))
        })
        .await
}

/// The whole (small) request body.
pub async fn read_body(session: &mut Session) -> Result<Vec<u8>, &'static str> {
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err("request body too large");
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(_) => return Err("could not read the request body"),
        }
    }
}
