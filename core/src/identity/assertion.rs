//! Verification of the proxy's signed identity assertion (docs/identity-assertion.md): a JWT
//! signed with Ed25519, from issuer `mimir-proxy` to audience `mimir-core`, 30 s clock skew.

use crate::governance::Sensitivity;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

pub const ISSUER: &str = "mimir-proxy";
pub const AUDIENCE: &str = "mimir-core";
pub const TYPE: &str = "mimir-identity+jwt";
const LEEWAY_SECONDS: u64 = 30;

#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub roles: Vec<String>,
    pub clearance: Sensitivity,
    pub auth: String,
    pub iat: u64,
    pub exp: u64,
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

    /// The claims of a valid assertion; the error says why one is not (for the log only).
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        let header = decode_header(token).map_err(|e| format!("malformed assertion: {e}"))?;
        if header.typ.as_deref() != Some(TYPE) {
            return Err(format!("assertion type is not {TYPE}"));
        }
        let claims = decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| format!("assertion refused: {e}"))?
            .claims;
        if !super::valid_user_id(&claims.sub) {
            return Err("assertion subject is not a valid user id".into());
        }
        Ok(claims)
    }
}
