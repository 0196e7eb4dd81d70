//! Revocations by an administrator: `mimir-proxy oauth revoke` appends an entry to
//! `oauth.revocations_file` (the running gateway owns the state file, so the command never
//! writes that), and the gateway applies new entries within a second. An entry ends what
//! existed at its time: a grant, every grant of a client (and a registered client itself),
//! or every grant of a user (`<source>|<id>`: the same id at two sources is two people).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::grants::Grant;
use crate::authn::keystore::write_private;
use crate::authn::watch::Watched;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Grant,
    Client,
    User,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub kind: Kind,
    pub id: String,
    /// Unix seconds.
    pub at: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct List {
    pub revocations: Vec<Entry>,
}

impl List {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }

    pub fn append(path: &Path, entry: Entry) -> anyhow::Result<()> {
        let mut list = Self::load(path)?;
        list.revocations.push(entry);
        write_private(path, &serde_json::to_vec_pretty(&list)?)
    }

    /// Whether an entry ends `grant`.
    pub fn ends(&self, grant: &Grant) -> bool {
        self.revocations.iter().any(|e| {
            grant.created_at <= e.at
                && match e.kind {
                    Kind::Grant => e.id == grant.id,
                    Kind::Client => e.id == grant.client_id,
                    Kind::User => e.id == grant.qualified_id,
                }
        })
    }

    /// Whether an entry removes the registered client `id` created at `created_at`.
    pub fn removes_client(&self, id: &str, created_at: u64) -> bool {
        self.revocations
            .iter()
            .any(|e| e.kind == Kind::Client && e.id == id && created_at <= e.at)
    }
}

/// The file, watched: [`Revocations::changed`] hands out a list once per change.
pub struct Revocations {
    file: Watched<List>,
    seen: std::sync::Mutex<Option<Arc<List>>>,
}

impl Revocations {
    /// An unreadable file refuses the start (a revocation must not be silently skipped); later
    /// a broken write keeps the previous list until it is fixed.
    pub fn new(path: PathBuf) -> anyhow::Result<Self> {
        Ok(Self {
            file: Watched::new(path, List::load)?,
            seen: std::sync::Mutex::new(None),
        })
    }

    /// The list, when it differs from the one handed out last.
    pub fn changed(&self) -> Option<Arc<List>> {
        let current = self.file.get();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, &current)) {
            return None;
        }
        *seen = Some(current.clone());
        (!current.revocations.is_empty()).then_some(current)
    }
}
