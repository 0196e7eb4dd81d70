//! How a request that failed authentication is answered. Shared by the gateway and the nginx
//! `auth_request` endpoint ([`crate::authverify`]) so that both refuse alike.

use crate::authn::AuthFailure;
use crate::authz::response::wants_login_page;

/// The login page; an anonymous navigation to it is never sent to itself.
pub const LOGIN_PATH: &str = "/login";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// An anonymous browser navigation: send it to the login page.
    Login,
    /// 401 with a `WWW-Authenticate` challenge; `presented` adds `error="invalid_token"`.
    Challenge {
        presented: bool,
        message: &'static str,
    },
    /// Ambiguous credentials: 400 with this message.
    Malformed(&'static str),
    /// A session request failing the CSRF checks: 403 with this message.
    CrossSite(&'static str),
}

/// The answer to `failure` for a `method` request to the normalized `path` whose `Accept`
/// header is `accept`.
pub fn answer(
    failure: &AuthFailure,
    method: &str,
    path: &str,
    accept: Option<&str>,
    request_id: &str,
) -> Answer {
    match failure {
        AuthFailure::Missing if path != LOGIN_PATH && wants_login_page(method, accept) => {
            Answer::Login
        }
        AuthFailure::Missing => Answer::Challenge {
            presented: false,
            message: "authentication required",
        },
        AuthFailure::Invalid(reason) => {
            // The reason is for the log only: it may tell a guesser what was wrong.
            tracing::info!(request_id = %request_id, reason = %reason, "credential refused");
            Answer::Challenge {
                presented: true,
                message: "invalid or expired credential",
            }
        }
        AuthFailure::Malformed(why) => Answer::Malformed(why),
        AuthFailure::CrossSite(why) => Answer::CrossSite(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_go_to_the_login_page_except_from_it() {
        let html = Some("text/html");
        let missing = AuthFailure::Missing;
        assert_eq!(answer(&missing, "GET", "/x", html, "r"), Answer::Login);
        assert!(matches!(
            answer(&missing, "GET", LOGIN_PATH, html, "r"),
            Answer::Challenge {
                presented: false,
                ..
            }
        ));
        assert!(matches!(
            answer(&missing, "POST", "/x", html, "r"),
            Answer::Challenge { .. }
        ));
        let invalid = AuthFailure::Invalid("expired".into());
        assert!(matches!(
            answer(&invalid, "GET", "/x", html, "r"),
            Answer::Challenge {
                presented: true,
                ..
            }
        ));
        assert_eq!(
            answer(&AuthFailure::Malformed("two"), "GET", "/x", None, "r"),
            Answer::Malformed("two")
        );
        assert_eq!(
            answer(&AuthFailure::CrossSite("csrf"), "POST", "/x", html, "r"),
            Answer::CrossSite("csrf")
        );
    }
}
