//! The identity assertion sent to the core (docs/identity-assertion.md): a 30-second EdDSA JWT
//! stating who the caller is (`<source>|<id>`), its roles, clearance and how it authenticated,
//! bound to the one request it travels with (method and a hash of the target), so a copy taken
//! off the proxy → core link serves for nothing else. One assertion per distinct identity and
//! request target is signed and reused until 10 s before it expires, so repeated requests (every
//! MCP call is `POST /mcp`) only pay for a cache lookup.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use std::path::Path;

use super::ed25519;
use super::identity_config::{Clearance, IdentityConfig};

pub const ISSUER: &str = "mimir-proxy";
pub const AUDIENCE: &str = "mimir-core";
pub const TYPE: &str = "mimir-identity+jwt";
/// Lifetime of one assertion, and how long before its expiry it stops being reused.
pub const LIFETIME_SECONDS: u64 = 30;
const REUSE_MARGIN_SECONDS: u64 = 10;
/// Distinct (identity, request) pairs remembered; a miss only costs one signature.
const CACHE_ENTRIES: usize = 10_000;

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'static str,
    aud: &'static str,
    src: &'a str,
    sub: &'a str,
    roles: &'a [String],
    clearance: &'static str,
    auth: &'static str,
    htm: &'a str,
    target_hash: &'a str,
    iat: u64,
    exp: u64,
}

/// Who an assertion names, as authentication established it ([`crate::authn`] builds it from
/// the principal).
pub struct Subject<'a> {
    /// Where the identity comes from (an issuer's source, `dev`, `apikey`).
    pub source: &'a str,
    /// `<source>|<id>`.
    pub id: &'a str,
    /// The effective roles.
    pub roles: &'a [String],
    /// How the caller authenticated: `oidc`, `session`, `api_key`, `dev`, `proxy_token`.
    pub auth: &'static str,
}

/// The request an assertion is bound to, as the upstream receives it.
pub struct Binding<'a> {
    pub method: &'a str,
    /// Path and query.
    pub target: &'a [u8],
}

pub struct Asserter {
    key: EncodingKey,
    header: Header,
    config: IdentityConfig,
    /// (auth, clearance, sub, method, target hash, roles) → (header value, exp).
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

    /// The assertion for `subject` making `request` at `now`, signed now or reused.
    pub fn assert(
        &self,
        subject: &Subject,
        request: &Binding,
        now: u64,
    ) -> anyhow::Result<HeaderValue> {
        let clearance = self.config.clearance_of(subject.roles);
        let target_hash = target_hash(request.target);
        let mut key = String::with_capacity(128);
        for part in [
            subject.auth,
            clearance.as_str(),
            subject.id,
            request.method,
            &target_hash,
        ] {
            key.push_str(part);
            key.push('\n');
        }
        for role in subject.roles {
            key.push_str(role);
            key.push(',');
        }
        if let Some((value, exp)) = self.cache.get(&key) {
            if now + REUSE_MARGIN_SECONDS < exp {
                return Ok(value);
            }
        }
        let bound = (request.method, target_hash.as_str());
        let (value, exp) = self.sign(subject, clearance, bound, now)?;
        self.cache.insert(key, (value.clone(), exp));
        Ok(value)
    }

    fn sign(
        &self,
        subject: &Subject,
        clearance: Clearance,
        (htm, target_hash): (&str, &str),
        now: u64,
    ) -> anyhow::Result<(HeaderValue, u64)> {
        let exp = now + LIFETIME_SECONDS;
        let claims = Claims {
            iss: ISSUER,
            aud: AUDIENCE,
            src: subject.source,
            sub: subject.id,
            roles: subject.roles,
            clearance: clearance.as_str(),
            auth: subject.auth,
            htm,
            target_hash,
            iat: now,
            exp,
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.key)?;
        Ok((HeaderValue::try_from(token)?, exp))
    }
}

/// The `target_hash` claim: SHA-256 of the request target, base64url without padding.
fn target_hash(target: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, target))
}

/// `mimir-proxy identity-keygen --out DIR`: `identity.key` (0600) and `identity.pub`.
pub fn keygen(dir: &Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    ed25519::write_pair(dir, "identity.key", "identity.pub")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::json;

    #[test]
    fn signs_verifiable_claims_and_reuses_them() {
        let (private, public) = ed25519::generate_pem_pair().unwrap();
        let asserter = Asserter::new(&IdentityConfig {
            key_pem: Some(private),
            ..IdentityConfig::default()
        })
        .unwrap();
        let roles = ["viewer".to_owned(), "developer".to_owned()];
        let alice = Subject {
            source: "idp",
            id: "idp|alice",
            roles: &roles,
            auth: "oidc",
        };
        let export = Binding {
            method: "GET",
            target: b"/api/privacy/export?user=idp%7Calice",
        };
        let first = asserter.assert(&alice, &export, 1_000).unwrap();
        assert_eq!(asserter.assert(&alice, &export, 1_019).unwrap(), first);
        assert_ne!(asserter.assert(&alice, &export, 1_020).unwrap(), first);
        let erase = Binding {
            method: "DELETE",
            target: b"/api/privacy/user/idp%7Calice",
        };
        let other_request = asserter.assert(&alice, &erase, 1_000).unwrap();
        assert_ne!(
            other_request, first,
            "bound to its request, not reused for another"
        );

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
        assert_eq!((&c["src"], &c["sub"]), (&json!("idp"), &json!("idp|alice")));
        assert_eq!(c["roles"], json!(["viewer", "developer"]));
        assert_eq!(c["clearance"], "confidential");
        assert_eq!(c["auth"], "oidc");
        assert_eq!(c["htm"], "GET");
        // `printf %s TARGET | openssl dgst -sha256 -binary | basenc --base64url`, unpadded.
        assert_eq!(
            c["target_hash"],
            "Xg6NalhS6ZDav7R2aO6pUX_scUj41qXANFGIo21joic"
        );
        assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 30);

        let key_user = Subject {
            source: "apikey",
            id: "apikey|ci",
            roles: &[],
            auth: "api_key",
        };
        let other = asserter.assert(&key_user, &export, 1_000).unwrap();
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
