//! The identity assertion sent to the core (docs/identity-assertion.md): a 60-second EdDSA JWT
//! stating who the caller is, its roles, clearance and how it authenticated. One assertion per
//! distinct identity is signed and reused until 10 s before it expires, so the hot path only
//! pays for a cache lookup.

use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use std::path::Path;

use crate::authn::{issuer, AuthMethod, Principal};
use crate::config::identity::{Clearance, IdentityConfig};
use crate::ed25519;

pub const ISSUER: &str = "mimir-proxy";
pub const AUDIENCE: &str = "mimir-core";
pub const TYPE: &str = "mimir-identity+jwt";
/// Lifetime of one assertion, and how long before its expiry it stops being reused.
pub const LIFETIME_SECONDS: u64 = 60;
const REUSE_MARGIN_SECONDS: u64 = 10;
/// Distinct identities remembered; a miss only costs one signature.
const CACHE_ENTRIES: usize = 10_000;

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'static str,
    aud: &'static str,
    sub: &'a str,
    roles: &'a [String],
    clearance: &'static str,
    auth: &'static str,
    iat: u64,
    exp: u64,
}

pub struct Asserter {
    key: EncodingKey,
    header: Header,
    config: IdentityConfig,
    /// (auth, clearance, sub, roles) → (header value, exp).
    cache: quick_cache::sync::Cache<String, (HeaderValue, u64)>,
}

impl Asserter {
    /// The key from `config.key_pem`, `config.signing_key_file`, or a new one.
    pub fn new(config: &IdentityConfig) -> anyhow::Result<Self> {
        let pkcs8 = match (&config.key_pem, &config.signing_key_file) {
            (Some(pem), _) => ed25519::parse_private_pem(pem)?,
            (None, Some(path)) => ed25519::read_private_pem(path)?,
            (None, None) => ed25519::generate()?,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(TYPE.into());
        Ok(Self {
            key: EncodingKey::from_ed_der(&pkcs8),
            header,
            config: config.clone(),
            cache: quick_cache::sync::Cache::new(CACHE_ENTRIES),
        })
    }

    /// The assertion for `principal` at `now`, signed now or reused.
    pub fn assert(&self, principal: &Principal, now: u64) -> anyhow::Result<HeaderValue> {
        let clearance = self.config.clearance_of(&principal.roles);
        let auth = auth_kind(principal);
        let mut key = String::with_capacity(64);
        for part in [auth, clearance.as_str(), principal.user_id.as_str()] {
            key.push_str(part);
            key.push('\n');
        }
        key.push_str(&principal.roles.join(","));
        if let Some((value, exp)) = self.cache.get(&key) {
            if now + REUSE_MARGIN_SECONDS < exp {
                return Ok(value);
            }
        }
        let (value, exp) = self.sign(principal, clearance, auth, now)?;
        self.cache.insert(key, (value.clone(), exp));
        Ok(value)
    }

    fn sign(
        &self,
        principal: &Principal,
        clearance: Clearance,
        auth: &'static str,
        now: u64,
    ) -> anyhow::Result<(HeaderValue, u64)> {
        let exp = now + LIFETIME_SECONDS;
        let claims = Claims {
            iss: ISSUER,
            aud: AUDIENCE,
            sub: &principal.user_id,
            roles: &principal.roles,
            clearance: clearance.as_str(),
            auth,
            iat: now,
            exp,
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.key)?;
        Ok((HeaderValue::try_from(token)?, exp))
    }
}

/// The `auth` claim: how the caller authenticated.
fn auth_kind(principal: &Principal) -> &'static str {
    match principal.method {
        AuthMethod::ApiKey => "api_key",
        AuthMethod::Session if principal.issuer.as_deref() == Some(issuer::ISSUER) => "dev",
        AuthMethod::Session => "session",
        AuthMethod::Jwt if principal.issuer.as_deref() == Some(issuer::ISSUER) => "proxy_token",
        AuthMethod::Jwt => "oidc",
    }
}

/// `mimir-proxy identity-keygen --out DIR`: `identity.key` (0600) and `identity.pub`.
pub fn keygen(dir: &Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    ed25519::write_pair(dir, "identity.key", "identity.pub")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    fn principal(user: &str, roles: &[&str], method: AuthMethod) -> Principal {
        Principal {
            user_id: user.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            method,
            issuer: Some("https://idp.example".into()),
            key_id: None,
            expires_at: None,
            issued_at: None,
            refresh_cookie: None,
        }
    }

    #[test]
    fn signs_verifiable_claims_and_reuses_them() {
        let (private, public) = ed25519::generate_pem_pair().unwrap();
        let asserter = Asserter::new(&IdentityConfig {
            key_pem: Some(private),
            ..IdentityConfig::default()
        })
        .unwrap();
        let alice = principal("alice", &["viewer", "developer"], AuthMethod::Jwt);
        let first = asserter.assert(&alice, 1_000).unwrap();
        assert_eq!(asserter.assert(&alice, 1_049).unwrap(), first);
        assert_ne!(asserter.assert(&alice, 1_050).unwrap(), first);

        let key = DecodingKey::from_ed_pem(public.as_bytes()).unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.validate_exp = false;
        let token =
            jsonwebtoken::decode::<serde_json::Value>(first.to_str().unwrap(), &key, &validation)
                .unwrap();
        assert_eq!(token.header.typ.as_deref(), Some(TYPE));
        let c = token.claims;
        assert_eq!(c["sub"], "alice");
        assert_eq!(c["roles"], serde_json::json!(["viewer", "developer"]));
        assert_eq!(c["clearance"], "confidential");
        assert_eq!(c["auth"], "oidc");
        assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 60);

        let key_user = principal("apikey:ci", &[], AuthMethod::ApiKey);
        let other = asserter.assert(&key_user, 1_000).unwrap();
        let c =
            jsonwebtoken::decode::<serde_json::Value>(other.to_str().unwrap(), &key, &validation)
                .unwrap()
                .claims;
        assert_eq!(
            (c["clearance"].as_str(), c["auth"].as_str()),
            (Some("public"), Some("api_key"))
        );
    }

    #[test]
    fn keygen_writes_the_pair_the_core_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = keygen(dir.path()).unwrap();
        let private = std::fs::read_to_string(key).unwrap();
        assert_eq!(
            ed25519::public_pem_of(&private).unwrap(),
            std::fs::read_to_string(public).unwrap()
        );
        assert!(
            keygen(dir.path()).is_err(),
            "an existing key is never overwritten"
        );
    }
}
