//! The proxy's `/login` page: self-contained HTML (no scripts, no external assets), a form for
//! dev users when they exist, one button per OpenID provider, and for a signed-in user the
//! sign-out form.

use std::fmt::Write;

pub enum View<'a> {
    SignIn {
        dev_form: bool,
        /// (provider id, label)
        providers: &'a [(&'a str, &'a str)],
        next: &'a str,
        error: Option<&'a str>,
    },
    SignedIn {
        user: &'a str,
        roles: &'a [String],
        csrf_token: &'a str,
    },
}

/// HTML-escape text for element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn query_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}\
main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;\
box-shadow:0 1px 4px rgba(0,0,0,.15)}h1{font-size:1.5rem;margin-top:0}\
label{display:block;margin:.75rem 0 .25rem;font-weight:600}\
input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #8a94a6;border-radius:4px}\
button,.provider{display:block;width:100%;box-sizing:border-box;margin-top:1rem;padding:.6rem;font-size:1rem;\
text-align:center;border-radius:4px;border:0;background:#1f5fbf;color:#fff;text-decoration:none;cursor:pointer}\
.provider{background:#2d3748}:focus{outline:3px solid #f5b400;outline-offset:2px}\
.error{color:#a4000f;font-weight:600}hr{margin:1.5rem 0;border:0;border-top:1px solid #d5d9e0}";

pub fn render(view: &View) -> String {
    let mut html = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Sign in – Mimir</title><style>",
    );
    html.push_str(STYLE);
    html.push_str("</style></head><body><main>");
    match view {
        View::SignIn {
            dev_form,
            providers,
            next,
            error,
        } => {
            html.push_str("<h1>Sign in to Mimir</h1>");
            if let Some(error) = error {
                let _ = write!(
                    html,
                    "<p class=\"error\" role=\"alert\">{}</p>",
                    escape(error)
                );
            }
            for (id, label) in providers.iter() {
                let _ = write!(
                    html,
                    "<a class=\"provider\" href=\"/auth/oauth/login?provider={}&amp;next={}\">Sign in with {}</a>",
                    query_value(id),
                    query_value(next),
                    escape(label)
                );
            }
            if *dev_form {
                if !providers.is_empty() {
                    html.push_str("<hr>");
                }
                let _ = write!(
                    html,
                    "<form method=\"post\" action=\"/login\" aria-label=\"Development sign-in\">\
                     <input type=\"hidden\" name=\"next\" value=\"{}\">\
                     <label for=\"username\">Username</label>\
                     <input id=\"username\" name=\"username\" autocomplete=\"username\" required>\
                     <label for=\"password\">Password</label>\
                     <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
                     <button type=\"submit\">Sign in</button></form>",
                    escape(next)
                );
            }
            if !dev_form && providers.is_empty() {
                html.push_str("<p>No sign-in method is configured.</p>");
            }
        }
        View::SignedIn {
            user,
            roles,
            csrf_token,
        } => {
            let _ = write!(
                html,
                "<h1>Signed in</h1><p>You are signed in as <strong>{}</strong>{}.</p>\
                 <form method=\"post\" action=\"/auth/logout\">\
                 <input type=\"hidden\" name=\"csrf_token\" value=\"{}\">\
                 <button type=\"submit\">Sign out</button></form>",
                escape(user),
                if roles.is_empty() {
                    String::new()
                } else {
                    format!(" (roles: {})", escape(&roles.join(", ")))
                },
                escape(csrf_token)
            );
        }
    }
    html.push_str("</main></body></html>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_is_escaped() {
        let html = render(&View::SignIn {
            dev_form: true,
            providers: &[("kc", "<Keycloak>")],
            next: "/x\"><script>",
            error: Some("<b>"),
        });
        assert!(
            !html.contains("<script>") && !html.contains("<b>") && !html.contains("<Keycloak>")
        );
        assert!(html.contains("Sign in with &lt;Keycloak&gt;"));
        assert!(html.contains("name=\"password\""));
    }
}
