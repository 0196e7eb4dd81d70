//! The gateway as the OAuth 2.1 authorization server of the MCP authorization specification:
//! MCP clients discover it ([`metadata`]), register ([`register`], or name a Client ID
//! Metadata Document: [`client_document`]), send the person to [`authorize`] — who signs in
//! with what the gateway already offers (dev users, the configured OpenID providers) and
//! consents — and exchange the code at [`token`] for short-lived access tokens the
//! authenticator accepts ([`crate::authn::client_tokens`]) and rotating refresh tokens
//! ([`grants`]). [`revoke`], the consents page ([`consents`]) and `mimir-proxy oauth`
//! ([`cli`], [`revocations`]) end grants.
//!
//! Uses `authn` (sessions, sign-in, tokens, the audit trail of logins), `authz` (scopes are
//! role names), `audit`, `traffic` (source keys), `reply` and `request`; nothing uses it but
//! the pipeline, the gateway and `config`.

pub mod authorize;
pub mod cli;
pub mod client_document;
pub mod clients;
pub mod codes;
pub mod config;
pub mod consent_page;
pub mod consents;
pub mod form;
pub mod grants;
pub mod metadata;
pub mod pkce;
pub mod redirect_uris;
pub mod register;
pub mod revocations;
pub mod revoke;
pub mod routes;
pub mod scopes;
pub mod store;
pub mod token;

use governor::{DefaultKeyedRateLimiter, Quota};
use http::Method;
use pingora::proxy::Session;
use serde_json::json;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use crate::audit::event::Action;
use crate::audit::AuditEvent;
use crate::authn::principal::Principal;
use crate::authn::trail::{Attempt, AuthTrail};
use crate::authn::{now, Authenticator};
use crate::authz::Authorizer;
use crate::reply::Reply;
use crate::traffic::source::SourceKeys;
use clients::Clients;
use codes::Codes;
use config::OAuthConfig;
use revocations::Revocations;
use routes::Endpoint;
use store::Store;

/// How often the revocations file is looked at.
const REVOCATION_POLL: std::time::Duration = std::time::Duration::from_secs(1);

pub struct AuthServer {
    pub config: OAuthConfig,
    auth: Arc<Authenticator>,
    authz: Arc<Authorizer>,
    trail: Arc<AuthTrail>,
    clients: Clients,
    store: Arc<Store>,
    codes: Codes,
    registrations: DefaultKeyedRateLimiter<IpAddr>,
    sources: SourceKeys,
    revocations: Revocations,
}

/// One request to an endpoint: its session, validated Host and audit context.
pub struct Call<'a> {
    pub session: &'a mut Session,
    pub host: &'a str,
    pub attempt: &'a Attempt,
}

impl AuthServer {
    /// `keys_file` places the state files by default ([`OAuthConfig::files`]).
    pub fn new(
        config: &OAuthConfig,
        keys_file: &std::path::Path,
        ipv6_prefix: u8,
        auth: Arc<Authenticator>,
        authz: Arc<Authorizer>,
        trail: Arc<AuthTrail>,
    ) -> anyhow::Result<Self> {
        let (state_file, revocations_file) = config.files(keys_file);
        let per_minute =
            NonZeroU32::new(config.registrations_per_minute).unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            clients: Clients::new(config)?,
            store: Store::open(state_file)?,
            codes: Codes::default(),
            registrations: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute)),
            sources: SourceKeys::new(ipv6_prefix),
            revocations: Revocations::new(revocations_file)
                .map_err(|e| e.context("oauth.revocations_file"))?,
            config: config.clone(),
            auth,
            authz,
            trail,
        })
    }

    pub async fn serve(&self, endpoint: Endpoint, call: &mut Call<'_>) -> Reply {
        let method = call.session.req_header().method.clone();
        if method == Method::OPTIONS && endpoint != Endpoint::Authorize {
            return cors(Reply {
                status: 204,
                content_type: "text/plain",
                headers: vec![
                    ("access-control-allow-methods", "GET, POST".into()),
                    (
                        "access-control-allow-headers",
                        "authorization, content-type, mcp-protocol-version".into(),
                    ),
                    ("access-control-max-age", "600".into()),
                ],
                body: bytes::Bytes::new(),
            });
        }
        let id = &call.attempt.request_id;
        match (endpoint, &method) {
            (Endpoint::Metadata, &Method::GET | &Method::HEAD) => cors(Reply::json(
                200,
                metadata::document(
                    &self.issuer(call.host),
                    &self.authz.policy().role_names(),
                    self.config.dynamic_registration,
                    self.clients.documents_supported(),
                ),
            )),
            (Endpoint::Metadata, _) => Reply::method_not_allowed("GET, HEAD", id),
            (Endpoint::Register, &Method::POST) => cors(self.register(call).await),
            (Endpoint::Register, _) => Reply::method_not_allowed("POST", id),
            (Endpoint::Authorize, &Method::GET | &Method::HEAD) => self.authorize(call).await,
            (Endpoint::Authorize, &Method::POST) => self.consent(call).await,
            (Endpoint::Authorize, _) => Reply::method_not_allowed("GET, POST", id),
            (Endpoint::Token, &Method::POST) => cors(self.token(call).await),
            (Endpoint::Token, _) => Reply::method_not_allowed("POST", id),
            (Endpoint::Revoke, &Method::POST) => cors(self.revoke(call).await),
            (Endpoint::Revoke, _) => Reply::method_not_allowed("POST", id),
            (Endpoint::Consents, &Method::GET | &Method::HEAD) => self.list_consents(call),
            (Endpoint::Consents, &Method::POST) => self.withdraw_consent(call).await,
            (Endpoint::Consents, _) => Reply::method_not_allowed("GET, POST", id),
        }
    }

    /// This authorization server's identifier: the gateway's origin.
    pub fn issuer(&self, host: &str) -> String {
        self.auth.origin(host)
    }

    /// Write an audit record of `call`.
    async fn audit(&self, call: &Call<'_>, event: AuditEvent) {
        self.trail.record(event, call.attempt).await;
    }

    /// End grant `grant_id` and its access tokens; audited with `reason` (and the request that
    /// ended it, if one did).
    async fn end_grant(&self, attempt: Option<&Attempt>, grant_id: &str, reason: &str) {
        let removed = self.store.update(|s| s.grants.remove(grant_id));
        self.auth
            .client_tokens
            .revoke_where(|p| grant_of(p).is_some_and(|g| g == grant_id));
        if let Some(grant) = removed {
            tracing::info!(grant = %grant_id, client = %grant.client_id, "OAuth grant revoked: {reason}");
            let event =
                AuditEvent::oauth(Action::OauthGrantRevoked, &grant.client_id, Some(grant_id))
                    .with_user(Some(&grant.qualified_id), &[])
                    .with_reason(reason);
            match attempt {
                Some(attempt) => self.trail.record(event, attempt).await,
                None => self.trail.record_alone(event).await,
            }
        }
    }

    /// Applies what `mimir-proxy oauth revoke` writes, once a second, on a thread of its own:
    /// revoked access tokens stop working whether or not anyone calls an OAuth endpoint.
    pub fn watch_revocations(self: &Arc<Self>) -> std::io::Result<()> {
        let server = Arc::downgrade(self);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        std::thread::Builder::new()
            .name("oauth-revocations".into())
            .spawn(move || loop {
                std::thread::sleep(REVOCATION_POLL);
                let Some(server) = server.upgrade() else {
                    return;
                };
                runtime.block_on(server.apply_revocations());
            })
            .map(drop)
    }

    async fn apply_revocations(&self) {
        let Some(revocations) = self.revocations.changed() else {
            return;
        };
        let ended: Vec<String> = self.store.read(|s| {
            s.grants
                .values()
                .filter(|g| revocations.ends(g))
                .map(|g| g.id.clone())
                .collect()
        });
        for grant in ended {
            self.end_grant(None, &grant, "revoked by an administrator")
                .await;
        }
        self.store.update(|s| {
            s.clients
                .retain(|id, c| !revocations.removes_client(id, c.created_at))
        });
    }

    /// The role names of `roles` the current policy grants (group mappings, default role).
    fn effective(&self, roles: &[String]) -> Vec<String> {
        self.authz
            .policy()
            .effective_roles(roles)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Lockdown ends every grant made before it; a dev user who no longer exists ends theirs.
    fn still_valid(&self, grant: &grants::Grant, now: u64) -> bool {
        now < grant.expires_at && !self.auth.locked_down(grant.created_at)
    }
}

/// The grant id of a principal from a gateway-issued access token.
pub fn grant_of(principal: &Principal) -> Option<&str> {
    principal.client.as_ref().map(|c| c.grant_id.as_str())
}

/// An OAuth error answer (RFC 6749 §5.2).
pub fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    let mut reply = Reply::json(
        status,
        json!({"error": error, "error_description": description}),
    );
    reply.headers.push(("pragma", "no-cache".into()));
    reply
}

/// Endpoints called by browser-based clients (metadata, registration, token, revocation)
/// answer any origin: they take no cookies, so a foreign page gains nothing it could not
/// get by itself.
fn cors(mut reply: Reply) -> Reply {
    reply
        .headers
        .push(("access-control-allow-origin", "*".into()));
    reply
}

/// Seconds from now to `at`.
fn seconds_until(at: u64) -> u64 {
    at.saturating_sub(now())
}
