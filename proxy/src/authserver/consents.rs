//! `/oauth/consents`: the signed-in user's remembered consents, and withdrawing one, which
//! also ends every grant that user gave that client.

use super::consent_page;
use super::{form, AuthServer, Call};
use crate::audit::event::Action;
use crate::audit::AuditEvent;
use crate::authn::browser::{html, see_other};
use crate::authn::csrf;
use crate::reply::Reply;

impl AuthServer {
    pub(super) fn list_consents(&self, call: &mut Call<'_>) -> Reply {
        let headers = &call.session.req_header().headers;
        let signed_in = self
            .auth
            .open_session(headers)
            .and_then(|data| Some((self.auth.session_user(&data)?, data)));
        let Some((user, data)) = signed_in else {
            return see_other("/login?next=%2Foauth%2Fconsents");
        };
        let clients: Vec<(String, String)> = self.store.read(|s| {
            s.consents
                .iter()
                .filter(|c| c.user == user)
                .map(|c| {
                    let name = s
                        .clients
                        .get(&c.client_id)
                        .map_or_else(|| c.client_id.clone(), |client| client.name.clone());
                    (c.client_id.clone(), name)
                })
                .collect()
        });
        html(
            200,
            &consent_page::consents(&data.sub, &clients, &data.csrf),
        )
    }

    pub(super) async fn withdraw_consent(&self, call: &mut Call<'_>) -> Reply {
        let headers = call.session.req_header().headers.clone();
        let signed_in = self
            .auth
            .open_session(&headers)
            .and_then(|data| Some((self.auth.session_user(&data)?, data)));
        let Some((user, data)) = signed_in else {
            return see_other("/login?next=%2Foauth%2Fconsents");
        };
        if let Err(why) = csrf::same_origin(&headers, call.host) {
            return html(403, &consent_page::error(why));
        }
        let params = match form::body(call.session).await {
            Ok(p) => p,
            Err(why) => return html(400, &consent_page::error(&why)),
        };
        if !csrf::token_matches(params.get(csrf::FORM_FIELD), &data.csrf) {
            return html(403, &consent_page::error("missing or wrong CSRF token"));
        }
        let Some(client_id) = params.get("client_id") else {
            return html(400, &consent_page::error("no client named"));
        };
        let grants: Vec<String> = self.store.update(|s| {
            s.consents
                .retain(|c| !(c.user == user && c.client_id == client_id));
            s.grants
                .values()
                .filter(|g| g.qualified_id == user && g.client_id == client_id)
                .map(|g| g.id.clone())
                .collect()
        });
        for grant in grants {
            self.end_grant(Some(call.attempt), &grant, "consent withdrawn")
                .await;
        }
        let event = AuditEvent::oauth(Action::OauthConsentWithdrawn, client_id, None)
            .with_user(Some(&user), &[]);
        self.audit(call, event).await;
        see_other("/oauth/consents")
    }
}
