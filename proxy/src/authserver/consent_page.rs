//! The consent page and the authorization server's error page: self-contained HTML like the
//! login page (no scripts, inline styles), every value escaped.

use std::fmt::Write;

use crate::authn::csrf::FORM_FIELD;
use crate::authn::login_page::{escape, STYLE};

pub struct Consent<'a> {
    pub client_name: &'a str,
    pub client_id: &'a str,
    /// Where the authorization code will be sent.
    pub redirect_host: &'a str,
    pub user: &'a str,
    /// The roles the client will act with.
    pub roles: &'a [String],
    /// The client asked for no particular role: it gets all of the user's.
    pub all_roles: bool,
    /// The sealed pending request.
    pub request: &'a str,
    pub csrf_token: &'a str,
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} – Mimir</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    )
}

pub fn render(view: &Consent) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Allow access?</h1><p><strong id=\"client\">{}</strong> \
         <small>({})</small> wants to use Mimir as <strong>{}</strong>.</p>\
         <p>It will receive access at <strong id=\"redirect-host\">{}</strong>.</p>",
        escape(view.client_name),
        escape(view.client_id),
        escape(view.user),
        escape(view.redirect_host),
    );
    body.push_str(if view.all_roles {
        "<p>With every role you hold:</p><ul id=\"roles\">"
    } else {
        "<p>With these roles:</p><ul id=\"roles\">"
    });
    for role in view.roles {
        let _ = write!(body, "<li>{}</li>", escape(role));
    }
    let _ = write!(
        body,
        "</ul><form method=\"post\" action=\"/authorize\">\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\
         <input type=\"hidden\" name=\"{FORM_FIELD}\" value=\"{}\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\" id=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\" class=\"provider\">Deny</button>\
         </form><p><small>You can withdraw this at <a href=\"/oauth/consents\">/oauth/consents</a>.</small></p>",
        escape(view.request),
        escape(view.csrf_token),
    );
    page("Allow access", &body)
}

pub fn error(message: &str) -> String {
    page(
        "Sign-in refused",
        &format!(
            "<h1>Sign-in refused</h1><p class=\"error\" role=\"alert\">{}</p>",
            escape(message)
        ),
    )
}

/// The signed-in user's consents, each with a withdraw button.
pub fn consents(user: &str, clients: &[(String, String)], csrf_token: &str) -> String {
    let mut body = format!(
        "<h1>Applications</h1><p>Signed in as <strong>{}</strong>.</p>",
        escape(user)
    );
    if clients.is_empty() {
        body.push_str("<p id=\"none\">No application has access.</p>");
    }
    for (client_id, name) in clients {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/oauth/consents\"><p><strong>{}</strong> <small>({})</small></p>\
             <input type=\"hidden\" name=\"client_id\" value=\"{}\">\
             <input type=\"hidden\" name=\"{FORM_FIELD}\" value=\"{}\">\
             <button type=\"submit\">Withdraw access</button></form>",
            escape(name),
            escape(client_id),
            escape(client_id),
            escape(csrf_token),
        );
    }
    page("Applications", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_a_client_chooses_is_escaped() {
        let html = render(&Consent {
            client_name: "<script>alert(1)</script>",
            client_id: "mgc_1\"><img>",
            redirect_host: "evil.example",
            user: "alice",
            roles: &["viewer".to_owned()],
            all_roles: false,
            request: "sealed",
            csrf_token: "t",
        });
        assert!(!html.contains("<script>alert"));
        assert!(!html.contains("\"><img>"));
        assert!(html.contains("evil.example") && html.contains("<li>viewer</li>"));
    }
}
