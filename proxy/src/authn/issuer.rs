//! The proxy's own token issuer, used by `/auth/login` and `/auth/token`: short-lived EdDSA JWTs
//! signed with a key from `auth.signing_key_file` or generated at start. They are verified by
//! the same code as external tokens ([`super::jwt`]), registered as one more issuer.

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;
use std::path::Path;

use super::keys::{KeySet, VerifyKey};
use crate::keys::ed25519;

/// `iss` of the proxy's tokens.
pub const ISSUER: &str = "urn:mimir-gate";
/// `aud` of the proxy's tokens when `auth.resource` is unset.
pub const DEFAULT_AUDIENCE: &str = "urn:mimir-gate:resource";

pub struct LocalIssuer {
    key: EncodingKey,
    public: Vec<u8>,
    kid: String,
    pub audience: String,
    pub lifetime: u64,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    roles: &'a [String],
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: String,
}

impl LocalIssuer {
    /// From a PKCS#8 PEM Ed25519 key file, or a new key when `key_file` is `None`.
    pub fn new(key_file: Option<&Path>, audience: &str, lifetime: u64) -> anyhow::Result<Self> {
        let pkcs8 = match key_file {
            Some(path) => ed25519::read_private_pem(path).context("auth.signing_key_file")?,
            None => ed25519::generate()?,
        };
        let public = ed25519::public_key(&pkcs8)?;
        // The key id is derived from the public key, so replicas sharing a key agree on it.
        let digest = ring::digest::digest(&ring::digest::SHA256, &public);
        let kid = crate::hexstr::encode(&digest.as_ref()[..8]);
        Ok(Self {
            key: EncodingKey::from_ed_der(&pkcs8),
            public,
            kid,
            audience: audience.to_owned(),
            lifetime,
        })
    }

    /// The verification key, for the JWT verifier.
    pub fn key_set(&self) -> KeySet {
        KeySet::new(vec![VerifyKey {
            kid: Some(self.kid.clone()),
            algorithms: vec![Algorithm::EdDSA],
            key: DecodingKey::from_ed_der(&self.public),
        }])
    }

    /// A token for `user_id` with `roles`, issued at `now`; returns it and its expiry.
    pub fn issue(
        &self,
        user_id: &str,
        roles: &[String],
        now: u64,
    ) -> anyhow::Result<(String, u64)> {
        let exp = now + self.lifetime;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into());
        let claims = Claims {
            iss: ISSUER,
            aud: &self.audience,
            sub: user_id,
            roles,
            iat: now,
            nbf: now,
            exp,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        Ok((jsonwebtoken::encode(&header, &claims, &self.key)?, exp))
    }
}
