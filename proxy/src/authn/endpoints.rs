//! Endpoints the proxy answers itself: protected-resource metadata, `/auth/config`,
//! `/auth/login` and `/auth/token` (upstream Mimir's names and bodies, answered with the
//! proxy's own short-lived tokens).

use bytes::Bytes;
use http::Method;
use pingora::proxy::Session;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

use super::routes::Endpoint;
use super::{challenge, now, Authenticator};

/// Login bodies are tiny; anything larger is refused unread.
const MAX_BODY_BYTES: usize = 16 * 1024;

pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    /// Extra headers (e.g. `Allow`).
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Reply {
    fn json(status: u16, value: serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: Bytes::from(value.to_string()),
        }
    }

    fn error(status: u16, code: &str, message: &str, request_id: &str) -> Self {
        Self::json(
            status,
            json!({"error": code, "message": message, "request_id": request_id}),
        )
    }

    fn method_not_allowed(allow: &'static str, request_id: &str) -> Self {
        let mut reply = Self::error(405, "method_not_allowed", "method not allowed", request_id);
        reply.headers.push(("allow", allow.to_owned()));
        reply
    }
}

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

pub async fn serve(
    auth: &Arc<Authenticator>,
    endpoint: Endpoint,
    session: &mut Session,
    host: &str,
    request_id: &str,
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
                challenge::metadata(&resource, &auth.authorization_servers()),
            )
        }
        Endpoint::AuthConfig => Reply::json(
            200,
            json!({
                "devLoginEnabled": !auth.dev_users.is_empty(),
                "oauthProviders": [],
            }),
        ),
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
            Ok(form) => login(auth, form, request_id).await,
        },
        Endpoint::Token => match read_form(session).await {
            Err(message) => oauth_error(400, "invalid_request", message),
            Ok(form) => token(auth, form).await,
        },
    }
}

async fn login(auth: &Arc<Authenticator>, form: LoginForm, request_id: &str) -> Reply {
    match issue_for(auth, form.username, form.password).await {
        Some((user_id, username, roles, token, exp)) => Reply::json(
            200,
            json!({
                "success": true,
                "user": {"id": user_id, "username": username, "roles": roles},
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": exp.saturating_sub(now()),
            }),
        ),
        None => Reply::error(
            401,
            "invalid_credentials",
            "invalid credentials",
            request_id,
        ),
    }
}

async fn token(auth: &Arc<Authenticator>, form: LoginForm) -> Reply {
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
    match issue_for(auth, form.username, form.password).await {
        Some((_, _, _, token, exp)) => {
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
        None => oauth_error(400, "invalid_grant", "invalid username or password"),
    }
}

type Issued = (String, String, Vec<String>, String, u64);

/// Check the password off the async threads (Argon2 is deliberately slow) and issue a token.
async fn issue_for(
    auth: &Arc<Authenticator>,
    username: String,
    password: String,
) -> Option<Issued> {
    let checker = auth.clone();
    let user = tokio::task::spawn_blocking(move || {
        checker
            .dev_users
            .check(&username, &password)
            .map(|u| (u.id.clone(), u.username.clone(), u.roles.clone()))
    })
    .await
    .ok()??;
    let (id, username, roles) = user;
    match auth.local.issue(&id, &roles, now()) {
        Ok((token, exp)) => {
            tracing::info!(user = %id, "password login");
            Some((id, username, roles, token, exp))
        }
        Err(e) => {
            tracing::error!("cannot sign a token: {e:#}");
            None
        }
    }
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
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err("request body too large");
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(_) => return Err("could not read the request body"),
        }
    }
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
