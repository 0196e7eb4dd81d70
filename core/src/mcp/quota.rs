//! Per-user room in a store every user shares (sessions, pending confirmations): a user at their
//! cap gives up their own oldest entry, and a full store refuses a new entry rather than evict
//! another user's. User ids are compared as opaque strings; `None` (no identity) is one user.

use std::collections::HashMap;
use std::time::Instant;

/// An entry of a shared store.
pub trait Owned {
    fn owner(&self) -> Option<&str>;
    /// The entry that goes first when its owner is at the cap is the one with the earliest key.
    fn age(&self) -> Instant;
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Entries of all users together.
    pub capacity: usize,
    /// Entries of one user.
    pub per_user: usize,
}

/// The store is full of other users' entries: nothing may be added now.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// Makes room for one more entry of `owner` (expired entries must be gone already).
pub fn make_room<E: Owned>(
    entries: &mut HashMap<String, E>,
    owner: Option<&str>,
    limits: Limits,
) -> Result<(), Full> {
    let own: Vec<(&String, Instant)> = entries
        .iter()
        .filter(|(_, e)| e.owner() == owner)
        .map(|(id, e)| (id, e.age()))
        .collect();
    if own.len() >= limits.per_user.max(1) {
        if let Some(oldest) = own
            .iter()
            .min_by_key(|(_, age)| *age)
            .map(|(id, _)| (*id).clone())
        {
            entries.remove(&oldest);
        }
        return Ok(());
    }
    if entries.len() >= limits.capacity.max(1) {
        return Err(Full);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Entry(Option<&'static str>, Instant);

    impl Owned for Entry {
        fn owner(&self) -> Option<&str> {
            self.0
        }
        fn age(&self) -> Instant {
            self.1
        }
    }

    fn add(
        entries: &mut HashMap<String, Entry>,
        id: &str,
        owner: Option<&'static str>,
        limits: Limits,
    ) -> Result<(), Full> {
        make_room(entries, owner, limits)?;
        // Later than every entry held: ages follow the order of insertion.
        let age = entries
            .values()
            .map(|e| e.1 + Duration::from_millis(1))
            .max()
            .unwrap_or_else(Instant::now);
        entries.insert(id.into(), Entry(owner, age));
        Ok(())
    }

    #[test]
    fn a_user_at_the_cap_loses_only_their_own_oldest_entry() {
        let limits = Limits {
            capacity: 10,
            per_user: 2,
        };
        let mut entries = HashMap::new();
        add(&mut entries, "b1", Some("bob"), limits).unwrap();
        for id in ["a1", "a2", "a3", "a4"] {
            add(&mut entries, id, Some("alice"), limits).unwrap();
        }
        let mut ids: Vec<&str> = entries.keys().map(String::as_str).collect();
        ids.sort();
        assert_eq!(ids, ["a3", "a4", "b1"]);
        add(&mut entries, "n1", None, limits).unwrap();
        add(&mut entries, "n2", None, limits).unwrap();
        add(&mut entries, "n3", None, limits).unwrap();
        assert!(!entries.contains_key("n1") && entries.contains_key("b1"));
    }

    #[test]
    fn a_full_store_refuses_instead_of_evicting_others() {
        let limits = Limits {
            capacity: 3,
            per_user: 2,
        };
        let mut entries = HashMap::new();
        for (id, owner) in [("a1", "alice"), ("a2", "alice"), ("b1", "bob")] {
            add(&mut entries, id, Some(owner), limits).unwrap();
        }
        assert_eq!(add(&mut entries, "c1", Some("carol"), limits), Err(Full));
        assert_eq!(add(&mut entries, "b2", Some("bob"), limits), Err(Full));
        // Alice is at her cap: her new entry replaces her oldest, so it still fits.
        add(&mut entries, "a3", Some("alice"), limits).unwrap();
        let mut ids: Vec<&str> = entries.keys().map(String::as_str).collect();
        ids.sort();
        assert_eq!(ids, ["a2", "a3", "b1"]);
    }
}
