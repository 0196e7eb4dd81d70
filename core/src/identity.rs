//! The caller's identity as asserted by the proxy. The core trusts nothing else.

use axum::http::HeaderMap;

pub const USER_ID_HEADER: &str = "x-user-id";

/// The verified user id from `X-User-ID`, or `None` when absent or malformed
/// (empty, longer than 256 bytes, or containing control characters).
pub fn actor(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(USER_ID_HEADER)?.to_str().ok()?.trim();
    let valid = !value.is_empty() && value.len() <= 256 && !value.chars().any(char::is_control);
    valid.then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(USER_ID_HEADER, value.parse().unwrap());
        h
    }

    #[test]
    fn reads_valid_and_rejects_malformed() {
        assert_eq!(actor(&headers("alice")).as_deref(), Some("alice"));
        assert_eq!(actor(&headers("   ")), None);
        assert_eq!(actor(&headers(&"a".repeat(300))), None);
        assert_eq!(actor(&HeaderMap::new()), None);
    }
}
