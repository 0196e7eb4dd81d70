//! Per-client MCP sessions: created by `initialize`, bound to the caller's identity, bounded in
//! number (the least recently used one is evicted) and expired when idle.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CAPACITY: usize = 1024;
const IDLE_TTL: Duration = Duration::from_secs(30 * 60);

struct Session {
    protocol_version: &'static str,
    /// `X-User-ID` at `initialize`: another caller presenting the id is treated as unknown,
    /// so a leaked session id is useless to a different user.
    actor: Option<String>,
    last_seen: Instant,
}

pub struct SessionStore {
    sessions: Mutex<HashMap<String, Session>>,
    capacity: usize,
    idle_ttl: Duration,
}

impl Default for SessionStore {
    fn default() -> Self {
        Self::new(CAPACITY, IDLE_TTL)
    }
}

impl SessionStore {
    pub fn new(capacity: usize, idle_ttl: Duration) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            idle_ttl,
        }
    }

    /// Opens a session and returns its id.
    pub fn create(&self, protocol_version: &'static str, actor: Option<String>) -> String {
        let now = Instant::now();
        let mut sessions = self.lock();
        sessions.retain(|_, s| now.duration_since(s.last_seen) < self.idle_ttl);
        if sessions.len() >= self.capacity {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                sessions.remove(&id);
            }
        }
        let id = super::random_id();
        sessions.insert(
            id.clone(),
            Session {
                protocol_version,
                actor,
                last_seen: now,
            },
        );
        id
    }

    /// The negotiated protocol version of a live session of `actor`, refreshing its idle timer.
    pub fn touch(&self, id: &str, actor: Option<&str>) -> Option<&'static str> {
        let now = Instant::now();
        let mut sessions = self.lock();
        let session = sessions.get_mut(id)?;
        if now.duration_since(session.last_seen) >= self.idle_ttl {
            sessions.remove(id);
            return None;
        }
        if session.actor.as_deref() != actor {
            return None;
        }
        session.last_seen = now;
        Some(session.protocol_version)
    }

    /// Ends a live session of `actor`; false when there is none.
    pub fn remove(&self, id: &str, actor: Option<&str>) -> bool {
        if self.touch(id, actor).is_none() {
            return false;
        }
        self.lock().remove(id).is_some()
    }

    /// A poisoned lock only means another request panicked mid-update; the map stays usable.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_distinct_and_remember_the_version() {
        let store = SessionStore::default();
        let a = store.create("2025-06-18", None);
        let b = store.create("2024-11-05", None);
        assert_ne!(a, b);
        assert_eq!(store.touch(&a, None), Some("2025-06-18"));
        assert_eq!(store.touch(&b, None), Some("2024-11-05"));
        assert_eq!(store.touch("nope", None), None);
    }

    #[test]
    fn sessions_are_bound_to_the_creating_identity() {
        let store = SessionStore::default();
        let id = store.create("2025-06-18", Some("alice".into()));
        assert_eq!(store.touch(&id, Some("bob")), None);
        assert_eq!(store.touch(&id, None), None);
        assert!(!store.remove(&id, Some("bob")));
        assert_eq!(store.touch(&id, Some("alice")), Some("2025-06-18"));
    }

    #[test]
    fn removed_sessions_are_gone() {
        let store = SessionStore::default();
        let id = store.create("2025-06-18", None);
        assert!(store.remove(&id, None));
        assert!(!store.remove(&id, None));
        assert_eq!(store.touch(&id, None), None);
    }

    #[test]
    fn idle_sessions_expire() {
        let store = SessionStore::new(10, Duration::ZERO);
        let id = store.create("2025-06-18", None);
        assert_eq!(store.touch(&id, None), None);
    }

    #[test]
    fn the_least_recently_used_session_is_evicted_at_capacity() {
        let store = SessionStore::new(2, IDLE_TTL);
        let first = store.create("2025-06-18", None);
        let second = store.create("2025-06-18", None);
        std::thread::sleep(Duration::from_millis(2));
        assert!(store.touch(&first, None).is_some());
        let third = store.create("2025-06-18", None);
        assert!(
            store.touch(&second, None).is_none(),
            "least recently used is evicted"
        );
        assert!(store.touch(&first, None).is_some());
        assert!(store.touch(&third, None).is_some());
    }
}
