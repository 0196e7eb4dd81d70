//! Access tokens the gateway's authorization server ([`crate::authserver`]) issued to OAuth
//! clients: opaque `mgat_<256 random bits>`, remembered by SHA-256 with the principal they stand
//! for. Checking one costs what an API key costs (a hash and a lookup), and revoking a grant,
//! a client or a user removes its tokens at once. They live in memory: a restart ends them, and
//! clients renew them with their refresh token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::principal::Principal;

pub const PREFIX: &str = "mgat_";
const SECRET_BYTES: usize = 32;

type Digest = [u8; 32];

struct Entry {
    principal: Arc<Principal>,
    expires_at: u64,
}

pub struct ClientTokens {
    tokens: RwLock<HashMap<Digest, Entry>>,
    max_entries: usize,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("too many live access tokens")]
    Full,
    #[error("system random number generator failed")]
    Random,
}

fn digest(token: &str) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref());
    out
}

/// A new random token `<prefix><43 base64url characters>`.
pub fn random_token(prefix: &str) -> Result<String, IssueError> {
    let mut secret = [0u8; SECRET_BYTES];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| IssueError::Random)?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(secret)))
}

impl ClientTokens {
    pub fn new(max_entries: usize) -> Self {
        Self {
            tokens: RwLock::new(HashMap::new()),
            max_entries,
        }
    }

    /// A new token for `principal` (whose `expires_at` is its expiry). When the table is full,
    /// expired tokens are dropped first; a table full of live ones refuses.
    pub fn issue(&self, principal: Principal, now: u64) -> Result<String, IssueError> {
        let expires_at = principal.expires_at.unwrap_or(now);
        let token = random_token(PREFIX)?;
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= self.max_entries {
            tokens.retain(|_, e| e.expires_at > now);
            if tokens.len() >= self.max_entries {
                return Err(IssueError::Full);
            }
        }
        let principal = Arc::new(principal);
        tokens.insert(
            digest(&token),
            Entry {
                principal,
                expires_at,
            },
        );
        Ok(token)
    }

    /// The principal of a live token.
    pub fn verify(&self, token: &str, now: u64) -> Option<Arc<Principal>> {
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(&digest(token))
            .filter(|e| now < e.expires_at)
            .map(|e| e.principal.clone())
    }

    /// Ends every token whose grant `revoked` names; returns how many.
    pub fn revoke_where(&self, revoked: impl Fn(&Principal) -> bool) -> usize {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        let before = tokens.len();
        tokens.retain(|_, e| !revoked(&e.principal));
        before - tokens.len()
    }

    /// Ends the one token `token` (RFC 7009), if it exists; returns its grant's principal.
    pub fn remove(&self, token: &str) -> Option<Arc<Principal>> {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        tokens.remove(&digest(token)).map(|e| e.principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::principal::{AuthMethod, ClientGrant};

    fn principal(grant: &str, exp: u64) -> Principal {
        Principal {
            user_id: "alice".into(),
            qualified_id: "dev|alice".into(),
            roles: vec!["viewer".into()],
            method: AuthMethod::OAuthClient,
            issuer: None,
            key_id: None,
            expires_at: Some(exp),
            issued_at: Some(0),
            refresh_cookie: None,
            client: Some(Arc::new(ClientGrant {
                grant_id: grant.into(),
                client_id: "c".into(),
                scopes: None,
                user_roles: Vec::new(),
            })),
        }
    }

    #[test]
    fn tokens_expire_are_revoked_and_are_bounded() {
        let tokens = ClientTokens::new(2);
        let a = tokens.issue(principal("g1", 100), 0).unwrap();
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43);
        assert_eq!(tokens.verify(&a, 99).unwrap().user_id, "alice");
        assert!(tokens.verify(&a, 100).is_none(), "expired");
        assert!(tokens.verify("mgat_forged", 0).is_none());
        let b = tokens.issue(principal("g2", 100), 0).unwrap();
        assert_eq!(tokens.issue(principal("g3", 100), 0), Err(IssueError::Full));
        let grant = |p: &Principal| p.client.as_ref().unwrap().grant_id == "g1";
        assert_eq!(tokens.revoke_where(grant), 1);
        assert!(tokens.verify(&a, 0).is_none());
        assert!(tokens.remove(&b).is_some());
        assert!(tokens.verify(&b, 0).is_none());
        let c = tokens.issue(principal("g3", 100), 0).unwrap();
        tokens.issue(principal("g4", 100), 0).unwrap();
        // Once they expired, their room is reused.
        assert!(tokens.issue(principal("g5", 300), 150).is_ok());
        assert!(tokens.verify(&c, 0).is_none());
    }
}
