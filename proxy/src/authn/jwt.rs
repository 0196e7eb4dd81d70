//! Bearer JWT verification for several issuers at once. The issuer is picked from the unverified
//! `iss` claim only to choose the policy; everything is then checked against that policy: the
//! algorithm is on its allow-list (asymmetric only), the key comes from its own key set (never
//! from `jku`/`x5u`/`jwk`/`x5c` headers, which are ignored), `crit` is refused (no extension is
//! understood), `exp`, `iss`, `aud` and `sub` are required, `exp`/`nbf`/`iat` are checked with
//! the configured leeway, and `aud` must name this resource.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};

use super::config::parse_algorithm;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

use super::claims::{self, ClaimPath};
use super::jwks::RemoteKeys;
use super::keys::KeySet;
use super::principal::{AuthMethod, Principal};
use super::source;
use crate::request::header_value::is_header_safe;

/// Why a token was refused; logged (never the token), the client only sees "invalid token".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token longer than the limit")]
    TooLong,
    #[error("not a compact JWS")]
    Malformed,
    #[error("unsupported or disallowed algorithm")]
    Algorithm,
    #[error("critical header extension not understood")]
    Critical,
    #[error("unexpected token type")]
    Type,
    #[error("unknown issuer")]
    UnknownIssuer,
    #[error("no key for this kid and algorithm")]
    UnknownKey,
    #[error("claims rejected: {0}")]
    Claims(String),
    #[error("issued in the future")]
    IssuedInFuture,
    #[error("subject missing or unusable")]
    Subject,
}

pub enum KeySource {
    Static(KeySet),
    Remote(Arc<RemoteKeys>),
}

pub struct IssuerPolicy {
    pub issuer: String,
    /// The source of this issuer's users ([`super::source`]).
    source: String,
    /// One prepared validation per allowed algorithm.
    validations: HashMap<Algorithm, Validation>,
    keys: KeySource,
    user_claim: ClaimPath,
    role_claims: Vec<ClaimPath>,
    /// Tokens of the proxy's own issuer are subject to lockdown.
    pub local: bool,
}

impl IssuerPolicy {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        issuer: &str,
        source: &str,
        audiences: &[String],
        algorithms: &[Algorithm],
        keys: KeySource,
        user_claim: &str,
        role_claims: &[String],
        leeway: u64,
        local: bool,
    ) -> Self {
        let validations = algorithms
            .iter()
            .map(|alg| {
                let mut v = Validation::new(*alg);
                v.leeway = leeway;
                v.validate_exp = true;
                v.validate_nbf = true;
                v.set_issuer(&[issuer]);
                v.set_audience(audiences);
                v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                (*alg, v)
            })
            .collect();
        Self {
            issuer: issuer.to_owned(),
            source: source.to_owned(),
            validations,
            keys,
            user_claim: ClaimPath::parse(user_claim),
            role_claims: role_claims.iter().map(|p| ClaimPath::parse(p)).collect(),
            local,
        }
    }
}

pub struct JwtVerifier {
    issuers: HashMap<String, IssuerPolicy>,
    leeway: u64,
    max_token_bytes: usize,
}

impl JwtVerifier {
    pub fn new(issuers: Vec<IssuerPolicy>, leeway: u64, max_token_bytes: usize) -> Self {
        Self {
            issuers: issuers.into_iter().map(|p| (p.issuer.clone(), p)).collect(),
            leeway,
            max_token_bytes,
        }
    }

    pub fn issuer(&self, iss: &str) -> Option<&IssuerPolicy> {
        self.issuers.get(iss)
    }

    /// Verify `token` at `now` (unix seconds) and return who it names.
    pub async fn verify(&self, token: &str, now: u64) -> Result<Principal, JwtError> {
        if token.len() > self.max_token_bytes {
            return Err(JwtError::TooLong);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(_sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header = decode_object(header)?;
        let (alg, kid) = check_header(&header)?;
        let unverified = decode_object(payload)?;
        let policy = unverified
            .get("iss")
            .and_then(Value::as_str)
            .and_then(|iss| self.issuers.get(iss))
            .ok_or(JwtError::UnknownIssuer)?;
        let validation = policy.validations.get(&alg).ok_or(JwtError::Algorithm)?;
        let claims = match &policy.keys {
            KeySource::Static(keys) => decode(token, keys, kid, alg, validation)?,
            KeySource::Remote(remote) => {
                if remote.stale() && !remote.keys().is_empty() {
                    let remote = remote.clone();
                    tokio::spawn(async move { remote.refresh().await });
                }
                match decode(token, &remote.keys(), kid, alg, validation) {
                    Err(JwtError::UnknownKey) if remote.refresh().await => {
                        decode(token, &remote.keys(), kid, alg, validation)?
                    }
                    other => other?,
                }
            }
        };
        self.principal(policy, &claims, now)
    }

    fn principal(
        &self,
        policy: &IssuerPolicy,
        claims: &Map<String, Value>,
        now: u64,
    ) -> Result<Principal, JwtError> {
        // The signature library compares `exp` and `nbf` only when it reads them as integers and
        // lets anything else pass (a decimal `exp` would never expire, also in the token cache):
        // every date must be a whole number of seconds.
        let exp = numeric_date(claims, "exp")?.ok_or(JwtError::Claims("exp is required".into()))?;
        numeric_date(claims, "nbf")?;
        let iat = numeric_date(claims, "iat")?;
        if iat.is_some_and(|iat| iat > now + self.leeway) {
            return Err(JwtError::IssuedInFuture);
        }
        let user_id = policy
            .user_claim
            .lookup(claims)
            .and_then(Value::as_str)
            .filter(|id| is_header_safe(id, false))
            .ok_or(JwtError::Subject)?;
        let mut roles = Vec::new();
        for path in &policy.role_claims {
            if let Some(value) = path.lookup(claims) {
                claims::roles_in(value, &mut roles);
            }
        }
        roles.retain(|role| is_header_safe(role, true));
        Ok(Principal {
            user_id: user_id.to_owned(),
            qualified_id: source::qualify(&policy.source, user_id),
            roles,
            method: AuthMethod::Jwt,
            issuer: Some(policy.issuer.clone()),
            key_id: None,
            expires_at: Some(exp),
            issued_at: iat,
            refresh_cookie: None,
            client: None,
        })
    }
}

/// The claim `name` as an RFC 7519 NumericDate in whole seconds; present but anything else
/// (decimal, negative, string, beyond u64) is refused.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, JwtError> {
    claims
        .get(name)
        .map(|v| {
            v.as_u64()
                .ok_or_else(|| JwtError::Claims(format!("{name} is not a whole number of seconds")))
        })
        .transpose()
}

fn decode_object(segment: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

/// The algorithm and key id, after refusing what must not be accepted.
fn check_header(header: &Map<String, Value>) -> Result<(Algorithm, Option<&str>), JwtError> {
    if header.contains_key("crit") {
        return Err(JwtError::Critical);
    }
    if let Some(typ) = header.get("typ") {
        let typ = typ.as_str().ok_or(JwtError::Type)?.to_ascii_lowercase();
        let typ = typ.strip_prefix("application/").unwrap_or(&typ);
        if typ != "jwt" && typ != "at+jwt" {
            return Err(JwtError::Type);
        }
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(JwtError::Algorithm)?;
    let alg = parse_algorithm(alg).map_err(|_| JwtError::Algorithm)?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(JwtError::Malformed),
    };
    Ok((alg, kid))
}

fn decode(
    token: &str,
    keys: &KeySet,
    kid: Option<&str>,
    alg: Algorithm,
    validation: &Validation,
) -> Result<Map<String, Value>, JwtError> {
    let key = keys.select(kid, alg).ok_or(JwtError::UnknownKey)?;
    jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
        .map(|data| data.claims)
        .map_err(|e| JwtError::Claims(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_allow_list() {
        assert_eq!(parse_algorithm("RS256"), Ok(Algorithm::RS256));
        assert_eq!(parse_algorithm("EdDSA"), Ok(Algorithm::EdDSA));
        for bad in [
            "HS256", "HS512", "none", "None", "NONE", "rs256", "ES512", "",
        ] {
            assert!(parse_algorithm(bad).is_err(), "{bad}");
        }
    }
}
