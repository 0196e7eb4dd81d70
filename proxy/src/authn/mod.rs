//! Authentication: every request outside the public routes ([`routes`]) must present exactly one
//! credential — a bearer JWT (external issuers or the proxy's own), an API key, or a session —
//! and leaves this stage with a [`Principal`] or a 401. Authorization is a later stage.
//!
//! Uses `audit` (its trail of logins and refusals), `traffic` (brute-force blocks), `keys` (the
//! signed assertion and the proxy's own signing keys), `request`, `reply`, `settings` and `admin`
//! metrics; never `config`: `config` gathers `[auth]` from here.

pub mod apikey;
pub mod browser;
pub mod cache;
pub mod challenge;
pub mod claims;
pub mod cli;
pub mod client_tokens;
pub mod config;
pub mod credentials;
pub mod csrf;
pub mod dev;
pub mod endpoints;
pub mod iam_watch;
pub mod issuer;
pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod keystore;
pub mod lockdown;
pub mod login_config;
pub mod login_page;
pub mod login_steps;
pub mod oidc;
pub mod password_checks;
pub mod principal;
pub mod redirect;
pub mod revoked;
pub mod routes;
pub mod session;
pub mod source;
pub mod trail;
pub mod watch;

use http::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::keys::assertion::{Asserter, Binding};
use crate::keys::identity_config::IdentityConfig;
use cache::TokenCache;
use client_tokens::ClientTokens;
use config::AuthConfig;
use credentials::{Credential, CredentialError};
use dev::DevUsers;
use issuer::LocalIssuer;
use jwks::RemoteKeys;
use jwt::{IssuerPolicy, JwtVerifier, KeySource};
use keystore::KeyStore;
use lockdown::Lockdown;
use oidc::Provider;
use password_checks::PasswordChecks;
pub use principal::{AuthMethod, Principal};
use session::{SessionData, Sessions};
use source::Sources;

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credential: 401 without an error code.
    Missing,
    /// A credential that was refused: 401 `invalid_token`. The reason is for the log only.
    Invalid(String),
    /// Ambiguous credentials: 400.
    Malformed(&'static str),
    /// A valid session cookie on a request that fails the CSRF checks: 403.
    CrossSite(&'static str),
}

pub struct Authenticator {
    pub config: AuthConfig,
    jwt: JwtVerifier,
    keys: KeyStore,
    lockdown: Lockdown,
    cache: TokenCache,
    pub dev_users: DevUsers,
    /// Bounds the dev users' password checks (memory).
    pub password_checks: PasswordChecks,
    pub local: LocalIssuer,
    pub sessions: Sessions,
    /// Access tokens of the gateway's authorization server.
    pub client_tokens: ClientTokens,
    /// Which authorization servers the protected-resource metadata names.
    announce: Announce,
    /// The source of each issuer's users.
    sources: Sources,
    /// OpenID providers for browser sign-in.
    pub providers: Vec<Provider>,
    asserter: Asserter,
    identity_header: HeaderName,
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the authenticator is built from: `[auth]`, and the identity assertion it signs for the
/// core (`[identity]`, sent in the header named `headers.identity_header`).
pub struct Settings<'a> {
    pub auth: &'a AuthConfig,
    pub identity: &'a IdentityConfig,
    pub identity_header: &'a str,
    /// The authorization servers announced to clients, and how many access tokens the
    /// gateway's own may hold ([`crate::authserver`], `[oauth]`).
    pub announce: Announce,
    pub max_client_tokens: usize,
}

/// Which authorization servers the protected-resource metadata (RFC 9728) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Announce {
    /// The gateway itself (its authorization server is on).
    #[default]
    Gateway,
    /// Only the external issuers of `[[auth.issuers]]`.
    External,
    /// The gateway first, then the external issuers.
    Both,
}

impl Authenticator {
    /// Build from the configuration; dev users come from the process environment plus
    /// `auth.extra_dev_users`.
    pub fn new(config: &Settings) -> anyhow::Result<Self> {
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .collect();
        let mut users = dev::from_env(&crate::settings::ProcessEnv, &names)?;
        users.extend(config.auth.extra_dev_users.iter().cloned());
        if std::env::var_os("MIMIR_JWT_SECRET").is_some() {
            tracing::warn!(
                "MIMIR_JWT_SECRET is ignored: HS256 tokens are not accepted; \
                 use /auth/login, the OAuth endpoints for MCP clients or an external issuer"
            );
        }
        Self::with_dev_users(config, users)
    }

    pub fn with_dev_users(config: &Settings, users: Vec<dev::DevUser>) -> anyhow::Result<Self> {
        let auth = config.auth;
        let audience = if auth.resource.is_empty() {
            issuer::DEFAULT_AUDIENCE.to_owned()
        } else {
            auth.resource.trim_end_matches('/').to_owned()
        };
        let local = LocalIssuer::new(
            auth.signing_key_file.as_deref(),
            &audience,
            auth.token_lifetime_seconds,
        )?;
        let sources = Sources::new(auth);
        let mut policies = vec![IssuerPolicy::new(
            issuer::ISSUER,
            source::DEV,
            std::slice::from_ref(&audience),
            &[jsonwebtoken::Algorithm::EdDSA],
            KeySource::Static(local.key_set()),
            "sub",
            &["roles".to_owned()],
            auth.leeway_seconds,
            true,
        )];
        for issuer in &auth.issuers {
            let algorithms = issuer
                .algorithms
                .iter()
                .map(|a| config::parse_algorithm(a).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let remote = RemoteKeys::new(
                &issuer.issuer,
                issuer.jwks_uri.clone(),
                issuer.ca_file.as_deref(),
                Duration::from_secs(auth.jwks_refresh_seconds),
                Duration::from_secs(auth.jwks_min_refresh_seconds),
            )?;
            // Every configured issuer has a source; the fallback is never taken.
            let source = sources.of(&issuer.issuer).unwrap_or(&issuer.issuer);
            policies.push(IssuerPolicy::new(
                &issuer.issuer,
                source,
                &issuer.effective_audiences(&auth.resource),
                &algorithms,
                KeySource::Remote(Arc::new(remote)),
                &issuer.user_claim,
                &issuer.role_claims,
                auth.leeway_seconds,
                false,
            ));
        }
        Ok(Self {
            config: auth.clone(),
            jwt: JwtVerifier::new(policies, auth.leeway_seconds, auth.max_token_bytes),
            keys: KeyStore::open(auth.keys_file.clone())?,
            lockdown: Lockdown::open(auth.lockdown_file.clone())?,
            cache: TokenCache::new(auth.token_cache_entries),
            dev_users: DevUsers::new(users)?,
            password_checks: PasswordChecks::new(&auth.password_checks),
            local,
            sessions: Sessions::new(&auth.session)?,
            client_tokens: ClientTokens::new(config.max_client_tokens),
            announce: config.announce,
            sources,
            providers: auth
                .providers
                .iter()
                .map(Provider::new)
                .collect::<anyhow::Result<_>>()?,
            asserter: Asserter::new(config.identity)?,
            identity_header: HeaderName::try_from(config.identity_header)?,
        })
    }

    /// Authenticate a request from its headers (and query, where allowed). `method` and `host`
    /// (the validated `Host`) are for the CSRF checks of session-authenticated requests.
    pub async fn authenticate_request(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        method: &str,
        host: &str,
    ) -> Result<Arc<Principal>, AuthFailure> {
        let credential = credentials::extract(headers, query, self.config.allow_query_credentials)
            .map_err(|e| match e {
                CredentialError::Missing => AuthFailure::Missing,
                CredentialError::Invalid(why) => AuthFailure::Invalid(why.into()),
                CredentialError::Malformed(why) => AuthFailure::Malformed(why),
            })?;
        let now = now();
        let principal = match credential {
            Credential::ApiKey(key) => self.keys.verify(key, now).ok_or_else(|| {
                AuthFailure::Invalid("unknown, revoked or expired API key".into())
            })?,
            Credential::Jwt(token) => self.verify_jwt(token, now).await?,
            Credential::ClientToken(token) => {
                self.client_tokens.verify(token, now).ok_or_else(|| {
                    AuthFailure::Invalid("unknown, expired or revoked OAuth access token".into())
                })?
            }
            Credential::Session(value) => {
                let data = self
                    .sessions
                    .open(&value, now)
                    .map_err(|e| AuthFailure::Invalid(format!("session refused: {e:?}")))?;
                csrf::check(method, headers, host, &data.csrf).map_err(|why| {
                    tracing::info!(reason = why, "session request refused by the CSRF check");
                    AuthFailure::CrossSite("cross-site request refused (CSRF check)")
                })?;
                let source = self.sources.of(&data.iss).ok_or_else(|| {
                    AuthFailure::Invalid("session of an issuer no longer configured".into())
                })?;
                let qualified_id = source::qualify(source, &data.sub);
                Arc::new(self.sessions.principal(data, qualified_id, now))
            }
        };
        if self.revocable(&principal) && self.lockdown.revokes(principal.issued_at) {
            return Err(AuthFailure::Invalid("issued before the lockdown".into()));
        }
        Ok(principal)
    }

    /// The request's valid session, if any (not revoked by a lockdown).
    pub fn open_session(&self, headers: &HeaderMap) -> Option<SessionData> {
        let value = credentials::cookie(headers, credentials::SESSION_COOKIE).ok()??;
        let data = self.sessions.open(&value, now()).ok()?;
        (!self.lockdown.revokes(Some(data.iat))).then_some(data)
    }

    /// The id the core knows a session's user by (`<source>|<id>`); `None` when its issuer is
    /// no longer configured.
    pub fn session_user(&self, data: &SessionData) -> Option<String> {
        self.sources
            .of(&data.iss)
            .map(|source| source::qualify(source, &data.sub))
    }

    /// Whether a lockdown ended credentials issued at `issued_at`.
    pub fn locked_down(&self, issued_at: u64) -> bool {
        self.lockdown.revokes(Some(issued_at))
    }

    /// This site's origin: that of `auth.resource`, or `https://<Host>`.
    pub fn origin(&self, host: &str) -> String {
        url::Url::parse(&self.config.resource)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| format!("https://{host}"))
    }

    /// The identity assertion header for the core (docs/identity-assertion.md), bound to
    /// `request`.
    pub fn assertion(
        &self,
        principal: &Principal,
        request: &Binding,
    ) -> anyhow::Result<(&HeaderName, HeaderValue)> {
        Ok((
            &self.identity_header,
            self.asserter.assert(&principal.subject(), request, now())?,
        ))
    }

    /// A bearer JWT, from the cache when it was verified before.
    pub async fn verify_jwt(&self, token: &str, now: u64) -> Result<Arc<Principal>, AuthFailure> {
        let key = TokenCache::key(token);
        if let Some(principal) = self.cache.get(&key, now) {
            return Ok(principal);
        }
        let principal = Arc::new(
            self.jwt
                .verify(token, now)
                .await
                .map_err(|e| AuthFailure::Invalid(e.to_string()))?,
        );
        self.cache.insert(key, principal.clone());
        Ok(principal)
    }

    /// Credentials the proxy issued itself, which a lockdown revokes.
    fn revocable(&self, principal: &Principal) -> bool {
        principal.method != AuthMethod::Jwt || principal.issuer.as_deref() == Some(issuer::ISSUER)
    }

    /// Authorization servers announced in the protected-resource metadata, for a request to
    /// `host`.
    pub fn authorization_servers(&self, host: &str) -> Vec<String> {
        let gateway = (self.announce != Announce::External).then(|| self.origin(host));
        let external = (self.announce != Announce::Gateway)
            .then(|| self.config.issuers.iter().map(|i| i.issuer.clone()))
            .into_iter()
            .flatten();
        gateway.into_iter().chain(external).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `auth`'s answer to a request carrying the session cookie of `data`.
    async fn with_session(
        auth: &Authenticator,
        data: &SessionData,
    ) -> Result<Arc<Principal>, AuthFailure> {
        let set_cookie = &auth.sessions.cookies(data)[0];
        let pair = set_cookie.split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(http::header::COOKIE, pair.parse().unwrap());
        auth.authenticate_request(&headers, None, "GET", "localhost")
            .await
    }

    #[tokio::test]
    async fn sessions_are_qualified_by_their_issuer_and_refused_once_it_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let auth = AuthConfig {
            keys_file: dir.path().join("keys.json"),
            lockdown_file: dir.path().join("lockdown"),
            ..AuthConfig::default()
        };
        let settings = Settings {
            auth: &auth,
            identity: &IdentityConfig::default(),
            identity_header: "x-mimir-identity",
            announce: Announce::Gateway,
            max_client_tokens: 10,
        };
        let auth = Authenticator::with_dev_users(&settings, Vec::new()).unwrap();
        let dev = auth.sessions.start("alice", &[], issuer::ISSUER, "", now());
        let principal = with_session(&auth, &dev).await.unwrap();
        assert_eq!(principal.qualified_id, "dev|alice");
        let removed = "https://removed.example";
        let orphan = auth.sessions.start("alice", &[], removed, "gone", now());
        assert!(matches!(
            with_session(&auth, &orphan).await,
            Err(AuthFailure::Invalid(_))
        ));
    }
}
