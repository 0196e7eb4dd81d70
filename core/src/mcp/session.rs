//! Per-client MCP sessions: created by `initialize`, bound to the caller's identity, bounded in
//! number per user (their least recently used one is evicted) and in total (a new one is then
//! refused), and expired when idle.

use super::quota::{self, Full, Limits, Owned};
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

impl Owned for Session {
    fn owner(&self) -> Option<&str> {
        self.actor.as_deref()
    }
    fn age(&self) -> Instant {
        self.last_seen
    }
}

pub struct SessionStore {
    sessions: Mutex<HashMap<String, Session>>,
    limits: Limits,
    idle_ttl: Duration,
}

impl SessionStore {
    /// At most `per_user` sessions per user (`MIMIR_MCP_SESSIONS_PER_USER`).
    pub fn new(per_user: usize) -> Self {
        Self::with_limits(
            Limits {
                capacity: CAPACITY,
                per_user,
            },
            IDLE_TTL,
        )
    }

    fn with_limits(limits: Limits, idle_ttl: Duration) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            limits,
            idle_ttl,
        }
    }

    /// Opens a session and returns its id; `Full` when other users hold every slot.
    pub fn create(
        &self,
        protocol_version: &'static str,
        actor: Option<String>,
    ) -> Result<String, Full> {
        let now = Instant::now();
        let mut sessions = self.lock();
        sessions.retain(|_, s| now.duration_since(s.last_seen) < self.idle_ttl);
        quota::make_room(&mut sessions, actor.as_deref(), self.limits)?;
        let id = super::random_id();
        sessions.insert(
            id.clone(),
            Session {
                protocol_version,
                actor,
                last_seen: now,
            },
        );
        Ok(id)
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

    fn limits(capacity: usize, per_user: usize) -> Limits {
        Limits { capacity, per_user }
    }

    fn store() -> SessionStore {
        SessionStore::new(CAPACITY)
    }

    #[test]
    fn sessions_are_distinct_and_remember_the_version() {
        let store = store();
        let a = store.create("2025-06-18", None).unwrap();
        let b = store.create("2024-11-05", None).unwrap();
        assert_ne!(a, b);
        assert_eq!(store.touch(&a, None), Some("2025-06-18"));
        assert_eq!(store.touch(&b, None), Some("2024-11-05"));
        assert_eq!(store.touch("nope", None), None);
    }

    #[test]
    fn sessions_are_bound_to_the_creating_identity() {
        let store = store();
        let id = store.create("2025-06-18", Some("alice".into())).unwrap();
        assert_eq!(store.touch(&id, Some("bob")), None);
        assert_eq!(store.touch(&id, None), None);
        assert!(!store.remove(&id, Some("bob")));
        assert_eq!(store.touch(&id, Some("alice")), Some("2025-06-18"));
    }

    #[test]
    fn removed_sessions_are_gone() {
        let store = store();
        let id = store.create("2025-06-18", None).unwrap();
        assert!(store.remove(&id, None));
        assert!(!store.remove(&id, None));
        assert_eq!(store.touch(&id, None), None);
    }

    #[test]
    fn idle_sessions_expire() {
        let store = SessionStore::with_limits(limits(10, 10), Duration::ZERO);
        let id = store.create("2025-06-18", None).unwrap();
        assert_eq!(store.touch(&id, None), None);
    }

    #[test]
    fn a_users_least_recently_used_session_is_evicted_at_their_cap() {
        let store = SessionStore::with_limits(limits(10, 2), IDLE_TTL);
        let bob = store.create("2025-06-18", Some("bob".into())).unwrap();
        let alice = || store.create("2025-06-18", Some("alice".into())).unwrap();
        let (first, second) = (alice(), alice());
        std::thread::sleep(Duration::from_millis(2));
        assert!(store.touch(&first, Some("alice")).is_some());
        let third = alice();
        assert!(
            store.touch(&second, Some("alice")).is_none(),
            "least recently used is evicted"
        );
        assert!(store.touch(&first, Some("alice")).is_some());
        assert!(store.touch(&third, Some("alice")).is_some());
        assert!(
            store.touch(&bob, Some("bob")).is_some(),
            "not another user's"
        );
    }

    #[test]
    fn a_full_store_refuses_a_new_session_instead_of_evicting_another_users() {
        let store = SessionStore::with_limits(limits(2, 2), IDLE_TTL);
        let alice = store.create("2025-06-18", Some("alice".into())).unwrap();
        let bob = store.create("2025-06-18", Some("bob".into())).unwrap();
        assert_eq!(store.create("2025-06-18", Some("carol".into())), Err(Full));
        assert_eq!(store.create("2025-06-18", None), Err(Full));
        assert!(store.touch(&alice, Some("alice")).is_some());
        assert!(store.touch(&bob, Some("bob")).is_some());
    }
}
