//! The API keys file: JSON written by `mimir-proxy keys` (atomically, mode 0600) and read by the
//! running proxy, which notices changes within a second. It holds key ids, names, roles, times
//! and SHA-256 hashes, never a key.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::principal::{AuthMethod, Principal};
use super::watch::Watched;
use super::{apikey, source};
use crate::request::header_value::is_header_safe;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    /// Unix seconds.
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub revoked_at: Option<u64>,
    /// SHA-256 of the key, hex.
    pub hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub keys: Vec<KeyRecord>,
}

impl KeyFile {
    /// The file at `path`; a missing file is an empty one.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }

    /// Replace the file atomically (write a sibling, then rename), readable by the owner only.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        write_private(path, &serde_json::to_vec_pretty(self)?)
    }
}

/// Write `bytes` to `path` atomically with mode 0600, creating parent directories.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The keys the running proxy accepts, reloaded when the file changes.
pub struct KeyStore {
    keys: Watched<HashMap<String, StoredKey>>,
}

/// A key's record and the principal it authenticates as, built once per load of the file
/// rather than on every request that presents the key.
struct StoredKey {
    record: KeyRecord,
    /// `record.hash` decoded: no hex encoding per request.
    digest: Option<[u8; apikey::DIGEST_BYTES]>,
    principal: Arc<Principal>,
}

impl KeyStore {
    pub fn open(path: PathBuf) -> anyhow::Result<Self> {
        let keys = Watched::new(path, |path| {
            Ok(KeyFile::load(path)?
                .keys
                .into_iter()
                .map(|record| {
                    let principal = Arc::new(principal_of(&record));
                    let digest = apikey::stored_digest(&record.hash);
                    let stored = StoredKey {
                        record,
                        digest,
                        principal,
                    };
                    (stored.record.id.clone(), stored)
                })
                .collect())
        })?;
        Ok(Self { keys })
    }

    /// The principal for `key`, or `None` when it is unknown, wrong, revoked or expired.
    pub fn verify(&self, key: &str, now: u64) -> Option<Arc<Principal>> {
        let id = apikey::id_of(key)?;
        let keys = self.keys.get();
        let StoredKey {
            record,
            digest,
            principal,
        } = keys.get(id)?;
        if !digest.is_some_and(|digest| apikey::matches_digest(key, &digest))
            || record.revoked_at.is_some()
            || record.expires_at.is_some_and(|exp| now >= exp)
        {
            return None;
        }
        Some(principal.clone())
    }
}

fn principal_of(record: &KeyRecord) -> Principal {
    Principal {
        user_id: format!("apikey:{}", record.name),
        qualified_id: source::qualify(source::API_KEY, &record.name),
        roles: record
            .roles
            .iter()
            .filter(|r| is_header_safe(r, true))
            .cloned()
            .collect(),
        method: AuthMethod::ApiKey,
        issuer: None,
        key_id: Some(record.id.clone()),
        expires_at: record.expires_at,
        issued_at: Some(record.created_at),
        refresh_cookie: None,
        client: None,
    }
}
