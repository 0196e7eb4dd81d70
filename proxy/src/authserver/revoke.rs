//! Token revocation (RFC 7009) at `/revoke`: an access token ends alone, a refresh token ends
//! its whole grant. The answer is 200 whatever the token was, so the endpoint tells nobody
//! which tokens exist; a client can only revoke its own.

use super::grants::{self, Refresh};
use super::{form, oauth_error, AuthServer, Call};
use crate::authn::client_tokens;
use crate::reply::Reply;

impl AuthServer {
    pub(super) async fn revoke(&self, call: &mut Call<'_>) -> Reply {
        let params = match form::body(call.session).await {
            Ok(p) => p,
            Err(why) => return oauth_error(400, "invalid_request", &why),
        };
        let client = match self.client_auth(call, &params).await {
            Ok(client) => client,
            Err(reply) => return reply,
        };
        let Some(token) = params.get("token") else {
            return oauth_error(400, "invalid_request", "token is required");
        };
        if token.starts_with(client_tokens::PREFIX) {
            let tokens = &self.auth.client_tokens;
            let owner = tokens
                .verify(token, 0)
                .and_then(|p| p.client.as_ref().map(|c| c.client_id.clone()));
            if owner.as_deref() == Some(&client.client_id) {
                tokens.remove(token);
            }
        } else if let Some((id, generation, mac)) = grants::grant_of(token) {
            let owned = self.store.read(|s| {
                s.grants.get(id).is_some_and(|g| {
                    g.client_id == client.client_id
                        && grants::classify(g, generation, mac) != Refresh::Unknown
                })
            });
            if owned {
                self.end_grant(Some(call.attempt), id, "revoked by the client")
                    .await;
            }
        }
        Reply::json(200, serde_json::json!({}))
    }
}
