//! The serving certificate, swapped atomically on SIGHUP or when its files change.
//!
//! rustls asks the resolver for a certificate once per handshake, and an established connection
//! keeps the keys it negotiated, so a swap affects new handshakes only and drops nothing.
//! A failed reload keeps the current certificate (fail safe: still a valid one) and is counted.

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

use super::material::{crypto_provider, load_certs, load_key};
use crate::admin::metrics::Metrics;

/// How often the files are checked for changes (SIGHUP reloads at once).
const POLL_INTERVAL: Duration = Duration::from_secs(2);

pub struct ReloadableCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
    /// File state at the last reload attempt, so a broken file is retried only once it changes.
    seen: Mutex<Option<FileStamp>>,
}

/// Identity of both files: inode (atomic renames and Kubernetes symlink swaps), size and mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp([(u64, u64, i64, i64); 2]);

fn stamp(cert: &Path, key: &Path) -> Option<FileStamp> {
    let one = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
    };
    Some(FileStamp([one(cert)?, one(key)?]))
}

fn load_certified_key(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    use anyhow::Context;
    CertifiedKey::from_der(load_certs(cert)?, load_key(key)?, &crypto_provider()).with_context(
        || {
            format!(
                "certificate {} and key {} do not form a usable pair",
                cert.display(),
                key.display()
            )
        },
    )
}

impl ReloadableCert {
    /// Load the pair; errors here stop the start (no certificate, no listener).
    pub fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<Self> {
        let seen = stamp(cert_path, key_path);
        let key = load_certified_key(cert_path, key_path)?;
        Ok(Self {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            current: ArcSwap::from_pointee(key),
            seen: Mutex::new(seen),
        })
    }

    /// Re-read both files and swap them in; on error the current certificate stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        // Stamp before reading: a write racing with the read shows up as a change next poll.
        let seen = stamp(&self.cert_path, &self.key_path);
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = seen;
        let key = load_certified_key(&self.cert_path, &self.key_path)?;
        self.current.store(Arc::new(key));
        Ok(())
    }

    fn changed_on_disk(&self) -> bool {
        let now = stamp(&self.cert_path, &self.key_path);
        now.is_some() && now != *self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

impl std::fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadableCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

/// Background service: reloads on SIGHUP and when the files change.
pub struct CertReloader {
    pub cert: Arc<ReloadableCert>,
    pub metrics: Arc<Metrics>,
}

impl CertReloader {
    fn reload(&self, trigger: &str) {
        match self.cert.reload() {
            Ok(()) => {
                self.metrics.tls_reload(true);
                tracing::info!(trigger, cert = %self.cert.cert_path.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                self.metrics.tls_reload(false);
                tracing::error!(
                    trigger,
                    "TLS certificate reload failed, keeping the current one: {e:#}"
                );
            }
        }
    }
}

#[async_trait]
impl BackgroundService for CertReloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(
                    "cannot listen for SIGHUP, certificate reload by signal disabled: {e}"
                );
                return;
            }
        };
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = hangup.recv() => self.reload("SIGHUP"),
                _ = poll.tick() => {
                    if self.cert.changed_on_disk() {
                        self.reload("file change");
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
