//! CSRF protection for state-changing requests authenticated by the session cookie (bearer
//! tokens and API keys are not sent by browsers on their own, so they need none). Two checks,
//! both required:
//! 1. the request comes from this origin: `Sec-Fetch-Site` (when sent) is `same-origin`, and
//!    `Origin` (when sent) is `https://<Host>`; a request with neither is refused;
//! 2. a token bound to the session (inside the encrypted cookie, readable by the page through
//!    the `__Host-mimir_csrf` cookie) comes back in `X-CSRF-Token`, or in the `csrf_token` field of
//!    the proxy's own forms.

use http::HeaderMap;
use subtle::ConstantTimeEq;

pub const HEADER: &str = "x-csrf-token";
pub const FORM_FIELD: &str = "csrf_token";

/// Methods that must not change state, so need no check.
pub fn is_safe(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Check 1: the request was sent by a page of `https://<host>`.
pub fn same_origin(headers: &HeaderMap, host: &str) -> Result<(), &'static str> {
    let site = headers.get("sec-fetch-site").map(|v| v.as_bytes());
    let origin = headers.get(http::header::ORIGIN).map(|v| v.as_bytes());
    if site.is_none() && origin.is_none() {
        return Err("no Origin or Sec-Fetch-Site header");
    }
    if site.is_some_and(|s| s != b"same-origin") {
        return Err("cross-site request");
    }
    let expected = format!("https://{host}");
    if origin.is_some_and(|o| !o.eq_ignore_ascii_case(expected.as_bytes())) {
        return Err("Origin is not this site");
    }
    Ok(())
}

/// Check 2: `presented` is the session's token.
pub fn token_matches(presented: Option<&str>, expected: &str) -> bool {
    presented.is_some_and(|p| {
        !expected.is_empty() && bool::from(p.as_bytes().ct_eq(expected.as_bytes()))
    })
}

/// Both checks for a forwarded request (token in the header).
pub fn check(
    method: &str,
    headers: &HeaderMap,
    host: &str,
    expected: &str,
) -> Result<(), &'static str> {
    if is_safe(method) {
        return Ok(());
    }
    same_origin(headers, host)?;
    let presented = headers.get(HEADER).and_then(|v| v.to_str().ok());
    if token_matches(presented, expected) {
        Ok(())
    } else {
        Err("missing or wrong X-CSRF-Token")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn unsafe_methods_need_origin_and_token() {
        let host = "mimir.example";
        let ok = [("origin", "https://mimir.example"), ("x-csrf-token", "t0k")];
        assert_eq!(check("POST", &headers(&ok), host, "t0k"), Ok(()));
        assert_eq!(check("GET", &headers(&[]), host, "t0k"), Ok(()));
        for bad in [
            vec![("x-csrf-token", "t0k")],
            vec![("origin", "https://evil.example"), ("x-csrf-token", "t0k")],
            vec![("origin", "http://mimir.example"), ("x-csrf-token", "t0k")],
            vec![("sec-fetch-site", "cross-site"), ("x-csrf-token", "t0k")],
            vec![("sec-fetch-site", "same-site"), ("x-csrf-token", "t0k")],
            vec![("origin", "https://mimir.example")],
            vec![
                ("origin", "https://mimir.example"),
                ("x-csrf-token", "other"),
            ],
        ] {
            assert!(
                check("DELETE", &headers(&bad), host, "t0k").is_err(),
                "{bad:?}"
            );
        }
        let fetch = [("sec-fetch-site", "same-origin"), ("x-csrf-token", "t0k")];
        assert_eq!(check("PUT", &headers(&fetch), host, "t0k"), Ok(()));
        assert!(!token_matches(Some(""), ""));
    }
}
