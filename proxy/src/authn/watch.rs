//! A value parsed from a file and re-parsed when the file changes (size, mtime or inode), checked
//! at most once per [`CHECK_INTERVAL`] on the request path so the common case is one atomic load.
//! A file that fails to parse keeps the previous value and logs the error.

use arc_swap::ArcSwap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CHECK_INTERVAL: Duration = Duration::from_secs(1);

type Parser<T> = Box<dyn Fn(&Path) -> anyhow::Result<T> + Send + Sync>;

pub struct Watched<T> {
    path: PathBuf,
    parse: Parser<T>,
    value: ArcSwap<T>,
    /// Milliseconds since the epoch of the last check.
    checked_ms: AtomicU64,
    stamp: Mutex<Option<Stamp>>,
}

#[derive(PartialEq, Eq, Clone, Copy)]
struct Stamp {
    len: u64,
    modified: SystemTime,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok()?,
        inode,
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl<T: Send + Sync + 'static> Watched<T> {
    /// Parse the file now; an unparseable file at start is an error.
    pub fn new(
        path: PathBuf,
        parse: impl Fn(&Path) -> anyhow::Result<T> + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        let stamp = stamp(&path);
        let value = parse(&path)?;
        Ok(Self {
            path,
            parse: Box::new(parse),
            value: ArcSwap::from_pointee(value),
            checked_ms: AtomicU64::new(now_ms()),
            stamp: Mutex::new(stamp),
        })
    }

    pub fn get(&self) -> Arc<T> {
        let now = now_ms();
        let last = self.checked_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= CHECK_INTERVAL.as_millis() as u64
            && self
                .checked_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.reload_if_changed();
        }
        self.value.load_full()
    }

    /// Re-read the file if it changed since the last load.
    pub fn reload_if_changed(&self) {
        let mut known = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
        let current = stamp(&self.path);
        if current == *known {
            return;
        }
        match (self.parse)(&self.path) {
            Ok(value) => {
                self.value.store(Arc::new(value));
                *known = current;
                tracing::info!(file = %self.path.display(), "reloaded");
            }
            Err(e) => {
                tracing::error!(file = %self.path.display(), "keeping the previous contents: {e:#}")
            }
        }
    }
}
