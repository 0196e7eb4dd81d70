//! The audit trail: who did what to which resource, with what result, as one ECS-style JSON line
//! per event (docs/audit.md). [`Audit`] is the handle the gateway and the auth code hold; a
//! dedicated thread owns the writer, so records keep flowing while pingora's runtimes wind down
//! and [`Audit::shutdown_blocking`] can flush after the server stopped.
//!
//! Uses `keys` (checkpoint signatures), `request` (MCP messages in records) and `reply` (the
//! viewer's answers).

pub mod chain;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod event;
pub mod query;
pub mod rotate;
mod sink_file;
mod sink_syslog;
mod sink_webhook;
mod spool;
pub(crate) mod timestamp;
pub mod verify;
pub mod viewer;
mod writer;

pub use event::{Action, AuditEvent, Outcome, RequestInfo};
pub use writer::AuditUnavailable;

use anyhow::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use chain::{Chain, Hasher};
use config::{AuditConfig, Destination, Durability};
use writer::{Msg, Retention, Writer};

/// Minimum size of an HMAC key file.
const MIN_HMAC_KEY: usize = 32;
/// How long the webhook gets at shutdown to deliver what is left (the rest stays spooled).
const WEBHOOK_DRAIN: Duration = Duration::from_secs(10);

/// Cheap to clone; every clone feeds the same writer.
#[derive(Clone)]
pub struct Audit {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    tx: mpsc::Sender<Msg>,
    strict: bool,
    /// The active file of the file sink.
    file: Option<std::path::PathBuf>,
    healthy: Arc<AtomicBool>,
    /// Answered when the writer thread has finished (taken by the first shutdown).
    finished: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl Audit {
    /// A handle that records nothing (audit disabled).
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// Opens the sinks and starts the writer thread. Fails when a sink cannot be opened, a key
    /// cannot be read, or the last record on disk fails its check: the proxy must not start then.
    pub fn start(cfg: &AuditConfig) -> anyhow::Result<Self> {
        if !cfg.enabled {
            return Ok(Self::disabled());
        }
        let wants = |d| cfg.destinations.contains(&d);
        let hmac_key = match &cfg.file.hmac_key_file {
            Some(path) => {
                let key = std::fs::read(path)
                    .with_context(|| format!("cannot read audit HMAC key {}", path.display()))?;
                anyhow::ensure!(
                    key.len() >= MIN_HMAC_KEY,
                    "audit HMAC key {} is shorter than {MIN_HMAC_KEY} bytes",
                    path.display()
                );
                Some(key)
            }
            None => None,
        };
        let hasher = Hasher::from_key(hmac_key.as_deref());
        let (file, chain) = if wants(Destination::File) {
            let (file, chain) = sink_file::FileSink::open(&cfg.file, hasher)?;
            (Some(file), chain)
        } else {
            (None, Chain::new(hasher))
        };
        let signer = match (&cfg.file.signing_key_file, &file) {
            (Some(path), Some(_)) => Some(checkpoint::Signer::load(path)?),
            _ => None,
        };
        let (spool, webhook) = if wants(Destination::Webhook) {
            let (w, r) = spool::open(&cfg.webhook.spool_dir, cfg.webhook.spool_max_bytes)?;
            (
                Some(w),
                Some((sink_webhook::Webhook::new(&cfg.webhook)?, r)),
            )
        } else {
            (None, None)
        };
        let healthy = Arc::new(AtomicBool::new(true));
        let now = Instant::now();
        let capacity = cfg.queue_capacity.max(1);
        let writer = Writer {
            checkpoint_seq: chain.seq,
            chain,
            file,
            spool,
            stdout: wants(Destination::Stdout),
            syslog: if wants(Destination::Syslog) {
                Some(sink_syslog::SyslogSink::new(&cfg.syslog)?)
            } else {
                None
            },
            signer,
            strict: cfg.mode == Durability::Strict,
            fsync_interval: Duration::from_millis(cfg.fsync_interval_ms.max(1)),
            checkpoint_interval: Duration::from_secs(cfg.file.checkpoint_interval_seconds.max(1)),
            retention: Retention {
                days: cfg.file.retention_days,
                action: cfg.file.retention_action,
                archive_dir: cfg.file.archive_dir.clone(),
            },
            healthy: healthy.clone(),
            backlog: Vec::new(),
            backlog_limit: capacity,
            buf: Vec::with_capacity(1 << 20),
            dirty: false,
            last_sync: now,
            last_checkpoint: now,
        };
        let (tx, rx) = mpsc::channel(capacity);
        let (finished_tx, finished_rx) = std::sync::mpsc::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("audit runtime")?;
        std::thread::Builder::new()
            .name("mimir-audit".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let (stop_tx, stop_rx) = watch::channel(false);
                    let delivery =
                        webhook.map(|(hook, reader)| tokio::spawn(hook.run(reader, stop_rx)));
                    let (ack, ok) = writer.run(rx).await;
                    let _ = stop_tx.send(true);
                    if let Some(delivery) = delivery {
                        if tokio::time::timeout(WEBHOOK_DRAIN, delivery).await.is_err() {
                            tracing::warn!("audit webhook: records left undelivered stay spooled");
                        }
                    }
                    if let Some(ack) = ack {
                        let _ = ack.send(if ok { Ok(()) } else { Err(AuditUnavailable) });
                    }
                });
                let _ = finished_tx.send(());
            })
            .context("audit writer thread")?;
        Ok(Self {
            inner: Some(Arc::new(Inner {
                tx,
                strict: cfg.mode == Durability::Strict,
                file: wants(Destination::File).then(|| cfg.file.path.clone()),
                healthy,
                finished: Mutex::new(Some(finished_rx)),
            })),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Strict mode: responses must wait for [`Audit::record_durable`].
    pub fn is_strict(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.strict)
    }

    /// False after a write failed and until one succeeds again (readiness, early 503s).
    pub fn is_available(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(|i| i.healthy.load(Ordering::Acquire) && !i.tx.is_closed())
    }

    /// Queues an event. Returns at once unless the queue is full (then it waits: nothing is
    /// dropped). Errors only once the writer has shut down.
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditUnavailable> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        // Serialized by the caller, in parallel: the one writer thread is what bounds the
        // sink's throughput (serializing there cost a third of `cargo bench --bench audit`).
        let open = event.to_open_json();
        inner
            .tx
            .send(Msg::Event { open, ack: None })
            .await
            .map_err(|_| AuditUnavailable)
    }

    /// [`Audit::record`] for threads outside any async runtime.
    pub fn record_blocking(&self, event: AuditEvent) -> Result<(), AuditUnavailable> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let open = event.to_open_json();
        inner
            .tx
            .blocking_send(Msg::Event { open, ack: None })
            .map_err(|_| AuditUnavailable)
    }

    /// The active audit file, when the file sink is on (the viewer reads it and its rotated
    /// predecessors).
    pub fn file_path(&self) -> Option<&std::path::Path> {
        self.inner.as_ref()?.file.as_deref()
    }

    /// Records an event and returns once it is written and fsynced (strict mode's contract; it
    /// works the same in async mode). An error means the record is not in the log.
    pub async fn record_durable(&self, event: AuditEvent) -> Result<(), AuditUnavailable> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let (ack, done) = oneshot::channel();
        let open = event.to_open_json();
        inner
            .tx
            .send(Msg::Event {
                open,
                ack: Some(ack),
            })
            .await
            .map_err(|_| AuditUnavailable)?;
        done.await.map_err(|_| AuditUnavailable)?
    }

    /// Waits until everything queued before it is written and fsynced.
    pub async fn flush(&self) -> Result<(), AuditUnavailable> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let (ack, done) = oneshot::channel();
        inner
            .tx
            .send(Msg::Flush(ack))
            .await
            .map_err(|_| AuditUnavailable)?;
        done.await.map_err(|_| AuditUnavailable)?
    }

    /// Writes everything queued, a final checkpoint, fsyncs, gives the webhook time to deliver,
    /// and stops the writer. Later records fail with [`AuditUnavailable`].
    pub async fn shutdown(&self) -> Result<(), AuditUnavailable> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let (ack, done) = oneshot::channel();
        inner
            .tx
            .send(Msg::Shutdown(ack))
            .await
            .map_err(|_| AuditUnavailable)?;
        done.await.map_err(|_| AuditUnavailable)?
    }

    /// [`Audit::shutdown`] for code outside any async runtime (after pingora's `Server::run`
    /// returned); gives up after `timeout`.
    pub fn shutdown_blocking(&self, timeout: Duration) -> Result<(), AuditUnavailable> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let (ack, done) = oneshot::channel();
        inner
            .tx
            .blocking_send(Msg::Shutdown(ack))
            .map_err(|_| AuditUnavailable)?;
        let finished = inner
            .finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(finished) = finished {
            finished
                .recv_timeout(timeout)
                .map_err(|_| AuditUnavailable)?;
        }
        done.blocking_recv().map_err(|_| AuditUnavailable)?
    }
}
