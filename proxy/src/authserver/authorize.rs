//! `/authorize`: authorization code with PKCE (S256), `state`, exactly registered redirect
//! URIs, the RFC 8707 `resource` bound to the code, and `iss` in the answer (RFC 9207).
//!
//! Until the client and its redirect URI are known to be genuine, errors are shown to the
//! person, never redirected (RFC 6749 §4.1.2.1): the endpoint cannot be made an open
//! redirector. A person who is not signed in goes to `/login` and comes back; then the
//! consent page names the client, where the code goes and the roles asked for. A consent is
//! remembered per user and client until withdrawn (`/oauth/consents`); `prompt=consent` asks
//! again.

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use url::Url;

use super::clients::Client;
use super::codes::{Code, User};
use super::consent_page::{self, Consent as ConsentView};
use super::store::Consent;
use super::{form, pkce, redirect_uris, scopes, AuthServer, Call};
use crate::audit::event::Action;
use crate::audit::AuditEvent;
use crate::authn::browser::{html, see_other};
use crate::authn::session::SessionData;
use crate::authn::{csrf, now};
use crate::reply::Reply;

/// Purpose of the sealed pending request in the consent form.
const PENDING: &str = "mimir_oauth_request";
/// How long a person may look at the consent page.
const PENDING_SECONDS: u64 = 600;

/// A checked authorization request waiting for consent (sealed into the consent form).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    challenge: String,
    resource: String,
    /// Requested role scopes (`None`: all the user's roles).
    scopes: Option<Vec<String>>,
    /// The signed-in user it was shown to.
    user: String,
    exp: u64,
}

/// Where answers go once the redirect URI is trusted.
struct Back<'a> {
    uri: &'a str,
    state: Option<&'a str>,
    issuer: &'a str,
}

impl Back<'_> {
    fn answer(&self, pairs: &[(&str, &str)]) -> Reply {
        let Ok(mut url) = Url::parse(self.uri) else {
            return error_page(400, "the redirect URI cannot carry an answer");
        };
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
            if let Some(state) = self.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", self.issuer);
        }
        see_other(url.as_str())
    }

    fn error(&self, error: &str, description: &str) -> Reply {
        tracing::info!(error, "authorization request refused: {description}");
        self.answer(&[("error", error), ("error_description", description)])
    }
}

fn error_page(status: u16, message: &str) -> Reply {
    tracing::info!("authorization request refused: {message}");
    html(status, &consent_page::error(message))
}

impl AuthServer {
    pub(super) async fn authorize(&self, call: &mut Call<'_>) -> Reply {
        let params = match form::query(call.session) {
            Ok(p) => p,
            Err(why) => return error_page(400, &why),
        };
        let Some(client_id) = params.get("client_id") else {
            return error_page(400, "The request names no client (client_id is missing).");
        };
        let client = match self.clients.resolve(&self.store, client_id).await {
            Ok(c) => c,
            Err(e) => return error_page(400, &format!("This client cannot sign in: {e}.")),
        };
        let redirect_uri = match params.get("redirect_uri") {
            Some(uri) if redirect_uris::is_registered(&client.redirect_uris, uri) => uri,
            Some(_) => {
                return error_page(400, "The redirect URI is not registered for this client.")
            }
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].as_str(),
            None => return error_page(400, "The request names no redirect URI."),
        };
        let issuer = self.issuer(call.host);
        let back = Back {
            uri: redirect_uri,
            state: params.get("state"),
            issuer: &issuer,
        };
        if params.get("response_type") != Some("code") {
            return back.error("unsupported_response_type", "response_type must be code");
        }
        let challenge = params.get("code_challenge");
        if let Err(why) = pkce::check_challenge(challenge, params.get("code_challenge_method")) {
            return back.error("invalid_request", why);
        }
        let resource = match self.resource(params.get("resource"), call.host) {
            Ok(r) => r,
            Err((error, why)) => return back.error(error, why),
        };
        let headers = call.session.req_header().headers.clone();
        let Some(data) = self.auth.open_session(&headers) else {
            let target = call
                .session
                .req_header()
                .uri
                .path_and_query()
                .map_or("/authorize", |t| t.as_str());
            let next: String = form_urlencoded::byte_serialize(target.as_bytes()).collect();
            return see_other(&format!("/login?next={next}"));
        };
        let Some(user) = self.auth.session_user(&data) else {
            return error_page(401, "Your sign-in is no longer valid; sign in again.");
        };
        let roles = self.authz.policy().role_names();
        let requested = scopes::requested_roles(params.get("scope"), &roles);
        let pending = Pending {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            state: params.get("state").map(str::to_owned),
            challenge: challenge.unwrap_or_default().to_owned(),
            resource,
            scopes: requested,
            user,
            exp: now() + PENDING_SECONDS,
        };
        let granted = self.granted(&pending, &data);
        if granted.is_empty() {
            return back.error(
                "invalid_scope",
                "the user holds none of the requested roles",
            );
        }
        let remembered = self.store.read(|s| {
            s.consents.iter().any(|c| {
                c.user == pending.user
                    && c.client_id == pending.client_id
                    && scopes::covers(c.scopes.as_deref(), pending.scopes.as_deref())
            })
        });
        if remembered && params.get("prompt") != Some("consent") {
            return self.issue_code(call, &pending, &data, &issuer).await;
        }
        self.consent_page(&client, &pending, &data, &granted)
    }

    /// The roles the client would act with.
    fn granted(&self, pending: &Pending, data: &SessionData) -> Vec<String> {
        let effective = self.effective(&data.roles);
        let effective: Vec<&str> = effective.iter().map(String::as_str).collect();
        scopes::grantable(pending.scopes.as_deref(), &effective)
    }

    fn consent_page(
        &self,
        client: &Client,
        pending: &Pending,
        data: &SessionData,
        granted: &[String],
    ) -> Reply {
        let sealed = self
            .auth
            .sessions
            .seal_value(PENDING, &serde_json::to_string(pending).unwrap_or_default());
        html(
            200,
            &consent_page::render(&ConsentView {
                client_name: &client.name,
                client_id: &client.client_id,
                redirect_host: &Client::redirect_host(&pending.redirect_uri),
                user: &data.sub,
                roles: granted,
                all_roles: pending.scopes.is_none(),
                request: &sealed,
                csrf_token: &data.csrf,
            }),
        )
    }

    /// The consent form's answer.
    pub(super) async fn consent(&self, call: &mut Call<'_>) -> Reply {
        let headers: HeaderMap = call.session.req_header().headers.clone();
        let Some(data) = self.auth.open_session(&headers) else {
            return error_page(
                401,
                "Your sign-in has ended; start again from the application.",
            );
        };
        if let Err(why) = csrf::same_origin(&headers, call.host) {
            return error_page(403, why);
        }
        let params = match form::body(call.session).await {
            Ok(p) => p,
            Err(why) => return error_page(400, &why),
        };
        if !csrf::token_matches(params.get(csrf::FORM_FIELD), &data.csrf) {
            return error_page(403, "missing or wrong CSRF token");
        }
        let pending: Option<Pending> = params
            .get("request")
            .and_then(|sealed| self.auth.sessions.unseal(PENDING, sealed))
            .and_then(|json| serde_json::from_str(&json).ok());
        let user = self.auth.session_user(&data);
        let Some(pending) = pending.filter(|p| Some(&p.user) == user.as_ref() && now() < p.exp)
        else {
            return error_page(
                400,
                "This consent page has expired; start again from the application.",
            );
        };
        let issuer = self.issuer(call.host);
        let back = Back {
            uri: &pending.redirect_uri,
            state: pending.state.as_deref(),
            issuer: &issuer,
        };
        if params.get("decision") != Some("allow") {
            return back.error("access_denied", "the user declined");
        }
        let consent = Consent {
            user: pending.user.clone(),
            client_id: pending.client_id.clone(),
            scopes: pending.scopes.clone(),
            at: now(),
        };
        self.store.update(|s| {
            s.consents
                .retain(|c| !(c.user == consent.user && c.client_id == consent.client_id));
            s.consents.push(consent);
        });
        let scope = self.granted(&pending, &data).join(" ");
        let event = AuditEvent::oauth(Action::OauthConsentGranted, &pending.client_id, None)
            .with_user(Some(&pending.user), &[])
            .with_scope(&scope);
        self.audit(call, event).await;
        self.issue_code(call, &pending, &data, &issuer).await
    }

    async fn issue_code(
        &self,
        call: &Call<'_>,
        pending: &Pending,
        data: &SessionData,
        issuer: &str,
    ) -> Reply {
        let back = Back {
            uri: &pending.redirect_uri,
            state: pending.state.as_deref(),
            issuer,
        };
        let code = Code {
            client_id: pending.client_id.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            challenge: pending.challenge.clone(),
            resource: pending.resource.clone(),
            scopes: pending.scopes.clone(),
            user: User {
                user_id: data.sub.clone(),
                qualified_id: pending.user.clone(),
                issuer: data.iss.clone(),
                roles: data.roles.clone(),
            },
            expires_at: now() + self.config.code_seconds,
        };
        match self.codes.issue(code, now()) {
            Ok(code) => {
                tracing::info!(client = %pending.client_id, user = %pending.user, request_id = %call.attempt.request_id, "authorization code issued");
                back.answer(&[("code", &code)])
            }
            Err(e) => back.error("temporarily_unavailable", &e.to_string()),
        }
    }

    /// The RFC 8707 resource: required, https, on this gateway's origin; returned without a
    /// trailing slash.
    pub(super) fn resource(
        &self,
        requested: Option<&str>,
        host: &str,
    ) -> Result<String, (&'static str, &'static str)> {
        let requested = requested.ok_or(("invalid_request", "resource is required (RFC 8707)"))?;
        let url = Url::parse(requested)
            .map_err(|_| ("invalid_target", "resource is not an absolute URI"))?;
        if url.scheme() != "https" || url.fragment().is_some() || !url.username().is_empty() {
            return Err((
                "invalid_target",
                "resource must be an https URI without fragment",
            ));
        }
        if url.origin().ascii_serialization() != self.auth.origin(host) {
            return Err(("invalid_target", "resource is not served by this gateway"));
        }
        Ok(requested.trim_end_matches('/').to_owned())
    }
}
