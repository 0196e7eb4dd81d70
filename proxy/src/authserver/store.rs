//! What the authorization server keeps across restarts: registered clients, grants and
//! consents, in one JSON file replaced atomically (mode 0600) after every change. It holds
//! hashes and per-grant keys, never a token.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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

pub struct Store {
    path: PathBuf,
    state: Mutex<State>,
}

impl Store {
    pub fn open(path: PathBuf) -> anyhow::Result<Self> {
        let state = State::load(&path).context("oauth.state_file")?;
        Ok(Self {
            path,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    /// Change the state and write it out. A failed write is logged: the change holds in
    /// memory, and the next successful write carries it.
    pub fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.lock();
        let result = f(&mut state);
        let written = serde_json::to_vec(&*state)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| write_private(&self.path, &bytes));
        if let Err(e) = written {
            tracing::error!(file = %self.path.display(), "cannot save the OAuth state: {e:#}");
        }
        result
    }
}
