//! Verified bearer credentials, keyed by SHA-256 of the credential (the credential itself is never
//! kept), bounded in size, and never used past the credential's expiry. A hit costs one hash and
//! one map lookup instead of a signature check or a key-file lookup.

use quick_cache::sync::Cache;
use std::sync::Arc;

use super::principal::Principal;

pub type CacheKey = [u8; 32];

pub struct TokenCache {
    entries: Cache<CacheKey, Arc<Principal>>,
}

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Cache::new(capacity.max(1)),
        }
    }

    pub fn key(credential: &str) -> CacheKey {
        let digest = ring::digest::digest(&ring::digest::SHA256, credential.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        key
    }

    /// The cached principal if it is still valid at `now`; an expired entry is dropped.
    pub fn get(&self, key: &CacheKey, now: u64) -> Option<Arc<Principal>> {
        let principal = self.entries.get(key)?;
        if principal.valid_at(now) {
            Some(principal)
        } else {
            self.entries.remove(key);
            None
        }
    }

    pub fn insert(&self, key: CacheKey, principal: Arc<Principal>) {
        self.entries.insert(key, principal);
    }

    /// Forget everything (lockdown, key revocation).
    pub fn clear(&self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::principal::AuthMethod;

    fn principal(exp: Option<u64>) -> Principal {
        Principal {
            user_id: "u".into(),
            qualified_id: "i|u".into(),
            roles: vec![],
            method: AuthMethod::Jwt,
            issuer: None,
            key_id: None,
            expires_at: exp,
            issued_at: None,
            refresh_cookie: None,
            client: None,
        }
    }

    #[test]
    fn never_serves_past_expiry_and_stays_bounded() {
        let cache = TokenCache::new(4);
        let key = TokenCache::key("t");
        cache.insert(key, Arc::new(principal(Some(100))));
        assert!(cache.get(&key, 99).is_some());
        assert!(cache.get(&key, 100).is_none());
        assert!(cache.get(&key, 50).is_none(), "expired entry was removed");
        for i in 0..100 {
            cache.insert(TokenCache::key(&i.to_string()), Arc::new(principal(None)));
        }
        assert!(cache.entries.len() <= 4);
    }
}
