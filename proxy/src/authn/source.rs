//! Where an identity comes from. A user id is unique only within its source — one issuer's
//! subjects, the dev users, the API keys — so the core and the upstream know a caller as
//! `<source>|<id>` (docs/identity-assertion.md): "1234" at one OpenID provider and "1234" at
//! another, or a dev user and a token subject of the same name, stay different people.
//!
//! An external issuer's source is the `source` configured for it in `[[auth.issuers]]` or
//! `[[auth.providers]]` (every entry of one issuer names the same), else the issuer URL's host,
//! with the port when the URL names one: readable, and free of `/` so that an id still fits in
//! one path segment (`DELETE /api/privacy/user/{id}`). The configuration check refuses two
//! issuers with one source. Sources never contain the separator, so the first `|` of an id
//! always ends its source.

use std::borrow::Cow;
use std::collections::HashMap;

use super::config::AuthConfig;
use super::issuer;

pub const SEPARATOR: char = '|';
/// Dev users, and the proxy's own tokens (issued only to dev users).
pub const DEV: &str = "dev";
/// API keys; the id within the source is the key's name.
pub const API_KEY: &str = "apikey";
const MAX_SOURCE_BYTES: usize = 64;

/// `<source>|<id>`.
pub fn qualify(source: &str, id: &str) -> String {
    let mut qualified = String::with_capacity(source.len() + 1 + id.len());
    qualified.push_str(source);
    qualified.push(SEPARATOR);
    qualified.push_str(id);
    qualified
}

/// The source of each issuer the configuration names.
#[derive(Debug, Default)]
pub struct Sources {
    by_issuer: HashMap<String, String>,
}

impl Sources {
    pub fn new(auth: &AuthConfig) -> Self {
        let mut by_issuer: HashMap<String, String> = entries(auth)
            .map(|(_, issuer, name)| (issuer.to_owned(), source_of(issuer, name).into_owned()))
            .collect();
        by_issuer.insert(issuer::ISSUER.to_owned(), DEV.to_owned());
        Self { by_issuer }
    }

    /// The source of `issuer`; `None` when the configuration no longer names it (a session
    /// from a removed provider).
    pub fn of(&self, issuer: &str) -> Option<&str> {
        self.by_issuer.get(issuer).map(String::as_str)
    }
}

/// `(field prefix, issuer, configured source)` of every issuer and provider entry.
fn entries(auth: &AuthConfig) -> impl Iterator<Item = (String, &str, Option<&str>)> {
    let issuers = auth.issuers.iter().enumerate().map(|(i, e)| {
        let at = format!("auth.issuers[{i}]");
        (at, e.issuer.as_str(), e.source.as_deref())
    });
    let providers = auth.providers.iter().enumerate().map(|(i, p)| {
        let at = format!("auth.providers[{i}]");
        (at, p.issuer.as_str(), p.source.as_deref())
    });
    issuers.chain(providers)
}

/// The configured name, else the issuer URL's host (and explicit port).
fn source_of<'a>(issuer: &'a str, name: Option<&'a str>) -> Cow<'a, str> {
    if let Some(name) = name {
        return Cow::Borrowed(name);
    }
    let Ok(url) = url::Url::parse(issuer) else {
        return Cow::Borrowed(issuer);
    };
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => Cow::Owned(format!("{host}:{port}")),
        (Some(host), None) => Cow::Owned(host.to_owned()),
        (None, _) => Cow::Borrowed(issuer),
    }
}

/// Semantic checks: `(field, message)` for every problem. Distinct issuers must get distinct
/// sources, and every entry of one issuer the same one, or two populations of users would share
/// ids again.
pub fn check(auth: &AuthConfig) -> Vec<(String, String)> {
    let mut issues = Vec::new();
    let mut first_entry: HashMap<&str, (Option<&str>, String)> = HashMap::new();
    let mut taken: HashMap<Cow<str>, &str> = HashMap::new();
    for (at, issuer, name) in entries(auth) {
        let field = format!("{at}.source");
        if let Some((first_name, first_at)) = first_entry.get(issuer) {
            if *first_name != name {
                let message = format!("must be the same as {first_at}.source (same issuer)");
                issues.push((field, message));
            }
            continue;
        }
        first_entry.insert(issuer, (name, at));
        let source = source_of(issuer, name);
        let valid = !source.is_empty()
            && source.len() <= MAX_SOURCE_BYTES
            && source
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
            && !(name.is_some() && source.contains(':'));
        let problem = if !valid {
            Some(match name {
                Some(_) => format!(
                    "{source:?} must be 1-{MAX_SOURCE_BYTES} letters, digits, '-', '_' or '.'"
                ),
                None => {
                    format!("required: the issuer's host {source:?} cannot serve as its source")
                }
            })
        } else if [DEV, API_KEY]
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&source))
        {
            Some(format!("{source:?} is reserved (dev users, API keys)"))
        } else {
            let other = taken.insert(source.clone(), issuer);
            other.map(|other| {
                let hint = if name.is_none() {
                    " (set a source)"
                } else {
                    ""
                };
                format!("{source:?} is already the source of {other}{hint}")
            })
        };
        issues.extend(problem.map(|message| (field, message)));
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::config::IssuerConfig;
    use crate::authn::login_config::ProviderConfig;

    fn issuer(url: &str, source: Option<&str>) -> IssuerConfig {
        IssuerConfig {
            issuer: url.into(),
            source: source.map(str::to_owned),
            ..IssuerConfig::default()
        }
    }

    fn provider(url: &str, source: Option<&str>) -> ProviderConfig {
        ProviderConfig {
            id: "p".into(),
            issuer: url.into(),
            source: source.map(str::to_owned),
            ..ProviderConfig::default()
        }
    }

    #[test]
    fn issuers_get_their_name_or_their_host_and_the_proxy_is_dev() {
        let auth = AuthConfig {
            issuers: vec![
                issuer("https://kc.example/realms/m", Some("corp")),
                issuer("https://okta.example", None),
                issuer("http://127.0.0.1:9000/x", None),
            ],
            providers: vec![provider("https://kc.example/realms/m", Some("corp"))],
            ..AuthConfig::default()
        };
        assert_eq!(check(&auth), []);
        let sources = Sources::new(&auth);
        assert_eq!(sources.of("https://kc.example/realms/m"), Some("corp"));
        assert_eq!(sources.of("https://okta.example"), Some("okta.example"));
        assert_eq!(
            sources.of("http://127.0.0.1:9000/x"),
            Some("127.0.0.1:9000")
        );
        assert_eq!(sources.of(issuer::ISSUER), Some(DEV));
        assert_eq!(sources.of("https://removed.example"), None);
        assert_eq!(qualify("corp", "a|b"), "corp|a|b");
    }

    #[test]
    fn ambiguous_or_unusable_sources_are_refused() {
        let auth = AuthConfig {
            issuers: vec![
                issuer("https://a.example", Some("corp")),
                issuer("https://b.example", Some("corp")),
                issuer("https://c.example", Some("Dev")),
                issuer("https://d.example", Some("a|b")),
                issuer("https://kc.example/realms/one", None),
                issuer("https://kc.example/realms/two", None),
                issuer("https://f.example", Some("f")),
                issuer("https://g.example", Some("g:1")),
            ],
            providers: vec![provider("https://f.example", None)],
            ..AuthConfig::default()
        };
        let fields: Vec<String> = check(&auth).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "auth.issuers[1].source",
                "auth.issuers[2].source",
                "auth.issuers[3].source",
                "auth.issuers[5].source",
                "auth.issuers[7].source",
                "auth.providers[0].source",
            ]
        );
    }
}
