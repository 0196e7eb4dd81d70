//! Browser sign-in endpoints: the `/login` page (GET) and its dev-user form (POST),
//! `/auth/oauth/login` (leave for a provider), `/auth/oauth/callback` (come back with a code)
//! and `/auth/logout`. All of them end in a session cookie being set or cleared
//! ([`super::session`]); their POSTs are checked for CSRF ([`super::csrf`]).

use http::{HeaderMap, Method};
use pingora::proxy::Session;
use std::sync::Arc;
use subtle::ConstantTimeEq;

use super::login_page::{self, View};
use super::login_steps::{busy, check_password, read_body};
use super::oidc::Flow;
use super::routes::Endpoint;
use super::{credentials, csrf, issuer, now, redirect, Authenticator};
use crate::reply::Reply;

/// Cookie holding the encrypted [`Flow`] while the user is at the provider.
pub const FLOW_COOKIE: &str = "__Host-mimir_login";
/// How long a user may take at the provider.
const FLOW_SECONDS: u64 = 600;
pub const CALLBACK_PATH: &str = "/auth/oauth/callback";
/// Largest cookie browsers are required to keep (RFC 6265 6.1).
const MAX_COOKIE_BYTES: usize = 4096;

pub async fn serve(
    auth: &Arc<Authenticator>,
    endpoint: Endpoint,
    session: &mut Session,
    host: &str,
    request_id: &str,
) -> Reply {
    let req = session.req_header();
    let method = req.method.clone();
    let headers = req.headers.clone();
    let query: Vec<(String, String)> = req
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let next = redirect::local_target(param("next").unwrap_or("/")).to_owned();
    match (endpoint, &method) {
        (Endpoint::LoginPage, &Method::GET | &Method::HEAD) => page(
            auth,
            &headers,
            &next,
            param("error").map(|_| "Sign-in failed. Please try again."),
        ),
        (Endpoint::LoginPage, &Method::POST) => {
            dev_login(auth, session, &headers, host, request_id).await
        }
        (Endpoint::OidcStart, &Method::GET) => match param("provider") {
            Some(id) => start(auth, id, host, &next).await,
            None => see_other("/login?error=provider"),
        },
        (Endpoint::OidcCallback, &Method::GET) => callback(auth, &headers, &query).await,
        (Endpoint::Logout, &Method::POST) => logout(auth, session, &headers, host).await,
        (Endpoint::LoginPage, _) => method_not_allowed("GET, HEAD, POST"),
        (Endpoint::Logout, _) => method_not_allowed("POST"),
        _ => method_not_allowed("GET"),
    }
}

fn page(auth: &Authenticator, headers: &HeaderMap, next: &str, error: Option<&str>) -> Reply {
    if let Some(data) = auth.open_session(headers) {
        return html(
            200,
            &login_page::render(&View::SignedIn {
                user: &data.sub,
                roles: &data.roles,
                csrf_token: &data.csrf,
            }),
        );
    }
    let providers: Vec<(&str, &str)> = auth
        .providers
        .iter()
        .map(|p| (p.config.id.as_str(), p.config.label()))
        .collect();
    html(
        if error.is_some() { 401 } else { 200 },
        &login_page::render(&View::SignIn {
            dev_form: !auth.dev_users.is_empty(),
            providers: &providers,
            next,
            error,
        }),
    )
}

/// The dev-user form: a session instead of the bearer token `/auth/login` returns.
async fn dev_login(
    auth: &Arc<Authenticator>,
    session: &mut Session,
    headers: &HeaderMap,
    host: &str,
    request_id: &str,
) -> Reply {
    if auth.dev_users.is_empty() {
        return see_other("/login");
    }
    // Login CSRF: a foreign page must not sign the browser in to an account of its choosing.
    if let Err(why) = csrf::same_origin(headers, host) {
        return forbidden(why);
    }
    let form = match read_body(session).await {
        Ok(body) => body,
        Err(why) => return forbidden(why),
    };
    let field = |name: &str| {
        form_urlencoded::parse(&form)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let next = redirect::local_target(&field("next")).to_owned();
    match check_password(auth, field("username"), field("password")).await {
        Err(_) => busy(request_id),
        Ok(Some((id, _, roles))) => {
            tracing::info!(user = %id, "browser sign-in (dev user)");
            let data = auth.sessions.start(&id, &roles, issuer::ISSUER, "", now());
            signed_in(auth, &data, &next)
        }
        Ok(None) => page(
            auth,
            &HeaderMap::new(),
            &next,
            Some("Wrong username or password."),
        ),
    }
}

async fn start(auth: &Authenticator, id: &str, host: &str, next: &str) -> Reply {
    let Some(provider) = auth.providers.iter().find(|p| p.config.id == id) else {
        return see_other("/login?error=provider");
    };
    let redirect_uri = provider
        .config
        .redirect_uri
        .clone()
        .unwrap_or_else(|| format!("{}{CALLBACK_PATH}", auth.origin(host)));
    match provider.start(&redirect_uri, next).await {
        Ok((url, flow)) => {
            let sealed = auth.sessions.seal(
                FLOW_COOKIE,
                &serde_json::to_string(&flow).unwrap_or_default(),
                FLOW_SECONDS,
                true,
            );
            let mut reply = see_other(&url);
            reply.headers.push(("set-cookie", sealed));
            reply
        }
        Err(e) => {
            tracing::warn!(provider = %id, "cannot start sign-in: {e:#}");
            see_other("/login?error=provider")
        }
    }
}

async fn callback(auth: &Authenticator, headers: &HeaderMap, query: &[(String, String)]) -> Reply {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let flow: Option<Flow> = credentials::cookie(headers, FLOW_COOKIE)
        .ok()
        .flatten()
        .and_then(|sealed| auth.sessions.unseal(FLOW_COOKIE, &sealed))
        .and_then(|json| serde_json::from_str(&json).ok());
    let failed = |why: &str| {
        tracing::info!("browser sign-in refused: {why}");
        clear_flow(see_other("/login?error=callback"))
    };
    let Some(flow) = flow else {
        return failed("no sign-in in progress (missing, expired or forged state cookie)");
    };
    let state_ok =
        param("state").is_some_and(|s| bool::from(s.as_bytes().ct_eq(flow.state.as_bytes())));
    if !state_ok {
        return failed("state does not match");
    }
    if let Some(error) = param("error") {
        return failed(&format!("the provider answered {error}"));
    }
    let Some(code) = param("code") else {
        return failed("no authorization code");
    };
    let Some(provider) = auth.providers.iter().find(|p| p.config.id == flow.provider) else {
        return failed("unknown provider");
    };
    let next = redirect::local_target(&flow.next).to_owned();
    match provider.finish(flow, code).await {
        Ok(identity) => {
            tracing::info!(user = %identity.user_id, provider = %provider.config.id, "browser sign-in");
            let data = auth.sessions.start(
                &identity.user_id,
                &identity.roles,
                &provider.config.issuer,
                &provider.config.id,
                now(),
            );
            clear_flow(signed_in(auth, &data, &next))
        }
        Err(e) => failed(&format!("{e:#}")),
    }
}

async fn logout(
    auth: &Arc<Authenticator>,
    session: &mut Session,
    headers: &HeaderMap,
    host: &str,
) -> Reply {
    let Some(data) = auth.open_session(headers) else {
        return with_session(see_other("/login"), super::session::Sessions::clear());
    };
    if let Err(why) = csrf::same_origin(headers, host) {
        return forbidden(why);
    }
    let body = read_body(session).await.unwrap_or_default();
    let presented = headers
        .get(csrf::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            form_urlencoded::parse(&body)
                .find(|(k, _)| k == csrf::FORM_FIELD)
                .map(|(_, v)| v.into_owned())
        });
    if !csrf::token_matches(presented.as_deref(), &data.csrf) {
        return forbidden("missing or wrong CSRF token");
    }
    auth.sessions.revoke(&data, now());
    tracing::info!(user = %data.sub, "browser sign-out");
    let after = format!("{}/login", auth.origin(host));
    let provider = auth.providers.iter().find(|p| p.config.id == data.prov);
    let target = match provider {
        Some(p) => p
            .logout_url(&after)
            .await
            .unwrap_or_else(|| "/login".into()),
        None => "/login".into(),
    };
    with_session(see_other(&target), super::session::Sessions::clear())
}

/// Set the session and go to `next`. Browsers silently drop cookies over 4 KB, which would
/// loop the user through sign-in: refuse instead.
fn signed_in(auth: &Authenticator, data: &super::session::SessionData, next: &str) -> Reply {
    let cookies = auth.sessions.cookies(data);
    if cookies[0].len() > MAX_COOKIE_BYTES {
        tracing::warn!(
            user = %data.sub,
            roles = data.roles.len(),
            "sign-in refused: the session cookie would exceed 4 KB (narrow the role claims)"
        );
        return see_other("/login?error=session");
    }
    with_session(see_other(next), cookies)
}

fn with_session(mut reply: Reply, cookies: [String; 2]) -> Reply {
    for cookie in cookies {
        reply.headers.push(("set-cookie", cookie));
    }
    reply
}

fn clear_flow(mut reply: Reply) -> Reply {
    let gone = super::session::base_cookie(FLOW_COOKIE, String::new(), 0, true);
    reply.headers.push(("set-cookie", gone));
    reply
}

pub fn see_other(location: &str) -> Reply {
    Reply {
        status: 303,
        content_type: "text/plain; charset=utf-8",
        headers: vec![("location", location.to_owned())],
        body: bytes::Bytes::new(),
    }
}

/// Pages are self-contained: no scripts, styles only inline. (No `form-action`: sign-out
/// posts here and is then redirected to the provider, which that directive would block.)
pub fn html(status: u16, body: &str) -> Reply {
    Reply {
        status,
        content_type: "text/html; charset=utf-8",
        headers: vec![
            (
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
                 base-uri 'none'"
                    .into(),
            ),
            // Not `no-referrer`: that makes the browser send `Origin: null` with the page's
            // forms, which the CSRF check refuses.
            ("referrer-policy", "same-origin".into()),
        ],
        body: bytes::Bytes::from(body.to_owned()),
    }
}

fn forbidden(why: &str) -> Reply {
    tracing::info!("browser request refused: {why}");
    Reply {
        status: 403,
        content_type: "application/json",
        headers: Vec::new(),
        body: bytes::Bytes::from(
            serde_json::json!({"error": "csrf_failed", "message": why}).to_string(),
        ),
    }
}

fn method_not_allowed(allow: &'static str) -> Reply {
    Reply {
        status: 405,
        content_type: "application/json",
        headers: vec![("allow", allow.to_owned())],
        body: bytes::Bytes::from(r#"{"error":"method_not_allowed"}"#),
    }
}
