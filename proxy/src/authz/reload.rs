//! Hot reload of the policy: on SIGHUP, when the RBAC or routes file changes, and by polling a
//! remote RBAC document (conditional GET with its ETag).
//!
//! A new policy replaces the old one atomically only when both documents load and compile; a bad
//! one is refused with an error log line naming every problem, and the old policy stays. Every
//! attempt (applied or refused) is logged and reported to the [`ReloadHook`] (the audit trail).
//! A second reloader keeps the shadow policy ([`super::shadow`]) current the same way.

use super::config::{RbacSource, Sources};
use super::loader::{build, PolicyError, Snapshot};
use super::policy::PolicySummary;
use super::source::{Fetched, Fetcher};
use super::Authorizer;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Mutex;

/// How often the files are checked for changes.
const FILE_POLL_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Signal,
    FileChange,
    RemotePoll,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "SIGHUP",
            Trigger::FileChange => "file change",
            Trigger::RemotePoll => "remote poll",
        }
    }
}

/// Which of the [`Authorizer`]'s policies a reloader keeps current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The enforced policy.
    Live,
    /// The candidate of shadow mode.
    Shadow,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Live => "live",
            Target::Shadow => "shadow",
        }
    }
}

/// One reload attempt, for the audit trail. Holds no secrets (URLs are shown without
/// credentials or query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadEvent {
    pub trigger: Trigger,
    pub target: Target,
    pub rbac_source: String,
    pub routes: PathBuf,
    /// The new policy's summary, or why it was refused (the old policy stays).
    pub outcome: Result<PolicySummary, String>,
}

/// Receives every reload attempt (the audit module implements it).
pub trait ReloadHook: Send + Sync {
    fn policy_reload(&self, event: &ReloadEvent);
}

struct State {
    rbac_text: String,
    etag: Option<String>,
    stamps: Vec<Option<FileStamp>>,
}

/// Inode (atomic renames, Kubernetes symlink swaps), size and modification time.
type FileStamp = (u64, u64, i64, i64);

fn stamp(path: &Path) -> Option<FileStamp> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

/// The routes file and, when the RBAC document is a file, that file.
fn stamps(sources: &Sources) -> Vec<Option<FileStamp>> {
    let mut files = vec![sources.routes.as_path()];
    if let RbacSource::File(p) = &sources.rbac {
        files.push(p);
    }
    files.into_iter().map(stamp).collect()
}

pub struct Reloader {
    authorizer: Arc<Authorizer>,
    target: Target,
    sources: Sources,
    fetcher: Fetcher,
    hook: Option<Arc<dyn ReloadHook>>,
    state: Mutex<State>,
}

impl Reloader {
    /// Starts from a loaded snapshot: its policy becomes the [`Authorizer`]'s.
    pub fn new(sources: Sources, fetcher: Fetcher, snapshot: Snapshot) -> Self {
        let state = State {
            rbac_text: snapshot.rbac_text,
            etag: snapshot.etag,
            stamps: stamps(&sources),
        };
        Self {
            authorizer: Arc::new(Authorizer::new(snapshot.policy)),
            target: Target::Live,
            sources,
            fetcher,
            hook: None,
            state: Mutex::new(state),
        }
    }

    /// Keeps `authorizer`'s shadow policy current, starting from `snapshot` (`None`: the shadow
    /// did not load; it is read again when its files change, on SIGHUP or at the next poll).
    pub fn shadow(
        authorizer: Arc<Authorizer>,
        sources: Sources,
        fetcher: Fetcher,
        snapshot: Option<Snapshot>,
    ) -> Self {
        let mut state = State {
            rbac_text: String::new(),
            etag: None,
            stamps: stamps(&sources),
        };
        if let Some(snapshot) = snapshot {
            authorizer.replace_shadow(snapshot.policy);
            state.rbac_text = snapshot.rbac_text;
            state.etag = snapshot.etag;
        }
        Self {
            authorizer,
            target: Target::Shadow,
            sources,
            fetcher,
            hook: None,
            state: Mutex::new(state),
        }
    }

    /// The authorizer this reloader keeps current (hand it to the gateway).
    pub fn authorizer(&self) -> Arc<Authorizer> {
        self.authorizer.clone()
    }

    pub fn with_hook(mut self, hook: Arc<dyn ReloadHook>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Reloads now. `None` when a remote poll found nothing new (no event then).
    pub async fn reload(&self, trigger: Trigger) -> Option<ReloadEvent> {
        let mut state = self.state.lock().await;
        // Stamp before reading: a write racing with the read shows up as a change next poll.
        state.stamps = stamps(&self.sources);
        // SIGHUP asks for a fresh copy; polls are conditional.
        let etag = match trigger {
            Trigger::Signal => None,
            _ => state.etag.clone(),
        };
        let fetched = self.fetcher.read(&self.sources.rbac, etag.as_deref()).await;
        let result = match fetched {
            Ok(Fetched::NotModified) if trigger == Trigger::RemotePoll => return None,
            Ok(Fetched::NotModified) => Ok((state.rbac_text.clone(), state.etag.clone())),
            Ok(Fetched::Text { text, etag }) => Ok((text, etag)),
            Err(e) => Err(PolicyError::Unavailable(e)),
        };
        let outcome = result.and_then(|(text, etag)| {
            // A refused remote version is not fetched again until it changes.
            state.etag.clone_from(&etag);
            let policy = build(&self.sources.rbac.origin(), &text, &self.sources.routes)?;
            state.rbac_text = text;
            Ok(policy)
        });
        let rbac_source = self.sources.rbac.origin().to_string();
        let outcome = match outcome {
            Ok(policy) => {
                let summary = policy.summary();
                match self.target {
                    Target::Live => self.authorizer.replace(policy),
                    Target::Shadow => self.authorizer.replace_shadow(policy),
                }
                tracing::info!(
                    policy = self.target.as_str(),
                    trigger = trigger.as_str(),
                    rbac = %rbac_source,
                    version = %summary.version,
                    roles = summary.roles,
                    rules = summary.rules,
                    "authorization policy reloaded"
                );
                Ok(summary)
            }
            Err(e) => {
                tracing::error!(
                    policy = self.target.as_str(),
                    trigger = trigger.as_str(),
                    rbac = %rbac_source,
                    "authorization policy reload refused, keeping the current policy:\n{e}"
                );
                Err(e.to_string())
            }
        };
        let event = ReloadEvent {
            trigger,
            target: self.target,
            rbac_source,
            routes: self.sources.routes.clone(),
            outcome,
        };
        if let Some(hook) = &self.hook {
            hook.policy_reload(&event);
        }
        Some(event)
    }

    async fn files_changed(&self) -> bool {
        let now = stamps(&self.sources);
        now.iter().all(Option::is_some) && now != self.state.lock().await.stamps
    }
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!("cannot listen for SIGHUP, policy reload by signal disabled: {e}");
                None
            }
        };
        let mut files = tokio::time::interval(FILE_POLL_INTERVAL);
        files.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut remote = tokio::time::interval(self.sources.poll_interval);
        remote.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        remote.tick().await;
        let is_remote = matches!(self.sources.rbac, RbacSource::Url(_));
        loop {
            tokio::select! {
                Some(()) = async { hangup.as_mut()?.recv().await } => {
                    self.reload(Trigger::Signal).await;
                }
                _ = files.tick() => {
                    if self.files_changed().await {
                        self.reload(Trigger::FileChange).await;
                    }
                }
                _ = remote.tick(), if is_remote => {
                    self.reload(Trigger::RemotePoll).await;
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
