//! Browser sessions ended by a sign-out. The session itself lives in the client's cookie, so a
//! copy taken before the sign-out (a stolen cookie, a shared machine) would stay valid until it
//! expires; the proxy remembers each ended session until then and refuses it.
//!
//! Bounded: entries leave when their session would have expired anyway. Past the bound, the
//! entry closest to its expiry is forgotten first (the least useful copy to an attacker).
//! Per process: with several replicas, `mimir-proxy lockdown` is what ends every session
//! everywhere at once.

use std::collections::HashMap;
use std::sync::Mutex;

/// Sign-outs remembered at most (about 48 bytes each).
const CAPACITY: usize = 100_000;

type SessionId = [u8; 32];

#[derive(Default)]
pub struct Revoked {
    /// Session id → the session's absolute expiry (Unix seconds).
    ended: Mutex<HashMap<SessionId, u64>>,
}

impl Revoked {
    /// A session's id: a digest of its random per-session secret, never the secret itself.
    pub fn id(secret: &str) -> SessionId {
        let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
        let mut id = [0u8; 32];
        id.copy_from_slice(digest.as_ref());
        id
    }

    /// Remember that the session `id`, valid until `exp`, has ended.
    pub fn revoke(&self, id: SessionId, exp: u64, now: u64) {
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        if ended.len() >= CAPACITY {
            ended.retain(|_, &mut until| until > now);
        }
        if ended.len() >= CAPACITY {
            if let Some(soonest) = ended
                .iter()
                .min_by_key(|(_, &until)| until)
                .map(|(k, _)| *k)
            {
                ended.remove(&soonest);
            }
        }
        ended.insert(id, exp);
    }

    pub fn is_revoked(&self, id: &SessionId) -> bool {
        let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        ended.contains_key(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_sessions_stay_refused_and_the_set_stays_bounded() {
        let revoked = Revoked::default();
        let id = Revoked::id("secret-a");
        assert!(!revoked.is_revoked(&id));
        revoked.revoke(id, 1_000, 10);
        assert!(revoked.is_revoked(&id));
        assert!(!revoked.is_revoked(&Revoked::id("secret-b")));

        for i in 0..CAPACITY as u64 {
            revoked.revoke(Revoked::id(&i.to_string()), 20, 10);
        }
        // Full: the expired ones go first, and the long-lived entry stays.
        revoked.revoke(Revoked::id("late"), 2_000, 30);
        assert!(revoked.is_revoked(&id));
        assert!(revoked.is_revoked(&Revoked::id("late")));
        assert!(revoked.ended.lock().unwrap().len() <= 2);
    }
}
