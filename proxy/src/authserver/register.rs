//! Dynamic client registration (RFC 7591) at `/register`: public clients only (no secret is
//! issued: a secret handed to any caller who asks proves nothing), redirect URIs checked by
//! [`super::redirect_uris`], a rate per client address, and an audit record per registration.

use serde_json::json;

use super::clients::{Client, ClientKind, Metadata};
use super::grants::random_hex;
use super::{oauth_error, AuthServer, Call};
use crate::audit::event::Action;
use crate::audit::AuditEvent;
use crate::authn::login_steps::read_body;
use crate::authn::now;
use crate::reply::Reply;

impl AuthServer {
    pub(super) async fn register(&self, call: &mut Call<'_>) -> Reply {
        if !self.config.dynamic_registration {
            return oauth_error(
                403,
                "access_denied",
                "dynamic client registration is disabled (oauth.dynamic_registration)",
            );
        }
        let source = self.sources.of(call.attempt.ip);
        if self.registrations.check_key(&source).is_err() {
            let mut reply = oauth_error(
                429,
                "too_many_requests",
                "too many registrations from this address; retry later",
            );
            reply.headers.push(("retry-after", "60".into()));
            self.audit(
                call,
                AuditEvent::rate_limited(Some(call.attempt.ip), None, "oauth-registration"),
            )
            .await;
            return reply;
        }
        self.registrations.retain_recent();
        let body = match read_body(call.session).await {
            Ok(body) => body,
            Err(why) => return oauth_error(400, "invalid_client_metadata", why),
        };
        let metadata: Metadata = match serde_json::from_slice(&body) {
            Ok(m) => m,
            Err(_) => {
                return oauth_error(
                    400,
                    "invalid_client_metadata",
                    "expected client metadata JSON",
                )
            }
        };
        let name = match metadata.check(&self.config.redirect_schemes) {
            Ok(name) => name,
            Err((error, why)) => return oauth_error(400, error, &why),
        };
        let Ok(id) = random_hex(16) else {
            return oauth_error(
                503,
                "temporarily_unavailable",
                "cannot generate a client id",
            );
        };
        let now = now();
        let client = Client {
            client_id: format!("mgc_{id}"),
            name: if name.is_empty() {
                "Unnamed client".into()
            } else {
                name
            },
            redirect_uris: metadata.redirect_uris,
            secret_sha256: None,
            kind: ClientKind::Registered,
            created_at: now,
        };
        let max = self.config.max_clients;
        self.store.update(|s| {
            // Full: the oldest client without a grant makes room.
            if s.clients.len() >= max {
                let idle = s
                    .clients
                    .values()
                    .filter(|c| !s.grants.values().any(|g| g.client_id == c.client_id))
                    .min_by_key(|c| c.created_at)
                    .map(|c| c.client_id.clone());
                if let Some(idle) = idle {
                    s.clients.remove(&idle);
                }
            }
            s.clients.insert(client.client_id.clone(), client.clone())
        });
        tracing::info!(client = %client.client_id, name = %client.name, "OAuth client registered");
        let event = AuditEvent::oauth(Action::OauthClientRegistered, &client.client_id, None)
            .with_reason(&format!("registered as {:?}", client.name));
        self.audit(call, event).await;
        Reply::json(
            201,
            json!({
                "client_id": client.client_id,
                "client_id_issued_at": now,
                "client_name": client.name,
                "redirect_uris": client.redirect_uris,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            }),
        )
    }
}
