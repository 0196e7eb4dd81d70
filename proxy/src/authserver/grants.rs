//! A grant: one user's permission for one client, from the code exchange until it expires or
//! is revoked. Its refresh tokens are `mgrt_<grant id>.<generation>.<MAC>`, the MAC keyed by a
//! secret of the grant: each refresh moves the grant to the next generation, so a token of an
//! earlier generation is a spent one, and presenting it revokes the grant (RFC 9700 §4.14.2).
//! Nothing but the grant's key and current generation is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::hexstr;

pub const REFRESH_PREFIX: &str = "mgrt_";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    /// The user as their source names them, and as the core knows them.
    pub user_id: String,
    pub qualified_id: String,
    /// The issuer the user signed in with (the gateway's own for dev users).
    pub issuer: String,
    /// The role or group names the user signed in with.
    pub roles: Vec<String>,
    /// Granted scopes (role names); `None`: every role the user holds.
    pub scopes: Option<Vec<String>>,
    /// The resource (RFC 8707) the tokens are for.
    pub resource: String,
    pub created_at: u64,
    pub expires_at: u64,
    pub generation: u64,
    /// Hex key of the refresh tokens' MAC.
    key: String,
}

/// What a presented refresh token is.
#[derive(Debug, PartialEq, Eq)]
pub enum Refresh<'a> {
    /// The grant's current token.
    Current(&'a str),
    /// A token of this grant that was already used: the grant must end.
    Spent(&'a str),
    /// Not a token of any grant.
    Unknown,
}

pub fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| anyhow::anyhow!("system random number generator failed"))?;
    Ok(hexstr::encode(&buf))
}

impl Grant {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client_id: &str,
        user_id: &str,
        qualified_id: &str,
        issuer: &str,
        roles: &[String],
        scopes: Option<Vec<String>>,
        resource: &str,
        now: u64,
        lifetime: u64,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            id: random_hex(12)?,
            client_id: client_id.to_owned(),
            user_id: user_id.to_owned(),
            qualified_id: qualified_id.to_owned(),
            issuer: issuer.to_owned(),
            roles: roles.to_vec(),
            scopes,
            resource: resource.to_owned(),
            created_at: now,
            expires_at: now + lifetime,
            generation: 0,
            key: random_hex(32)?,
        })
    }

    fn mac(&self, generation: u64) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.key.as_bytes());
        let tag = hmac::sign(&key, format!("{}.{generation}", self.id).as_bytes());
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// The refresh token of the current generation.
    pub fn refresh_token(&self) -> String {
        format!(
            "{REFRESH_PREFIX}{}.{}.{}",
            self.id,
            self.generation,
            self.mac(self.generation)
        )
    }

    /// The scope string of the grant (`None`: all the user's roles).
    pub fn scope(&self) -> Option<String> {
        self.scopes.as_ref().map(|s| s.join(" "))
    }
}

/// The grant id a refresh token names, if it is shaped like one.
pub fn grant_of(token: &str) -> Option<(&str, u64, &str)> {
    let rest = token.strip_prefix(REFRESH_PREFIX)?;
    let mut parts = rest.split('.');
    let (Some(id), Some(generation), Some(mac), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some((id, generation.parse().ok()?, mac))
}

/// Classify `token` against `grant` (the grant its id names).
pub fn classify<'a>(grant: &'a Grant, generation: u64, mac: &str) -> Refresh<'a> {
    if generation > grant.generation
        || !bool::from(grant.mac(generation).as_bytes().ct_eq(mac.as_bytes()))
    {
        return Refresh::Unknown;
    }
    if generation == grant.generation {
        Refresh::Current(&grant.id)
    } else {
        Refresh::Spent(&grant.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_rotate_and_spent_ones_are_recognised() {
        let mut grant = Grant::new(
            "c",
            "alice",
            "dev|alice",
            "i",
            &[],
            None,
            "https://r",
            0,
            100,
        )
        .unwrap();
        let first = grant.refresh_token();
        let (id, generation, mac) = grant_of(&first).unwrap();
        assert_eq!(id, grant.id);
        assert_eq!(
            classify(&grant, generation, mac),
            Refresh::Current(&grant.id)
        );
        grant.generation += 1;
        let (_, generation, mac) = grant_of(&first).unwrap();
        assert_eq!(classify(&grant, generation, mac), Refresh::Spent(&grant.id));
        let second = grant.refresh_token();
        let (_, generation, mac) = grant_of(&second).unwrap();
        assert_eq!(
            classify(&grant, generation, mac),
            Refresh::Current(&grant.id)
        );
        // A forged MAC, or a generation that was never issued, is nobody's token.
        assert_eq!(classify(&grant, 0, "AAAA"), Refresh::Unknown);
        assert_eq!(classify(&grant, 2, mac), Refresh::Unknown);
        assert!(grant_of("mgrt_x.notanumber.y").is_none());
        assert!(grant_of("mgrt_x.1.y.z").is_none());
    }
}
