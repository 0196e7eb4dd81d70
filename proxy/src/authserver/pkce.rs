//! PKCE (RFC 7636), S256 only: `plain` would hand the code to whoever sees the request.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;

/// A challenge or verifier: 43 to 128 unreserved characters (RFC 7636 §4.1).
fn well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Check the authorization request's `code_challenge` and `code_challenge_method`.
pub fn check_challenge(challenge: Option<&str>, method: Option<&str>) -> Result<(), &'static str> {
    match (challenge, method) {
        (None, _) => Err("code_challenge is required (PKCE)"),
        (Some(_), Some(m)) if m != "S256" => Err("code_challenge_method must be S256"),
        (Some(_), None) => Err("code_challenge_method must be S256"),
        (Some(c), Some(_)) if !well_formed(c) => Err("malformed code_challenge"),
        _ => Ok(()),
    }
}

/// Whether `verifier` hashes to `challenge`.
pub fn verifies(verifier: &str, challenge: &str) -> bool {
    if !well_formed(verifier) {
        return false;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let computed = URL_SAFE_NO_PAD.encode(digest.as_ref());
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_example_and_refusals() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verifies(verifier, challenge));
        assert!(!verifies(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            challenge
        ));
        assert!(!verifies("short", challenge));
        assert_eq!(check_challenge(Some(challenge), Some("S256")), Ok(()));
        assert!(check_challenge(Some(challenge), Some("plain")).is_err());
        assert!(check_challenge(Some(challenge), None).is_err());
        assert!(check_challenge(None, Some("S256")).is_err());
        assert!(check_challenge(Some("x"), Some("S256")).is_err());
    }
}
