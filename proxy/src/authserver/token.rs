//! `/token`: the authorization code (with its PKCE verifier, redirect URI and resource) and
//! refresh tokens (rotated; a spent one revokes the grant) for short-lived access tokens.
//! Clients authenticate as registered: public clients by `client_id` alone, confidential ones
//! with `client_secret_basic` or `client_secret_post`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;
use std::sync::Arc;

use super::clients::{Client, ClientError};
use super::codes::Redeemed;
use super::form::Params;
use super::grants::{self, Grant, Refresh};
use super::{form, oauth_error, pkce, redirect_uris, scopes, seconds_until, AuthServer, Call};
use crate::audit::event::Action;
use crate::audit::AuditEvent;
use crate::authn::principal::{AuthMethod, ClientGrant, Principal};
use crate::authn::{issuer, now};
use crate::reply::Reply;
use crate::traffic::bruteforce::Credential;

/// Why a refresh token was refused.
enum RefreshRefused {
    Unknown,
    Spent(String),
    OtherClient,
    Ended(String),
}

impl AuthServer {
    pub(super) async fn token(&self, call: &mut Call<'_>) -> Reply {
        let params = match form::body(call.session).await {
            Ok(p) => p,
            Err(why) => return oauth_error(400, "invalid_request", &why),
        };
        let client = match self.client_auth(call, &params).await {
            Ok(client) => client,
            Err(reply) => return reply,
        };
        match params.get("grant_type") {
            Some("authorization_code") => self.exchange(call, &params, &client).await,
            Some("refresh_token") => self.refresh(call, &params, &client).await,
            Some(_) => oauth_error(
                400,
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            ),
            None => oauth_error(400, "invalid_request", "grant_type is required"),
        }
    }

    /// The client a token or revocation request comes from (RFC 6749 §2.3).
    pub(super) async fn client_auth(
        &self,
        call: &Call<'_>,
        params: &Params,
    ) -> Result<Client, Reply> {
        let invalid = |why: &str| {
            let mut reply = oauth_error(401, "invalid_client", why);
            reply
                .headers
                .push(("www-authenticate", "Basic realm=\"mimir\"".into()));
            reply
        };
        let basic = match call
            .session
            .req_header()
            .headers
            .get(http::header::AUTHORIZATION)
        {
            None => None,
            Some(value) => Some(basic_credentials(value).ok_or_else(|| {
                invalid("the Authorization header is not valid client_secret_basic")
            })?),
        };
        if basic.is_some() && params.get("client_secret").is_some() {
            return Err(oauth_error(
                400,
                "invalid_request",
                "more than one client authentication method",
            ));
        }
        let (client_id, secret) = match &basic {
            Some((id, secret)) => {
                if params.get("client_id").is_some_and(|c| c != id) {
                    return Err(invalid("client_id differs from the authenticated client"));
                }
                (id.as_str(), Some(secret.as_str()))
            }
            None => match params.get("client_id") {
                Some(id) => (id, params.get("client_secret")),
                None => return Err(invalid("client_id is required")),
            },
        };
        if let Err(blocked) = self.trail.check(call.attempt) {
            self.trail.refused(call.attempt).await;
            let mut reply = oauth_error(
                429,
                "too_many_requests",
                "too many failed authentications; retry later",
            );
            reply
                .headers
                .push(("retry-after", blocked.retry_after_secs().to_string()));
            return Err(reply);
        }
        let client = match self.clients.resolve(&self.store, client_id).await {
            Ok(client) => client,
            Err(ClientError::Unknown) => return Err(invalid("unknown client")),
            Err(e) => return Err(invalid(&e.to_string())),
        };
        match (client.is_public(), secret) {
            (true, None) => Ok(client),
            (true, Some(_)) => Err(invalid("a public client has no secret")),
            (false, Some(secret)) if client.secret_matches(secret) => Ok(client),
            (false, _) => {
                let kind = Credential::Password;
                self.trail
                    .failed(
                        call.attempt,
                        kind,
                        "oauth_client",
                        Some(client_id),
                        "bad client secret",
                    )
                    .await;
                Err(invalid("client authentication failed"))
            }
        }
    }

    async fn exchange(&self, call: &Call<'_>, params: &Params, client: &Client) -> Reply {
        let Some(value) = params.get("code") else {
            return oauth_error(400, "invalid_request", "code is required");
        };
        let now = now();
        let code = match self.codes.redeem(value, now) {
            Redeemed::Fresh(code) => code,
            Redeemed::Reused(grant) => {
                if let Some(grant) = grant {
                    self.end_grant(Some(call.attempt), &grant, "authorization code used twice")
                        .await;
                }
                return oauth_error(
                    400,
                    "invalid_grant",
                    "the authorization code was already used",
                );
            }
            Redeemed::Unknown => {
                return oauth_error(
                    400,
                    "invalid_grant",
                    "unknown or expired authorization code",
                )
            }
        };
        if code.client_id != client.client_id {
            return oauth_error(
                400,
                "invalid_grant",
                "the code was issued to another client",
            );
        }
        let redirect_ok = match params.get("redirect_uri") {
            Some(uri) => uri == code.redirect_uri,
            None => {
                client.redirect_uris.len() == 1
                    && redirect_uris::is_registered(&client.redirect_uris, &code.redirect_uri)
            }
        };
        if !redirect_ok {
            return oauth_error(
                400,
                "invalid_grant",
                "redirect_uri does not match the authorization request",
            );
        }
        let verified = params
            .get("code_verifier")
            .is_some_and(|v| pkce::verifies(v, &code.challenge));
        if !verified {
            return oauth_error(
                400,
                "invalid_grant",
                "code_verifier missing or wrong (PKCE)",
            );
        }
        if let Err(reply) = self.same_resource(params, &code.resource, call.host) {
            return reply;
        }
        let user = &code.user;
        let grant = match Grant::new(
            &client.client_id,
            &user.user_id,
            &user.qualified_id,
            &user.issuer,
            &user.roles,
            code.scopes.clone(),
            &code.resource,
            now,
            self.config.grant_seconds,
        ) {
            Ok(grant) => grant,
            Err(e) => return oauth_error(503, "temporarily_unavailable", &e.to_string()),
        };
        let max = self.config.max_grants;
        let stored = self.store.update(|s| {
            if s.grants.len() >= max {
                s.grants.retain(|_, g| now < g.expires_at);
            }
            (s.grants.len() < max)
                .then(|| s.grants.insert(grant.id.clone(), grant.clone()))
                .is_some()
        });
        if !stored {
            return oauth_error(503, "temporarily_unavailable", "too many grants");
        }
        self.codes.created(value, &grant.id);
        let access = match self.access_token(&grant, now) {
            Ok(access) => access,
            Err(reply) => return reply,
        };
        let event = AuditEvent::oauth(Action::OauthTokenIssued, &client.client_id, Some(&grant.id))
            .with_user(Some(&grant.qualified_id), &[])
            .with_scope(&self.scope_of(&grant));
        self.audit(call, event).await;
        self.token_reply(&grant, access)
    }

    async fn refresh(&self, call: &Call<'_>, params: &Params, client: &Client) -> Reply {
        let Some(token) = params.get("refresh_token") else {
            return oauth_error(400, "invalid_request", "refresh_token is required");
        };
        let now = now();
        // Decide on a copy first: a refused request leaves the token usable.
        let outcome = match grants::grant_of(token) {
            None => Err(RefreshRefused::Unknown),
            Some((id, generation, mac)) => self.store.read(|s| {
                let grant = s.grants.get(id).ok_or(RefreshRefused::Unknown)?;
                match grants::classify(grant, generation, mac) {
                    Refresh::Unknown => Err(RefreshRefused::Unknown),
                    Refresh::Spent(id) => Err(RefreshRefused::Spent(id.to_owned())),
                    Refresh::Current(_) if grant.client_id != client.client_id => {
                        Err(RefreshRefused::OtherClient)
                    }
                    Refresh::Current(id) if !self.still_valid(grant, now) => {
                        Err(RefreshRefused::Ended(id.to_owned()))
                    }
                    Refresh::Current(_) => Ok(grant.clone()),
                }
            }),
        };
        let mut grant = match outcome {
            Ok(grant) => grant,
            Err(RefreshRefused::Spent(id)) => return self.reused(call, &id).await,
            Err(RefreshRefused::Ended(id)) => {
                self.end_grant(
                    Some(call.attempt),
                    &id,
                    "grant expired or ended by a lockdown",
                )
                .await;
                return oauth_error(400, "invalid_grant", "the grant has ended; sign in again");
            }
            Err(RefreshRefused::OtherClient) => {
                return oauth_error(
                    400,
                    "invalid_grant",
                    "the refresh token belongs to another client",
                )
            }
            Err(RefreshRefused::Unknown) => {
                return oauth_error(400, "invalid_grant", "unknown or revoked refresh token")
            }
        };
        if grant.issuer == issuer::ISSUER && !self.auth.dev_users.contains(&grant.user_id) {
            self.end_grant(Some(call.attempt), &grant.id, "the user no longer exists")
                .await;
            return oauth_error(400, "invalid_grant", "the user no longer exists");
        }
        if let Err(reply) = self.same_resource(params, &grant.resource, call.host) {
            return reply;
        }
        let roles = self.authz.policy().role_names();
        let asked = scopes::requested_roles(params.get("scope"), &roles);
        if asked.is_some() && !scopes::covers(grant.scopes.as_deref(), asked.as_deref()) {
            return oauth_error(400, "invalid_scope", "a refresh cannot widen the grant");
        }
        let access = match self.access_token(&grant, now) {
            Ok(access) => access,
            Err(reply) => return reply,
        };
        // Rotate only if no other request rotated it meanwhile: that one spent this token.
        let presented = grant.generation;
        let rotated = self.store.update_soon(|s| {
            let stored = s.grants.get_mut(&grant.id)?;
            (stored.generation == presented).then(|| {
                stored.generation += 1;
                stored.generation
            })
        });
        let Some(generation) = rotated else {
            self.auth.client_tokens.remove(&access.0);
            return self.reused(call, &grant.id).await;
        };
        grant.generation = generation;
        let event = AuditEvent::oauth(
            Action::OauthTokenRefreshed,
            &client.client_id,
            Some(&grant.id),
        )
        .with_user(Some(&grant.qualified_id), &[]);
        self.audit(call, event).await;
        self.token_reply(&grant, access)
    }

    /// A spent refresh token came back: whoever holds the grant's tokens, the grant ends.
    async fn reused(&self, call: &Call<'_>, grant_id: &str) -> Reply {
        self.end_grant(Some(call.attempt), grant_id, "refresh token reused")
            .await;
        oauth_error(
            400,
            "invalid_grant",
            "the refresh token was already used; the grant is revoked",
        )
    }

    /// A `resource` sent with a token request must be the one the grant is bound to.
    fn same_resource(&self, params: &Params, bound: &str, host: &str) -> Result<(), Reply> {
        let Some(requested) = params.get("resource") else {
            return Ok(());
        };
        match self.resource(Some(requested), host) {
            Ok(r) if r == bound => Ok(()),
            Ok(_) => Err(oauth_error(
                400,
                "invalid_target",
                "resource differs from the authorized one",
            )),
            Err((error, why)) => Err(oauth_error(400, error, why)),
        }
    }

    /// The space-separated roles the grant's tokens act with.
    fn scope_of(&self, grant: &Grant) -> String {
        grant
            .scope()
            .unwrap_or_else(|| self.effective(&grant.roles).join(" "))
    }

    /// A new access token for `grant` and its expiry.
    fn access_token(&self, grant: &Grant, now: u64) -> Result<(String, u64), Reply> {
        let expires_at = (now + self.config.access_token_seconds).min(grant.expires_at);
        let principal = Principal {
            user_id: grant.user_id.clone(),
            qualified_id: grant.qualified_id.clone(),
            roles: grant.roles.clone(),
            method: AuthMethod::OAuthClient,
            issuer: Some(grant.issuer.clone()),
            key_id: None,
            expires_at: Some(expires_at),
            issued_at: Some(grant.created_at),
            refresh_cookie: None,
            client: Some(Arc::new(ClientGrant {
                grant_id: grant.id.clone(),
                client_id: grant.client_id.clone(),
                scopes: grant.scopes.clone(),
                user_roles: grant.roles.clone(),
            })),
        };
        self.auth
            .client_tokens
            .issue(principal, now)
            .map(|token| (token, expires_at))
            .map_err(|e| oauth_error(503, "temporarily_unavailable", &e.to_string()))
    }

    /// The token answer: the access token and the grant's current refresh token.
    fn token_reply(&self, grant: &Grant, (access_token, expires_at): (String, u64)) -> Reply {
        let mut reply = Reply::json(
            200,
            json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": seconds_until(expires_at),
                "refresh_token": grant.refresh_token(),
                "scope": self.scope_of(grant),
            }),
        );
        reply.headers.push(("pragma", "no-cache".into()));
        reply
    }
}

/// `client_secret_basic`: `Basic base64(urlencode(id):urlencode(secret))`.
fn basic_credentials(value: &http::HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_url_decoded() {
        let header = |s: &str| http::HeaderValue::from_str(s).unwrap();
        let encoded = STANDARD.encode("my%3Aclient:s%2Bcret");
        assert_eq!(
            basic_credentials(&header(&format!("Basic {encoded}"))),
            Some(("my:client".into(), "s+cret".into()))
        );
        assert_eq!(basic_credentials(&header("Bearer x")), None);
        assert_eq!(basic_credentials(&header("Basic !!!")), None);
    }
}
