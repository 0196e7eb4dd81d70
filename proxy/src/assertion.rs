//! The identity assertion sent to the core (docs/identity-assertion.md): a 60-second EdDSA JWT
//! stating who the caller is, its roles, clearance and how it authenticated. One assertion per
//! distinct identity is signed and reused until 10 s before it expires, so the hot path only
//! pays for a cache lookup.

use anyhow::Context;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::Serialize;
use std::path::Path;

use crate::authn::{issuer, AuthMethod, Principal};
use crate::config::identity::{Clearance, IdentityConfig};

pub const ISSUER: &str = "mimir-proxy";
pub const AUDIENCE: &str = "mimir-core";
pub const TYPE: &str = "mimir-identity+jwt";
/// Lifetime of one assertion, and how long before its expiry it stops being reused.
pub const LIFETIME_SECONDS: u64 = 60;
const REUSE_MARGIN_SECONDS: u64 = 10;
/// Distinct identities remembered; a miss only costs one signature.
const CACHE_ENTRIES: usize = 10_000;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), followed by the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

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
            (Some(pem), _) => parse_private_pem(pem)?,
            (None, Some(path)) => read_key_file(path)?,
            (None, None) => generate_pkcs8()?,
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

/// A new Ed25519 key, PKCS#8 DER.
fn generate_pkcs8() -> anyhow::Result<Vec<u8>> {
    let rng = ring::rand::SystemRandom::new();
    Ok(Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| anyhow::anyhow!("cannot generate an Ed25519 key"))?
        .as_ref()
        .to_vec())
}

/// A new key pair as (PKCS#8 PEM private key, SPKI PEM public key).
pub fn generate_pem_pair() -> anyhow::Result<(String, String)> {
    let pkcs8 = generate_pkcs8()?;
    let public = public_pem(&pkcs8)?;
    Ok((pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8)), public))
}

/// The SPKI PEM public key of a PKCS#8 PEM private key.
pub fn public_pem_of(private_pem: &str) -> anyhow::Result<String> {
    public_pem(&parse_private_pem(private_pem)?)
}

fn public_pem(pkcs8: &[u8]) -> anyhow::Result<String> {
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .map_err(|e| anyhow::anyhow!("not a PKCS#8 Ed25519 key: {e}"))?;
    let mut spki = ED25519_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(pair.public_key().as_ref());
    Ok(pem::encode(&pem::Pem::new("PUBLIC KEY", spki)))
}

fn parse_private_pem(text: &str) -> anyhow::Result<Vec<u8>> {
    let pem = pem::parse(text).context("not a PEM file")?;
    anyhow::ensure!(
        pem.tag() == "PRIVATE KEY",
        "expected a PKCS#8 \"PRIVATE KEY\" PEM block, found {:?}",
        pem.tag()
    );
    let der = pem.contents().to_vec();
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
        .map_err(|e| anyhow::anyhow!("not a PKCS#8 Ed25519 key: {e}"))?;
    Ok(der)
}

/// Read and check a PKCS#8 PEM Ed25519 key file.
pub fn read_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_private_pem(&text).with_context(|| path.display().to_string())
}

/// `mimir-proxy identity-keygen --out DIR`: `identity.key` (0600) and `identity.pub`.
pub fn keygen(dir: &Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (private, public) = generate_pem_pair()?;
    let key_path = dir.join("identity.key");
    let pub_path = dir.join("identity.pub");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .and_then(|mut f| f.write_all(private.as_bytes()))
        .with_context(|| format!("cannot create {}", key_path.display()))?;
    std::fs::write(&pub_path, public)
        .with_context(|| format!("cannot write {}", pub_path.display()))?;
    Ok((key_path, pub_path))
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
        let (private, public) = generate_pem_pair().unwrap();
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
    fn keygen_writes_a_private_key_only_the_owner_reads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = keygen(dir.path()).unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let pkcs8 = read_key_file(&key).unwrap();
        assert_eq!(
            public_pem(&pkcs8).unwrap(),
            std::fs::read_to_string(public).unwrap()
        );
        assert!(
            keygen(dir.path()).is_err(),
            "an existing key is never overwritten"
        );
    }
}
