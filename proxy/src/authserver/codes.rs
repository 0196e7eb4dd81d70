//! Authorization codes: single use, short-lived, bound to the client, the redirect URI, the
//! PKCE challenge and the resource of the request that produced them. A used code is kept
//! until it expires so that a second use is recognised: it revokes what the first one gave
//! (RFC 6749 §4.1.2).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::authn::client_tokens::{random_token, IssueError};

pub const PREFIX: &str = "mgac_";
/// Codes held at most (each lives `oauth.code_seconds`).
const MAX_CODES: usize = 10_000;

/// The signed-in user a code was issued to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub user_id: String,
    pub qualified_id: String,
    pub issuer: String,
    /// The role or group names they signed in with.
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: String,
    pub resource: String,
    pub scopes: Option<Vec<String>>,
    pub user: User,
    pub expires_at: u64,
}

struct Entry {
    code: Code,
    /// The grant the first exchange created.
    used_by: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Redeemed {
    Fresh(Box<Code>),
    /// Used before: the grant it created (if the exchange got that far) must end.
    Reused(Option<String>),
    Unknown,
}

#[derive(Default)]
pub struct Codes {
    codes: Mutex<HashMap<String, Entry>>,
}

fn key(code: &str) -> String {
    crate::authn::apikey::hash(code)
}

impl Codes {
    pub fn issue(&self, code: Code, now: u64) -> Result<String, IssueError> {
        let value = random_token(PREFIX)?;
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        if codes.len() >= MAX_CODES {
            codes.retain(|_, e| e.code.expires_at > now);
            if codes.len() >= MAX_CODES {
                return Err(IssueError::Full);
            }
        }
        codes.insert(
            key(&value),
            Entry {
                code,
                used_by: None,
            },
        );
        Ok(value)
    }

    /// Take the code for an exchange; it stays known as used until it expires.
    pub fn redeem(&self, value: &str, now: u64) -> Redeemed {
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = codes.get_mut(&key(value)) else {
            return Redeemed::Unknown;
        };
        if entry.code.expires_at <= now {
            let used = entry.used_by.take();
            codes.remove(&key(value));
            return used.map_or(Redeemed::Unknown, |g| Redeemed::Reused(Some(g)));
        }
        if entry.used_by.is_some() {
            return Redeemed::Reused(entry.used_by.clone().filter(|g| !g.is_empty()));
        }
        entry.used_by = Some(String::new());
        Redeemed::Fresh(Box::new(entry.code.clone()))
    }

    /// Remember which grant a redeemed code created.
    pub fn created(&self, value: &str, grant_id: &str) {
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = codes.get_mut(&key(value)) {
            entry.used_by = Some(grant_id.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(expires_at: u64) -> Code {
        Code {
            client_id: "c".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            challenge: "x".into(),
            resource: "https://r".into(),
            scopes: None,
            user: User {
                user_id: "alice".into(),
                qualified_id: "dev|alice".into(),
                issuer: "i".into(),
                roles: Vec::new(),
            },
            expires_at,
        }
    }

    #[test]
    fn codes_are_single_use_and_expire() {
        let codes = Codes::default();
        let value = codes.issue(code(60), 0).unwrap();
        assert!(matches!(codes.redeem(&value, 1), Redeemed::Fresh(_)));
        codes.created(&value, "g1");
        assert_eq!(codes.redeem(&value, 2), Redeemed::Reused(Some("g1".into())));
        let late = codes.issue(code(60), 0).unwrap();
        assert_eq!(codes.redeem(&late, 60), Redeemed::Unknown);
        assert_eq!(codes.redeem("mgac_never", 0), Redeemed::Unknown);
    }
}
