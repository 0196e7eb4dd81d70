//! Who a request comes from, once authenticated. Attached to the request context for the stages
//! after authentication (authorization, rate limiting, audit) and injected towards the core.

use serde::Serialize;
use std::sync::Arc;

use super::issuer;
use super::source::SEPARATOR;
use crate::keys::assertion::Subject;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A bearer JWT from an external issuer or from the proxy itself.
    Jwt,
    ApiKey,
    Session,
    /// An access token the gateway's authorization server issued to an OAuth client.
    OAuthClient,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::ApiKey => "api_key",
            Self::Session => "session",
            Self::OAuthClient => "oauth_client",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The id the credential names (an API key's is `apikey:<name>`): what the proxy logs,
    /// audits and meters.
    pub user_id: String,
    /// `<source>|<id>` ([`super::source`]): the id the core and the upstream know the caller
    /// by, unique across issuers, dev users and API keys.
    pub qualified_id: String,
    pub roles: Vec<String>,
    pub method: AuthMethod,
    /// The token's issuer (JWT and session).
    pub issuer: Option<String>,
    /// The API key's id (never the key).
    pub key_id: Option<String>,
    /// Unix seconds; the credential is not accepted after this.
    pub expires_at: Option<u64>,
    /// Unix seconds the credential was issued, for the lockdown check.
    pub issued_at: Option<u64>,
    /// A renewed session cookie (`Set-Cookie` value) to send with the response: sliding
    /// idle timeout.
    #[serde(skip)]
    pub refresh_cookie: Option<String>,
    /// What an OAuth client holding the credential was granted; `None` for the user's own
    /// credentials.
    #[serde(skip)]
    pub client: Option<Arc<ClientGrant>>,
}

/// The grant behind a gateway-issued OAuth access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientGrant {
    pub grant_id: String,
    pub client_id: String,
    /// The roles the client may act with (its granted scopes); the user's other roles stay
    /// out of its reach. `None`: every role the user holds.
    pub scopes: Option<Vec<String>>,
    /// The role or group names the user signed in with (what a broader grant could give).
    pub user_roles: Vec<String>,
}

impl Principal {
    /// Whether the principal may still be used at `now`.
    pub fn valid_at(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|exp| now < exp)
    }

    /// Who the identity assertion for the core names.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            source: self
                .qualified_id
                .split_once(SEPARATOR)
                .map_or("", |(source, _)| source),
            id: &self.qualified_id,
            roles: &self.roles,
            auth: self.auth_claim(),
        }
    }

    /// The assertion's `auth` claim: how the caller authenticated.
    fn auth_claim(&self) -> &'static str {
        let by_proxy = self.issuer.as_deref() == Some(issuer::ISSUER);
        match self.method {
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Session if by_proxy => "dev",
            AuthMethod::Session => "session",
            AuthMethod::Jwt if by_proxy => "proxy_token",
            AuthMethod::Jwt => "oidc",
            AuthMethod::OAuthClient => "oauth_client",
        }
    }
}
