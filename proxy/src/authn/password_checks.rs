//! Password checks bounded in number. One Argon2id verification holds about 19 MiB for its
//! duration, so logins checked all at once would grow memory with the number of clients: at most
//! `auth.password_checks.max_concurrent` run at once and `max_queued` more wait for a turn; a
//! login beyond that is refused ([`Busy`], 503) before anything is hashed.

use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// `[auth.password_checks]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordCheckConfig {
    /// Checks running at once (at least 1).
    pub max_concurrent: u32,
    /// Checks waiting for one of those; beyond, logins are refused.
    pub max_queued: u32,
}

impl Default for PasswordCheckConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 2,
            max_queued: 8,
        }
    }
}

/// Every check slot and every place in the queue is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

pub struct PasswordChecks {
    /// Checks running or waiting.
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
}

impl PasswordChecks {
    pub fn new(cfg: &PasswordCheckConfig) -> Self {
        let running = cfg.max_concurrent as usize;
        Self {
            admitted: Arc::new(Semaphore::new(running + cfg.max_queued as usize)),
            running: Arc::new(Semaphore::new(running)),
        }
    }

    /// Runs `check` on the blocking thread pool once a slot is free. `Ok(None)` also when the
    /// check could not complete. The slot is held by the check itself, so a client that goes
    /// away while its password is hashed does not free it early.
    pub async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> Option<T> + Send + 'static,
    ) -> Result<Option<T>, Busy> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| Busy)?;
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Busy)?;
        let done = tokio::task::spawn_blocking(move || {
            let _slot = (admitted, running);
            check()
        })
        .await;
        Ok(done.ok().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    fn checks(max_concurrent: u32, max_queued: u32) -> Arc<PasswordChecks> {
        Arc::new(PasswordChecks::new(&PasswordCheckConfig {
            max_concurrent,
            max_queued,
        }))
    }

    #[tokio::test]
    async fn beyond_the_slots_and_the_queue_logins_are_refused_unchecked() {
        let gate = checks(1, 1);
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let g = gate.clone();
        let first = tokio::spawn(async move {
            g.run(move || {
                started_tx.send(()).unwrap();
                release_rx.recv().ok()
            })
            .await
        });
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        let g = gate.clone();
        let queued = tokio::spawn(async move { g.run(|| Some("second")).await });
        while gate.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let refused = gate
            .run(move || Some(r.fetch_add(1, Ordering::SeqCst)))
            .await;
        assert_eq!(refused, Err(Busy));
        assert_eq!(ran.load(Ordering::SeqCst), 0, "refused before checking");
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(Some(())));
        assert_eq!(queued.await.unwrap(), Ok(Some("second")));
        assert_eq!(gate.run(|| Some(3)).await, Ok(Some(3)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn never_more_than_max_concurrent_at_once() {
        let gate = checks(2, 40);
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let (g, now, most) = (gate.clone(), now.clone(), most.clone());
                tokio::spawn(async move {
                    g.run(move || {
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(n, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        now.fetch_sub(1, Ordering::SeqCst);
                        Some(())
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(
                task.await.unwrap(),
                Ok(Some(())),
                "the queue holds them all"
            );
        }
        assert!(most.load(Ordering::SeqCst) <= 2, "{most:?}");
    }
}
