//! Which redirect URIs a client may register, and whether a presented one is registered.
//!
//! Accepted: `https` URIs; `http` only to a loopback address or `localhost` (RFC 8252 §7.3,
//! native apps listening on a local port); private-use schemes (RFC 8252 §7.1) with a dot, or
//! listed in `oauth.redirect_schemes`. Never a fragment or userinfo. A presented URI must
//! equal a registered one exactly (RFC 9700 §4.1.3), except that the port of a loopback `http`
//! URI may differ (RFC 8252 §7.3: the app picks a free port each time).

use url::{Host, Url};

/// Longest redirect URI accepted.
const MAX_URI_BYTES: usize = 2_000;

/// Schemes a browser would run or read instead of handing to an app.
const DANGEROUS_SCHEMES: &[&str] = &[
    "http",
    "https",
    "javascript",
    "data",
    "file",
    "blob",
    "about",
    "vbscript",
    "ftp",
    "ws",
    "wss",
];

/// A syntactically valid scheme that is not one of the dangerous ones.
pub fn is_private_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
        && !DANGEROUS_SCHEMES.contains(&scheme)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether `uri` may be registered.
pub fn check(uri: &str, extra_schemes: &[String]) -> Result<(), &'static str> {
    if uri.len() > MAX_URI_BYTES {
        return Err("redirect URI longer than 2000 bytes");
    }
    let url = Url::parse(uri).map_err(|_| "redirect URI is not an absolute URI")?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err("redirect URI must not have a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("redirect URI must not carry userinfo");
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err("http redirect URIs must point at a loopback address"),
        scheme
            if is_private_scheme(scheme)
                && (scheme.contains('.') || extra_schemes.iter().any(|s| s == scheme)) =>
        {
            Ok(())
        }
        _ => Err("redirect URI scheme not allowed"),
    }
}

/// Whether `presented` is one of `registered`.
pub fn is_registered(registered: &[String], presented: &str) -> bool {
    registered
        .iter()
        .any(|r| r == presented || same_loopback(r, presented))
}

/// Equal but for the port of a loopback `http` URI.
fn same_loopback(registered: &str, presented: &str) -> bool {
    let (Ok(mut r), Ok(mut p)) = (Url::parse(registered), Url::parse(presented)) else {
        return false;
    };
    if r.scheme() != "http" || !is_loopback(&r) || presented.contains('#') {
        return false;
    }
    // Compare everything else exactly, as parsed: host, path and query.
    let (Ok(()), Ok(())) = (r.set_port(None), p.set_port(None)) else {
        return false;
    };
    r == p && p.username().is_empty() && p.password().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_accepts_only_safe_uris() {
        let extra = vec!["cursor".to_owned()];
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:33418/callback",
            "http://[::1]/cb",
            "http://localhost:8080/cb",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
            "com.example.app:/callback",
        ] {
            assert_eq!(check(ok, &extra), Ok(()), "{ok}");
        }
        for bad in [
            "http://evil.example/cb",
            "https://a.example/cb#frag",
            "https://user:pw@a.example/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "myapp:/cb",
            "/relative",
            "file:///etc/passwd",
        ] {
            assert!(check(bad, &extra).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_is_exact_except_the_loopback_port() {
        let registered = vec![
            "https://app.example/cb".to_owned(),
            "http://127.0.0.1/callback".to_owned(),
        ];
        assert!(is_registered(&registered, "https://app.example/cb"));
        assert!(is_registered(&registered, "http://127.0.0.1:5555/callback"));
        for bad in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://app.example/cb#x",
            "https://app.example.evil/cb",
            "https://app.example:444/cb",
            "https://user@app.example/cb",
            "https://app.example/cbx",
            "http://127.0.0.1:5555/callback/other",
            "http://user@127.0.0.1:5555/callback",
            "http://127.0.0.1:5555/callback#x",
            "http://localhost:5555/callback",
        ] {
            assert!(!is_registered(&registered, bad), "{bad}");
        }
    }
}
