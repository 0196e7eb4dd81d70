//! The single writer: it alone assigns sequence numbers, so the order in every sink is the chain
//! order. It takes whatever is queued in one go (group commit), seals it, writes the durable sink
//! (the file, else the webhook spool), then stdout. A failed write is rolled back entirely:
//! records waiting for an acknowledgement are refused, the others are kept and retried, and when
//! too many wait the writer stops taking new ones, which makes callers wait (never drops).

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::chain::Chain;
use super::checkpoint::Signer;
use super::config::RetentionAction;
use super::event::AuditEvent;
use super::rotate;
use super::sink_file::FileSink;
use super::sink_syslog::SyslogSink;
use super::spool::SpoolWriter;
use super::timestamp;

/// How long async mode lets records gather between writes (the queue holds far more).
const GATHER: Duration = Duration::from_millis(2);
/// Most messages taken from the queue for one write.
const MAX_BATCH: usize = 4096;
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// How many times the final write is attempted at shutdown before giving up.
const SHUTDOWN_ATTEMPTS: u32 = 5;

pub(crate) type Ack = oneshot::Sender<Result<(), AuditUnavailable>>;

pub(crate) enum Msg {
    /// A serialized event (JSON object without its closing brace); `ack` wants durability.
    Event {
        open: Vec<u8>,
        ack: Option<Ack>,
    },
    Flush(Ack),
    Shutdown(Ack),
}

pub(crate) struct Retention {
    pub days: u64,
    pub action: RetentionAction,
    pub archive_dir: Option<PathBuf>,
}

pub(crate) struct Writer {
    pub chain: Chain,
    pub file: Option<FileSink>,
    pub spool: Option<SpoolWriter>,
    pub stdout: bool,
    pub syslog: Option<SyslogSink>,
    pub signer: Option<Signer>,
    pub strict: bool,
    pub fsync_interval: Duration,
    pub checkpoint_interval: Duration,
    pub retention: Retention,
    pub healthy: Arc<AtomicBool>,
    /// Records not yet written because a write failed; bounded by `backlog_limit`.
    pub backlog: Vec<Vec<u8>>,
    pub backlog_limit: usize,
    pub buf: Vec<u8>,
    pub dirty: bool,
    pub last_sync: Instant,
    pub last_checkpoint: Instant,
    /// Sequence number of the last checkpoint record (0: none).
    pub checkpoint_seq: u64,
}

impl Writer {
    /// Runs until a `Shutdown` arrives or every handle is gone. Returns the shutdown request, to
    /// be answered once the other sinks are flushed too, and whether everything was written.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Msg>) -> (Option<Ack>, bool) {
        self.apply_retention();
        let mut msgs = Vec::with_capacity(MAX_BATCH);
        let mut retry = FIRST_RETRY;
        loop {
            let wake = self.next_wake(retry);
            let received = tokio::select! {
                n = rx.recv_many(&mut msgs, MAX_BATCH) => n,
                _ = tokio::time::sleep_until(wake) => 0,
            };
            if received == 0 && msgs.is_empty() && rx.is_closed() && rx.is_empty() {
                let ok = self.finish();
                return (None, ok);
            }
            let shutdown = self.handle(&mut msgs);
            retry = if self.backlog.is_empty() {
                FIRST_RETRY
            } else {
                (retry * 2).min(MAX_RETRY)
            };
            self.tick();
            // Async mode: let records gather instead of waking this thread for each one (a
            // wake-up per request cost more CPU than writing the record). Strict mode answers
            // each record's caller as soon as it is durable.
            if !self.strict && received > 0 && shutdown.is_none() {
                tokio::time::sleep(GATHER).await;
            }
            // Too much waiting for a disk that refuses it: stop reading the queue until it
            // accepts again, so that callers wait instead of records being dropped.
            while self.backlog.len() >= self.backlog_limit && shutdown.is_none() {
                tokio::time::sleep(retry).await;
                self.retry_backlog();
                retry = (retry * 2).min(MAX_RETRY);
            }
            if let Some(ack) = shutdown {
                rx.close();
                while let Ok(msg) = rx.try_recv() {
                    msgs.push(msg);
                }
                // Nothing follows a shutdown; a second one in the queue is answered with it.
                let again = self.handle(&mut msgs);
                for attempt in 0..SHUTDOWN_ATTEMPTS {
                    if self.backlog.is_empty() {
                        break;
                    }
                    tokio::time::sleep(FIRST_RETRY * 2u32.pow(attempt)).await;
                    self.retry_backlog();
                }
                let ok = self.finish();
                if let Some(again) = again {
                    let _ = again.send(if ok { Ok(()) } else { Err(AuditUnavailable) });
                }
                return (Some(ack), ok);
            }
        }
    }

    fn next_wake(&self, retry: Duration) -> Instant {
        let mut wake = Instant::now() + Duration::from_secs(60);
        if self.dirty {
            wake = wake.min(self.last_sync + self.fsync_interval);
        }
        if self.signer.is_some() {
            wake = wake.min(self.last_checkpoint + self.checkpoint_interval);
        }
        if !self.backlog.is_empty() {
            wake = wake.min(Instant::now() + retry);
        }
        wake
    }

    /// Writes one batch of messages; returns a `Shutdown` request found among them.
    fn handle(&mut self, msgs: &mut Vec<Msg>) -> Option<Ack> {
        let mut opens = std::mem::take(&mut self.backlog);
        let kept = opens.len();
        // Index into `opens` of each record whose caller waits for durability.
        let mut acks: Vec<(usize, Ack)> = Vec::new();
        let mut flushes = Vec::new();
        let mut shutdown = None;
        for msg in msgs.drain(..) {
            match msg {
                Msg::Event { open, ack } => {
                    if let Some(ack) = ack {
                        acks.push((opens.len(), ack));
                    }
                    opens.push(open);
                }
                Msg::Flush(ack) => flushes.push(ack),
                Msg::Shutdown(ack) => shutdown = Some(ack),
            }
        }
        let sync = (self.strict && !acks.is_empty()) || !flushes.is_empty();
        let result = if opens.is_empty() {
            if sync {
                self.sync()
            } else {
                Ok(())
            }
        } else {
            self.commit(&opens, sync)
        };
        let ok = result.is_ok();
        if ok && self.file.as_ref().is_some_and(FileSink::should_rotate) {
            self.rotate();
        }
        if let Err(e) = result {
            self.unhealthy(&e, opens.len());
            // Keep what nobody waits for; refuse the rest (their requests get a 503).
            let waiting: Vec<usize> = acks.iter().map(|(i, _)| *i).collect();
            self.backlog = opens
                .into_iter()
                .enumerate()
                .filter(|(i, _)| *i < kept || !waiting.contains(i))
                .map(|(_, open)| open)
                .collect();
        }
        let reply = if ok { Ok(()) } else { Err(AuditUnavailable) };
        for (_, ack) in acks {
            let _ = ack.send(reply);
        }
        for ack in flushes {
            let _ = ack.send(reply);
        }
        shutdown
    }

    fn retry_backlog(&mut self) {
        let opens = std::mem::take(&mut self.backlog);
        if let Err(e) = self.commit(&opens, false) {
            self.unhealthy(&e, opens.len());
            self.backlog = opens;
        }
    }

    fn unhealthy(&self, e: &io::Error, records: usize) {
        if self.healthy.swap(false, Ordering::AcqRel) {
            tracing::error!(records, "ALARM: audit log write failed: {e}");
        }
    }

    /// Seals and writes `opens`; on error nothing of them stays written and the chain is as
    /// before.
    fn commit(&mut self, opens: &[Vec<u8>], sync: bool) -> io::Result<()> {
        let before = self.chain.clone();
        self.buf.clear();
        let first_seq = self.chain.seq + 1;
        for open in opens {
            self.chain.seal(open, &mut self.buf);
        }
        if let Err(e) = self.write_out(first_seq, sync) {
            self.chain = before;
            return Err(e);
        }
        if !self.healthy.swap(true, Ordering::AcqRel) {
            tracing::warn!("audit log writable again");
        }
        if sync {
            self.dirty = false;
            self.last_sync = Instant::now();
        } else {
            self.dirty = true;
        }
        Ok(())
    }

    fn write_out(&mut self, first_seq: u64, sync: bool) -> io::Result<()> {
        let lines = &self.buf;
        match (&mut self.file, &mut self.spool) {
            (Some(file), spool) => {
                file.append(lines, first_seq, sync)?;
                // The file is the record of truth; the webhook copy raises its own alarm.
                if let Some(spool) = spool {
                    match spool.append(lines) {
                        Ok(()) if sync => {
                            if let Err(e) = spool.sync() {
                                tracing::error!("audit webhook spool: {e}");
                            }
                        }
                        Ok(()) => {}
                        Err(e) if spool.is_full() => drop(e),
                        Err(e) => tracing::error!("{e}"),
                    }
                }
            }
            (None, Some(spool)) => {
                spool.append(lines).map_err(io::Error::other)?;
                if sync {
                    spool.sync()?;
                }
            }
            (None, None) => {}
        }
        if self.stdout {
            let mut out = io::stdout().lock();
            let written = out.write_all(lines).and_then(|()| out.flush());
            if self.file.is_none() && self.spool.is_none() {
                written?;
            } else if let Err(e) = written {
                tracing::error!("audit stdout sink: {e}");
            }
        }
        // A copy like stdout; it fails the write only when nothing durable is configured.
        if let Some(syslog) = &mut self.syslog {
            let sent = syslog.send(lines);
            if self.file.is_none() && self.spool.is_none() {
                sent?;
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        if let Some(file) = &mut self.file {
            file.sync()?;
        }
        if let Some(spool) = &mut self.spool {
            spool.sync()?;
        }
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Timers: fsync, checkpoint, time rotation, backlog retry.
    fn tick(&mut self) {
        if !self.backlog.is_empty() {
            self.retry_backlog();
        }
        if self.dirty && self.last_sync.elapsed() >= self.fsync_interval {
            if let Err(e) = self.sync() {
                self.unhealthy(&e, 0);
            }
        }
        if self.signer.is_some() && self.last_checkpoint.elapsed() >= self.checkpoint_interval {
            self.checkpoint();
        }
        if self.file.as_ref().is_some_and(FileSink::should_rotate) {
            self.rotate();
        }
    }

    /// Appends a signed checkpoint over the last record, unless nothing came since the last one.
    fn checkpoint(&mut self) {
        self.last_checkpoint = Instant::now();
        let Some(signer) = &self.signer else { return };
        if self.chain.seq == self.checkpoint_seq {
            return;
        }
        let open = signer.checkpoint(
            timestamp::rfc3339_millis(time::OffsetDateTime::now_utc()),
            self.chain.seq,
            &self.chain.last_hash,
        );
        match self.commit(&[open], true) {
            Ok(()) => self.checkpoint_seq = self.chain.seq,
            Err(e) => self.unhealthy(&e, 1),
        }
    }

    fn rotate(&mut self) {
        self.checkpoint();
        let Some(file) = &mut self.file else { return };
        match file.rotate() {
            Ok(rotated) => tracing::info!(file = %rotated.display(), "audit file rotated"),
            Err(e) => {
                tracing::error!("audit file rotation failed: {e}");
                return;
            }
        }
        self.apply_retention();
    }

    /// Deletes or archives old rotated files; each one handled is itself an audit record.
    fn apply_retention(&mut self) {
        let Some(file) = &self.file else { return };
        let r = &self.retention;
        let handled = match rotate::apply_retention(
            file.path(),
            r.days,
            r.action,
            r.archive_dir.as_deref(),
        ) {
            Ok(handled) => handled,
            Err(e) => {
                tracing::error!("audit retention failed: {e}");
                return;
            }
        };
        for (path, archived) in handled {
            let open = AuditEvent::retention(&path.display().to_string(), archived).to_open_json();
            self.backlog.push(open);
        }
        if !self.backlog.is_empty() {
            self.retry_backlog();
        }
    }

    /// Final checkpoint and fsync; false if records are left unwritten.
    fn finish(&mut self) -> bool {
        if self.signer.is_some() {
            self.checkpoint();
        }
        let synced = self.sync().is_ok();
        if !self.backlog.is_empty() {
            tracing::error!(
                records = self.backlog.len(),
                "ALARM: audit records could not be written before shutdown"
            );
        }
        synced && self.backlog.is_empty()
    }
}

/// The audit log cannot take the record: the request must be refused (503) in strict mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the audit log is unavailable")]
pub struct AuditUnavailable;
