//! Token-shaped inputs of the authorization server: the grant a refresh token names
//! (`authserver::grants::grant_of`) and PKCE (`authserver::pkce::check_challenge`, `verifies`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimir_proxy::authserver::grants::grant_of;
use mimir_proxy::authserver::pkce::{check_challenge, verifies};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((id, _, mac)) = grant_of(text) {
        assert!(!id.contains('.') && !mac.contains('.'));
    }
    let (challenge, method) = text.split_once('\n').unwrap_or((text, "S256"));
    if check_challenge(Some(challenge), Some(method)).is_ok() {
        assert_eq!(method, "S256");
    }
    let _ = check_challenge(Some(text), None);
    let _ = verifies(text, challenge);
});
