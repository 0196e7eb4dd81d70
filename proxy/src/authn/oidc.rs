//! One OpenID provider for browser login: authorization code flow with PKCE (S256), `state`
//! and `nonce`, via the `openidconnect` crate, which also verifies the ID token (signature from
//! the provider's JWKS, `iss`, `aud`, `exp`, `nonce`). The discovery document (with the JWKS)
//! is fetched on first use and again when older than [`METADATA_MAX_AGE`] or when an ID token
//! names a key it does not hold.

use anyhow::{anyhow, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope,
    TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use super::claims::{self, ClaimPath};
use super::login_config::ProviderConfig;
use crate::request::header_value::is_header_safe;

const METADATA_MAX_AGE: Duration = Duration::from_secs(600);

/// What the browser carries (encrypted) between leaving for the provider and coming back.
#[derive(Debug, Serialize, Deserialize)]
pub struct Flow {
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub redirect_uri: String,
    /// Local path to return to.
    pub next: String,
}

/// A signed-in user as the provider vouches for them.
pub struct Identity {
    pub user_id: String,
    pub roles: Vec<String>,
}

pub struct Provider {
    pub config: ProviderConfig,
    secret: Option<String>,
    http: reqwest::Client,
    user_claim: ClaimPath,
    role_claims: Vec<ClaimPath>,
    metadata: Mutex<Option<(Instant, Arc<ProviderMetadataWithLogout>)>>,
}

impl Provider {
    pub fn new(config: &ProviderConfig) -> anyhow::Result<Self> {
        Ok(Self {
            secret: config.secret()?,
            http: super::jwks::idp_client(config.ca_file.as_deref())?,
            user_claim: ClaimPath::parse(&config.user_claim),
            role_claims: config
                .role_claims
                .iter()
                .map(|p| ClaimPath::parse(p))
                .collect(),
            metadata: Mutex::new(None),
            config: config.clone(),
        })
    }

    async fn metadata(&self, fresh: bool) -> anyhow::Result<Arc<ProviderMetadataWithLogout>> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, metadata)) = cached.as_ref() {
            if !fresh && at.elapsed() < METADATA_MAX_AGE {
                return Ok(metadata.clone());
            }
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())?;
        let metadata = Arc::new(
            ProviderMetadataWithLogout::discover_async(issuer, &self.http)
                .await
                .with_context(|| format!("discovery of {}", self.config.issuer))?,
        );
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: &ProviderMetadataWithLogout,
        redirect_uri: &str,
    ) -> anyhow::Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
    > {
        Ok(CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            self.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned())?))
    }

    /// The provider's authorization URL and the flow state to keep until the callback.
    pub async fn start(&self, redirect_uri: &str, next: &str) -> anyhow::Result<(String, Flow)> {
        let metadata = self.metadata(false).await?;
        let client = self.client(&metadata, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let flow = Flow {
            provider: self.config.id.clone(),
            state: state.into_secret(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.into_secret(),
            redirect_uri: redirect_uri.to_owned(),
            next: next.to_owned(),
        };
        Ok((url.to_string(), flow))
    }

    /// Redeem the authorization code (the caller has checked `state`) and verify the ID token.
    pub async fn finish(&self, flow: Flow, code: String) -> anyhow::Result<Identity> {
        let metadata = self.metadata(false).await?;
        let client = self.client(&metadata, &flow.redirect_uri)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| anyhow!("token request failed: {e}"))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| anyhow!("the provider returned no ID token"))?;
        let nonce = Nonce::new(flow.nonce);
        if let Err(first) = id_token.claims(&client.id_token_verifier(), &nonce) {
            // Perhaps a rotated key: verify once more against freshly fetched keys.
            let metadata = self.metadata(true).await?;
            let client = self.client(&metadata, &flow.redirect_uri)?;
            id_token
                .claims(&client.id_token_verifier(), &nonce)
                .map_err(|e| anyhow!("ID token refused: {e} (first attempt: {first})"))?;
        }
        self.identity(id_token)
    }

    /// User id and roles from the verified ID token's claims, by the configured paths.
    fn identity(&self, id_token: &CoreIdToken) -> anyhow::Result<Identity> {
        let jwt = id_token.to_string();
        let payload = jwt
            .split('.')
            .nth(1)
            .ok_or_else(|| anyhow!("malformed ID token"))?;
        let claims: Map<String, Value> = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?;
        let user_id = self
            .user_claim
            .lookup(&claims)
            .and_then(Value::as_str)
            .filter(|id| is_header_safe(id, false))
            .ok_or_else(|| anyhow!("ID token has no usable {}", self.config.user_claim))?
            .to_owned();
        let mut roles = Vec::new();
        for path in &self.role_claims {
            if let Some(value) = path.lookup(&claims) {
                claims::roles_in(value, &mut roles);
            }
        }
        roles.retain(|r| is_header_safe(r, true));
        Ok(Identity { user_id, roles })
    }

    /// RP-initiated logout URL, when the provider announces an `end_session_endpoint`.
    pub async fn logout_url(&self, after_logout: &str) -> Option<String> {
        let metadata = self.metadata(false).await.ok()?;
        let endpoint = metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        let mut request = openidconnect::LogoutRequest::from(endpoint)
            .set_client_id(ClientId::new(self.config.client_id.clone()));
        if let Ok(url) = PostLogoutRedirectUrl::new(after_logout.to_owned()) {
            request = request.set_post_logout_redirect_uri(url);
        }
        Some(request.http_get_url().to_string())
    }
}
