//! Verification of the proxy's signed identity assertion (docs/identity-assertion.md): a JWT
//! signed with Ed25519, from issuer `mimir-proxy` to audience `mimir-core`, 10 s clock skew,
//! naming a source-qualified subject and bound to the request it arrived with.

use crate::governance::Sensitivity;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub const ISSUER: &str = "mimir-proxy";
pub const AUDIENCE: &str = "mimir-core";
pub const TYPE: &str = "mimir-identity+jwt";
/// Ends the source in a user id (`<source>|<subject>`).
pub const SOURCE_SEPARATOR: char = '|';
/// Proxy and core run side by side (same host or pod): their clocks agree closely, and every
/// second of skew allowed is a second more in which a copied assertion could be replayed.
const LEEWAY_SECONDS: u64 = 10;

#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// Where the identity comes from (an issuer, `dev`, `apikey`).
    pub src: String,
    /// The user id: `<src>|<subject within the source>`.
    pub sub: String,
    pub roles: Vec<String>,
    pub clearance: Sensitivity,
    pub auth: String,
    /// The method and the SHA-256 (base64url) of the target of the one request it vouches for.
    pub htm: String,
    pub target_hash: String,
    pub iat: u64,
    pub exp: u64,
}

/// The request an assertion arrived with.
pub struct Request<'a> {
    pub method: &'a str,
    /// Path and query, as received.
    pub target: &'a str,
}

pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl Verifier {
    /// From the proxy's public key as SPKI PEM.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let key = DecodingKey::from_ed_pem(pem.as_bytes())
            .map_err(|e| format!("not an Ed25519 public key in SPKI PEM form ({e})"))?;
        // Only EdDSA: the algorithm is fixed here, never taken from the token's header.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Self { key, validation })
    }

    /// The claims of a valid assertion for `request`; the error says why there are none (for
    /// the log only).
    pub fn verify(&self, token: &str, request: &Request) -> Result<Claims, String> {
        let header = decode_header(token).map_err(|e| format!("malformed assertion: {e}"))?;
        if header.typ.as_deref() != Some(TYPE) {
            return Err(format!("assertion type is not {TYPE}"));
        }
        let claims = decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| format!("assertion refused: {e}"))?
            .claims;
        if !super::valid_user_id(&claims.sub) || !qualified_by(&claims.sub, &claims.src) {
            return Err("assertion subject is not a valid user id of its source".into());
        }
        if claims.htm != request.method || claims.target_hash != target_hash(request.target) {
            return Err("assertion is bound to another request".into());
        }
        Ok(claims)
    }
}

/// Whether `sub` is `<src>|<something>` and `src` is a source (no separator of its own).
fn qualified_by(sub: &str, src: &str) -> bool {
    !src.is_empty()
        && !src.contains(SOURCE_SEPARATOR)
        && sub
            .strip_prefix(src)
            .and_then(|rest| rest.strip_prefix(SOURCE_SEPARATOR))
            .is_some_and(|subject| !subject.is_empty())
}

/// The `target_hash` claim's value for `target`.
fn target_hash(target: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(target.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_must_carry_their_source() {
        assert!(qualified_by("corp|1234", "corp"));
        assert!(qualified_by(
            "https://idp.example|a|b",
            "https://idp.example"
        ));
        for (sub, src) in [("1234", "corp"), ("corp|", "corp"), ("corpx|1", "corp")] {
            assert!(!qualified_by(sub, src), "{sub} of {src}");
        }
        assert!(
            !qualified_by("a|b|c", "a|b"),
            "a source never holds the separator"
        );
        assert!(!qualified_by("|x", ""));
    }

    #[test]
    fn the_target_hash_matches_the_proxy() {
        // The same vector as the proxy's assertion test.
        assert_eq!(
            target_hash("/api/privacy/export?user=idp%7Calice"),
            "Xg6NalhS6ZDav7R2aO6pUX_scUj41qXANFGIo21joic"
        );
    }
}
