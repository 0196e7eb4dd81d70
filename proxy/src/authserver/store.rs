//! What the authorization server keeps across restarts: registered clients, grants and
//! consents, in one JSON file replaced atomically (mode 0600). It holds hashes and per-grant
//! keys, never a token.
//!
//! Registrations, new grants, consents and every removal are written before the answer
//! ([`Store::update`]): a revoked grant must never come back after a restart. A refresh token's
//! rotation is written within [`FLUSH_INTERVAL`] instead ([`Store::update_soon`]): rewriting the
//! file for each refresh cost 1 700 times the refresh itself. A crash in between only loses
//! rotations, so the clients concerned are refused and sign in again.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::clients::Client;
use super::grants::Grant;
use crate::authn::keystore::write_private;

/// A user's consent to a client acting with `scopes` (role names; `None`: all their roles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The user, as the core knows them (`<source>|<id>`).
    pub user: String,
    pub client_id: String,
    pub scopes: Option<Vec<String>>,
    pub at: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct State {
    /// Dynamically registered clients, by id.
    pub clients: BTreeMap<String, Client>,
    /// Grants, by id.
    pub grants: BTreeMap<String, Grant>,
    pub consents: Vec<Consent>,
}

impl State {
    /// The file at `path`; a missing file is an empty state.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not an OAuth state file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }
}

/// Longest a rotation waits to be written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

pub struct Store {
    path: PathBuf,
    state: Mutex<State>,
    /// Changed in memory since the last write.
    dirty: AtomicBool,
}

impl Store {
    /// The state in `path`, with a thread writing what [`Self::update_soon`] changed.
    pub fn open(path: PathBuf) -> anyhow::Result<Arc<Self>> {
        let state = State::load(&path).context("oauth.state_file")?;
        let store = Arc::new(Self {
            path,
            state: Mutex::new(state),
            dirty: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&store);
        std::thread::Builder::new()
            .name("oauth-state".into())
            .spawn(move || loop {
                std::thread::sleep(FLUSH_INTERVAL);
                let Some(store) = weak.upgrade() else {
                    return;
                };
                if store.dirty.swap(false, Ordering::AcqRel) {
                    store.write(&store.lock());
                }
            })?;
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    /// Change the state and write it out before returning. A failed write is logged: the
    /// change holds in memory, and the next successful write carries it.
    pub fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.lock();
        let result = f(&mut state);
        self.dirty.store(false, Ordering::Release);
        self.write(&state);
        result
    }

    /// Change the state; it is written within [`FLUSH_INTERVAL`].
    pub fn update_soon<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = f(&mut self.lock());
        self.dirty.store(true, Ordering::Release);
        result
    }

    fn write(&self, state: &State) {
        let written = serde_json::to_vec(state)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| write_private(&self.path, &bytes));
        if let Err(e) = written {
            self.dirty.store(true, Ordering::Release);
            tracing::error!(file = %self.path.display(), "cannot save the OAuth state: {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotations_reach_the_file_within_the_interval_and_removals_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = Store::open(path.clone()).unwrap();
        let grant = crate::authserver::grants::Grant::new(
            "c",
            "u",
            "dev|u",
            "i",
            &[],
            None,
            "https://r",
            0,
            100,
        )
        .unwrap();
        let id = grant.id.clone();
        store.update(|s| s.grants.insert(id.clone(), grant));
        store.update_soon(|s| s.grants.get_mut(&id).unwrap().generation = 7);
        let on_disk = |path: &Path| {
            State::load(path)
                .unwrap()
                .grants
                .get(&id)
                .map(|g| g.generation)
        };
        assert_eq!(on_disk(&path), Some(0), "not yet written");
        std::thread::sleep(FLUSH_INTERVAL * 2 + Duration::from_millis(200));
        assert_eq!(on_disk(&path), Some(7));
        store.update(|s| s.grants.remove(&id));
        assert_eq!(on_disk(&path), None);
    }
}
