//! Which credential a request presents. Exactly one is accepted; an `Authorization` header that
//! is present but not `Bearer` is an error, never "no credential" (the original server let
//! such requests through unauthenticated).

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName};

use super::{apikey, client_tokens};

/// Cookie carrying the browser session.
pub const SESSION_COOKIE: &str = "__Host-mimir_session";
/// Query parameters that carry credentials in upstream Mimir.
pub const QUERY_CREDENTIALS: &[&str] = &["access_token", "api_key"];
/// A prebuilt name: looking a header up by `&str` parses and hashes the name every time.
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// RFC 6750 b64token characters. A table, because every byte of every bearer token is checked
/// on the hot path.
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        table[i] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=');
        i += 1;
    }
    table
};

#[derive(Debug, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A JWT from `Authorization: Bearer` (or the query string when allowed).
    Jwt(&'a str),
    /// `mimir_…` from `Authorization: Bearer` or `X-API-Key`.
    ApiKey(&'a str),
    /// An access token of the gateway's authorization server (`mgat_…`), from `Authorization:
    /// Bearer` (or the query string when allowed).
    ClientToken(&'a str),
    Session(String),
}

#[derive(Debug, PartialEq, Eq)]
pub enum CredentialError {
    /// Nothing presented.
    Missing,
    /// Present but unusable: 401 with `error="invalid_token"`.
    Invalid(&'static str),
    /// Ambiguous request (several credentials, duplicated headers): 400.
    Malformed(&'static str),
}

/// The credential in `headers` (and `query` when `allow_query`).
pub fn extract<'a>(
    headers: &'a HeaderMap,
    query: Option<&'a str>,
    allow_query: bool,
) -> Result<Credential<'a>, CredentialError> {
    let mut found: Option<Credential<'a>> = None;
    let mut put = |credential: Credential<'a>| {
        if found.is_some() {
            return Err(CredentialError::Malformed("more than one credential"));
        }
        found = Some(credential);
        Ok(())
    };
    if let Some(value) = single(headers, AUTHORIZATION)? {
        put(bearer(value)?)?;
    }
    if let Some(value) = single(headers, X_API_KEY)? {
        let key = value
            .to_str()
            .map_err(|_| CredentialError::Invalid("invalid API key"))?;
        put(Credential::ApiKey(key.trim()))?;
    }
    if let Some(q) = query {
        for (name, value) in form_urlencoded::parse(q.as_bytes()) {
            if QUERY_CREDENTIALS.contains(&name.as_ref()) {
                if !allow_query {
                    return Err(CredentialError::Invalid(
                        "credentials in the query string are not accepted",
                    ));
                }
                // Borrow from the raw query when no decoding was needed; tokens never need it.
                let raw = q
                    .split('&')
                    .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(|v| v.trim()))
                    .filter(|raw| *raw == value.as_ref())
                    .ok_or(CredentialError::Invalid("malformed query credential"))?;
                put(classify(raw))?;
            }
        }
    }
    if found.is_none() {
        if let Some(session) = cookie(headers, SESSION_COOKIE)? {
            found = Some(Credential::Session(session));
        }
    }
    found.ok_or(CredentialError::Missing)
}

fn single(
    headers: &HeaderMap,
    name: HeaderName,
) -> Result<Option<&http::HeaderValue>, CredentialError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(CredentialError::Malformed("duplicated credential header"));
    }
    Ok(first)
}

fn bearer(value: &http::HeaderValue) -> Result<Credential<'_>, CredentialError> {
    let value = value.as_bytes();
    let space = value
        .iter()
        .position(|&b| b == b' ')
        .ok_or(CredentialError::Invalid("Authorization must be Bearer"))?;
    let (scheme, token) = (&value[..space], value[space + 1..].trim_ascii());
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(CredentialError::Invalid("Authorization must be Bearer"));
    }
    if token.is_empty() || !token.iter().all(|&b| B64TOKEN[usize::from(b)]) {
        return Err(CredentialError::Invalid("malformed bearer token"));
    }
    // Only ASCII is left, so this cannot fail.
    let token = std::str::from_utf8(token)
        .map_err(|_| CredentialError::Invalid("malformed bearer token"))?;
    Ok(classify(token))
}

fn classify(token: &str) -> Credential<'_> {
    if token.starts_with(apikey::PREFIX) {
        Credential::ApiKey(token)
    } else if token.starts_with(client_tokens::PREFIX) {
        Credential::ClientToken(token)
    } else {
        Credential::Jwt(token)
    }
}

/// The value of cookie `name`; sent twice is ambiguous.
pub fn cookie(headers: &HeaderMap, name: &str) -> Result<Option<String>, CredentialError> {
    let mut found = None;
    for header in headers.get_all(COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((n, value)) = pair.trim().split_once('=') {
                if n == name {
                    if found.is_some() {
                        return Err(CredentialError::Malformed("duplicated cookie"));
                    }
                    found = Some(value.to_owned());
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn bearer_api_key_and_errors() {
        let h = headers(&[("authorization", "Bearer a.b.c")]);
        assert_eq!(extract(&h, None, false), Ok(Credential::Jwt("a.b.c")));
        let h = headers(&[("authorization", "bearer mimir_x_y")]);
        assert_eq!(
            extract(&h, None, false),
            Ok(Credential::ApiKey("mimir_x_y"))
        );
        let h = headers(&[("x-api-key", "mimir_x_y")]);
        assert_eq!(
            extract(&h, None, false),
            Ok(Credential::ApiKey("mimir_x_y"))
        );
        for bad in [
            "Basic YTpi",
            "Bearer",
            "Bearer a b",
            "Token abc",
            "Bearer <x>",
            "Bearer a\tb",
            "Bearerx.y.z",
        ] {
            let h = headers(&[("authorization", bad)]);
            assert!(
                matches!(extract(&h, None, false), Err(CredentialError::Invalid(_))),
                "{bad}"
            );
        }
        let h = headers(&[("authorization", "Bearer a"), ("x-api-key", "k")]);
        assert!(matches!(
            extract(&h, None, false),
            Err(CredentialError::Malformed(_))
        ));
        let h = headers(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert!(matches!(
            extract(&h, None, false),
            Err(CredentialError::Malformed(_))
        ));
        assert_eq!(
            extract(&HeaderMap::new(), None, false),
            Err(CredentialError::Missing)
        );
    }

    #[test]
    fn query_credentials_only_when_enabled() {
        let h = HeaderMap::new();
        assert!(matches!(
            extract(&h, Some("x=1&access_token=a.b.c"), false),
            Err(CredentialError::Invalid(_))
        ));
        assert_eq!(
            extract(&h, Some("x=1&access_token=a.b.c"), true),
            Ok(Credential::Jwt("a.b.c"))
        );
        assert_eq!(
            extract(&h, Some("api_key=mimir_k_s"), true),
            Ok(Credential::ApiKey("mimir_k_s"))
        );
        assert_eq!(
            extract(&h, Some("q=1"), true),
            Err(CredentialError::Missing)
        );
    }

    #[test]
    fn session_cookie_is_the_fallback() {
        let h = headers(&[("cookie", "a=1; __Host-mimir_session=abc; b=2")]);
        assert_eq!(
            extract(&h, None, false),
            Ok(Credential::Session("abc".into()))
        );
        let h = headers(&[
            ("cookie", "__Host-mimir_session=abc"),
            ("authorization", "Bearer t"),
        ]);
        assert_eq!(extract(&h, None, false), Ok(Credential::Jwt("t")));
    }
}
