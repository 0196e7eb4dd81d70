//! Endpoints the proxy answers itself: protected-resource metadata, `/auth/config`,
//! `/auth/login` and `/auth/token` (upstream Mimir's names and bodies, answered with the
//! proxy's own short-lived tokens; `/auth/token`'s password grant only with
//! `auth.password_grant`).

use http::Method;
use pingora::proxy::Session;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

use super::login_steps::{busy, check_password, read_body, retry_shortly, BUSY_MESSAGE};
use super::routes::Endpoint;
use super::trail::{Attempt, AuthTrail};
use super::{challenge, now, Authenticator};
use crate::reply::Reply;
use crate::traffic::bruteforce::{Blocked, Credential};

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    grant_type: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    scope: Option<String>,
}

/// `trail` records the logins of `/auth/login` and `/auth/token` (audit, metrics) and refuses
/// them while the client is blocked for too many failures.
pub async fn serve(
    auth: &Arc<Authenticator>,
    endpoint: Endpoint,
    session: &mut Session,
    host: &str,
    request_id: &str,
    trail: &AuthTrail,
    attempt: &Attempt,
) -> Reply {
    let method = session.req_header().method.clone();
    match endpoint {
        Endpoint::ResourceMetadata | Endpoint::AuthConfig
            if method != Method::GET && method != Method::HEAD =>
        {
            Reply::method_not_allowed("GET, HEAD", request_id)
        }
        Endpoint::ResourceMetadata => {
            let resource = challenge::resource(&auth.config.resource, host);
            Reply::json(
                200,
                challenge::metadata(&resource, &auth.authorization_servers(host)),
            )
        }
        Endpoint::AuthConfig => Reply::json(
            200,
            json!({
                "devLoginEnabled": !auth.dev_users.is_empty(),
                "oauthProviders": auth.providers.iter().map(|p| json!({
                    "id": p.config.id,
                    "name": p.config.label(),
                    "loginUrl": format!("/auth/oauth/login?provider={}", p.config.id),
                })).collect::<Vec<_>>(),
            }),
        ),
        Endpoint::LoginPage | Endpoint::OidcStart | Endpoint::OidcCallback | Endpoint::Logout => {
            browser(auth, endpoint, session, host, trail, attempt).await
        }
        Endpoint::Login | Endpoint::Token if method != Method::POST => {
            Reply::method_not_allowed("POST", request_id)
        }
        Endpoint::Login | Endpoint::Token if auth.dev_users.is_empty() => Reply::error(
            404,
            "not_found",
            "password login is not enabled",
            request_id,
        ),
        Endpoint::Login => match read_form(session).await {
            Err(message) => Reply::error(400, "bad_request", message, request_id),
            Ok(form) => login(auth, form, request_id, trail, attempt).await,
        },
        Endpoint::Token => match read_form(session).await {
            Err(message) => oauth_error(400, "invalid_request", message),
            Ok(form) => token(auth, form, trail, attempt).await,
        },
    }
}

async fn login(
    auth: &Arc<Authenticator>,
    form: LoginForm,
    request_id: &str,
    trail: &AuthTrail,
    attempt: &Attempt,
) -> Reply {
    match issue_for(auth, form.username, form.password, trail, attempt).await {
        Err(Refused::Blocked(blocked)) => too_many_attempts(&blocked, request_id),
        Err(Refused::Busy) => busy(request_id),
        Ok((user_id, username, roles, token, exp)) => Reply::json(
            200,
            json!({
                "success": true,
                "user": {"id": user_id, "username": username, "roles": roles},
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": exp.saturating_sub(now()),
            }),
        ),
        Err(Refused::Invalid) => Reply::error(
            401,
            "invalid_credentials",
            "invalid credentials",
            request_id,
        ),
    }
}

async fn token(
    auth: &Arc<Authenticator>,
    form: LoginForm,
    trail: &AuthTrail,
    attempt: &Attempt,
) -> Reply {
    // Refused before the password is looked at: no check, no failed login, no brute-force count.
    if !auth.config.password_grant {
        return oauth_error(
            400,
            "unsupported_grant_type",
            "the password grant is disabled (auth.password_grant)",
        );
    }
    if form.grant_type.as_deref() != Some("password") {
        return oauth_error(
            400,
            "unsupported_grant_type",
            "only grant_type=password is supported",
        );
    }
    if form.username.is_empty() || form.password.is_empty() {
        return oauth_error(400, "invalid_request", "username and password are required");
    }
    let scope = form.scope.clone().unwrap_or_else(|| "default".into());
    match issue_for(auth, form.username, form.password, trail, attempt).await {
        Err(Refused::Blocked(blocked)) => too_many_attempts(&blocked, &attempt.request_id),
        Err(Refused::Busy) => {
            retry_shortly(oauth_error(503, "temporarily_unavailable", BUSY_MESSAGE))
        }
        Ok((_, _, _, token, exp)) => {
            let mut reply = Reply::json(
                200,
                json!({
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": exp.saturating_sub(now()),
                    "scope": scope,
                }),
            );
            reply.headers.push(("pragma", "no-cache".into()));
            reply
        }
        Err(Refused::Invalid) => oauth_error(400, "invalid_grant", "invalid username or password"),
    }
}

type Issued = (String, String, Vec<String>, String, u64);

/// The browser endpoints. The dev-user form (`POST /login`) checks passwords, so it is guarded
/// like `/auth/login`: refused while the client is blocked, its "wrong password" answer (401)
/// counts as a failure and its "busy" answer (503) is recorded.
async fn browser(
    auth: &Arc<Authenticator>,
    endpoint: Endpoint,
    session: &mut Session,
    host: &str,
    trail: &AuthTrail,
    attempt: &Attempt,
) -> Reply {
    let form = endpoint == Endpoint::LoginPage && attempt.method == "POST";
    if form {
        if let Err(blocked) = trail.check(attempt) {
            trail.refused(attempt).await;
            return too_many_attempts(&blocked, &attempt.request_id);
        }
    }
    let reply = super::browser::serve(auth, endpoint, session, host, &attempt.request_id).await;
    match reply.status {
        401 if form => {
            let kind = Credential::Password;
            trail
                .failed(attempt, kind, "password", None, "bad credentials")
                .await;
        }
        503 if form => trail.busy(attempt).await,
        _ => {}
    }
    reply
}

enum Refused {
    /// Too many failures from this client: not checked at all.
    Blocked(Blocked),
    /// Every password check is taken: not checked at all.
    Busy,
    Invalid,
}

/// Check the password (unless the client is blocked or the checks are busy), record the
/// outcome, and issue a token.
async fn issue_for(
    auth: &Arc<Authenticator>,
    username: String,
    password: String,
    trail: &AuthTrail,
    attempt: &Attempt,
) -> Result<Issued, Refused> {
    if let Err(blocked) = trail.check(attempt) {
        trail.refused(attempt).await;
        return Err(Refused::Blocked(blocked));
    }
    let name = username.clone();
    let Ok(checked) = check_password(auth, username, password).await else {
        trail.busy(attempt).await;
        return Err(Refused::Busy);
    };
    let Some((id, username, roles)) = checked else {
        let kind = Credential::Password;
        trail
            .failed(attempt, kind, "password", Some(&name), "bad credentials")
            .await;
        return Err(Refused::Invalid);
    };
    match auth.local.issue(&id, &roles, now()) {
        Ok((token, exp)) => {
            tracing::info!(user = %id, "password login");
            trail.login(attempt, &id, &roles, "password").await;
            Ok((id, username, roles, token, exp))
        }
        Err(e) => {
            tracing::error!("cannot sign a token: {e:#}");
            Err(Refused::Invalid)
        }
    }
}

/// 429 with `Retry-After`.
fn too_many_attempts(blocked: &Blocked, request_id: &str) -> Reply {
    let mut reply = Reply::error(
        429,
        "too_many_requests",
        "too many failed authentication attempts; retry later",
        request_id,
    );
    reply
        .headers
        .push(("retry-after", blocked.retry_after_secs().to_string()));
    reply
}

fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

/// The body as JSON or `application/x-www-form-urlencoded` (upstream accepts both).
async fn read_form(session: &mut Session) -> Result<LoginForm, &'static str> {
    let content_type = session
        .req_header()
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let body = read_body(session).await?;
    match content_type.as_str() {
        "application/json" => serde_json::from_slice(&body).map_err(|_| "invalid JSON body"),
        "application/x-www-form-urlencoded" => {
            let mut form = LoginForm {
                grant_type: None,
                username: String::new(),
                password: String::new(),
                scope: None,
            };
            for (k, v) in form_urlencoded::parse(&body) {
                match k.as_ref() {
                    "grant_type" => form.grant_type = Some(v.into_owned()),
                    "username" => form.username = v.into_owned(),
                    "password" => form.password = v.into_owned(),
                    "scope" => form.scope = Some(v.into_owned()),
                    _ => {}
                }
            }
            Ok(form)
        }
        _ => Err("expected application/json or application/x-www-form-urlencoded"),
    }
}
