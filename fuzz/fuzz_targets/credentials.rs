//! Which credential a request presents (`authn::credentials::extract`, `cookie`): headers from
//! the input, one per line, the first byte of a line choosing `Authorization`, `X-API-Key` or
//! `Cookie`; the first line is the query string.
#![no_main]

use http::header::{HeaderName, HeaderValue, AUTHORIZATION, COOKIE};
use http::HeaderMap;
use libfuzzer_sys::fuzz_target;
use mimir_proxy::authn::credentials::{cookie, extract, Credential, SESSION_COOKIE};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    let mut lines = data.split(|&b| b == b'\n');
    let query = lines.next().and_then(|q| std::str::from_utf8(q).ok());
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((&which, value)) = line.split_first() else {
            continue;
        };
        let name = match which % 3 {
            0 => AUTHORIZATION,
            1 => HeaderName::from_static("x-api-key"),
            _ => COOKIE,
        };
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    let query = query.filter(|_| flags & 1 == 1);
    let found = extract(&headers, query, flags & 2 == 2);
    // `Authorization: Bearer` never yields an empty token (an empty `access_token=` in the
    // query does, and fails verification).
    if let (Ok(Credential::Jwt(token) | Credential::ClientToken(token)), None) = (found, query) {
        assert!(!token.is_empty());
    }
    let _ = cookie(&headers, SESSION_COOKIE);
});
