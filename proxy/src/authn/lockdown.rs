//! Emergency lockdown: `mimir-proxy lockdown` writes the current time to `auth.lockdown_file`;
//! from then on every API key, session and proxy-issued token issued at or before that second
//! is refused, by every proxy reading the file, across restarts.

use std::path::{Path, PathBuf};

use super::keystore::write_private;
use super::watch::Watched;

/// Record a lockdown at `now` (unix seconds).
pub fn declare(path: &Path, now: u64) -> anyhow::Result<()> {
    write_private(path, format!("{now}\n").as_bytes())
}

/// The lockdown time in effect (0: none).
pub struct Lockdown {
    since: Watched<u64>,
}

impl Lockdown {
    pub fn open(path: PathBuf) -> anyhow::Result<Self> {
        Ok(Self {
            since: Watched::new(path, read)?,
        })
    }

    pub fn since(&self) -> u64 {
        *self.since.get()
    }

    /// Whether a credential issued at `issued_at` is revoked by the lockdown.
    pub fn revokes(&self, issued_at: Option<u64>) -> bool {
        let since = self.since();
        // A credential without an issue time cannot be shown to postdate the lockdown.
        since > 0 && issued_at.is_none_or(|iat| iat <= since)
    }
}

/// The lockdown time recorded in `path` (0: no file, no lockdown).
pub fn read(path: &Path) -> anyhow::Result<u64> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{}: not a unix time: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockdown_revokes_older_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lockdown");
        let lockdown = Lockdown::open(path.clone()).unwrap();
        assert!(!lockdown.revokes(Some(100)));
        declare(&path, 1000).unwrap();
        lockdown.since.reload_if_changed();
        assert_eq!(lockdown.since(), 1000);
        assert!(lockdown.revokes(Some(999)));
        assert!(lockdown.revokes(Some(1000)));
        assert!(lockdown.revokes(None));
        assert!(!lockdown.revokes(Some(1001)));
        // Survives a restart: a new reader sees the same time.
        assert_eq!(Lockdown::open(path).unwrap().since(), 1000);
    }
}
