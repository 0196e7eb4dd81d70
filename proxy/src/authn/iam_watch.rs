//! Key and lockdown changes in the audit log. `mimir-proxy keys …` and `mimir-proxy lockdown`
//! edit files offline, without access to the running proxy's audit chain (a second writer
//! would fork it), so the running proxy records what it sees change: once a second it compares
//! the keys file and the lockdown file with what it saw last and writes `api-key-created`,
//! `api-key-revoked`, `lockdown-enabled` and `lockdown-disabled` records. Changes made while
//! no proxy runs are not recorded (the first look is the baseline).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use time::OffsetDateTime;

use crate::audit::timestamp::rfc3339_millis;
use crate::audit::{Audit, AuditEvent};
use crate::authn::keystore::KeyFile;
use crate::authn::lockdown;

const POLL: Duration = Duration::from_secs(1);

/// Key id → (its user id, revoked).
type Keys = BTreeMap<String, (String, bool)>;

pub struct IamWatch {
    keys_file: PathBuf,
    lockdown_file: PathBuf,
    keys: Option<Keys>,
    lockdown: Option<u64>,
    /// A file could not be read last time (logged once until it can be again).
    unreadable: [bool; 2],
}

impl IamWatch {
    /// Takes the current state of both files as the baseline.
    pub fn new(keys_file: PathBuf, lockdown_file: PathBuf) -> Self {
        let mut watch = Self {
            keys_file,
            lockdown_file,
            keys: None,
            lockdown: None,
            unreadable: [false; 2],
        };
        watch.changes();
        watch
    }

    /// Watches on a thread of its own until the audit log is shut down.
    pub fn spawn(mut self, audit: Audit) -> std::io::Result<()> {
        if !audit.is_enabled() {
            return Ok(());
        }
        std::thread::Builder::new()
            .name("audit-iam-watch".into())
            .spawn(move || loop {
                std::thread::sleep(POLL);
                for event in self.changes() {
                    if audit.record_blocking(event).is_err() {
                        return;
                    }
                }
            })
            .map(drop)
    }

    /// The events since the last call. A file that cannot be read is skipped this time.
    pub fn changes(&mut self) -> Vec<AuditEvent> {
        let mut events = Vec::new();
        let keys = KeyFile::load(&self.keys_file);
        self.note(0, keys.as_ref().err());
        if let Ok(file) = keys {
            let now: Keys = file
                .keys
                .into_iter()
                .map(|k| (k.id, (format!("apikey:{}", k.name), k.revoked_at.is_some())))
                .collect();
            if let Some(before) = self.keys.replace(now.clone()) {
                events.extend(key_changes(&before, &now));
            }
        }
        let since = lockdown::read(&self.lockdown_file);
        self.note(1, since.as_ref().err());
        if let Ok(since) = since {
            if let Some(before) = self.lockdown.replace(since) {
                events.extend(lockdown_change(before, since));
            }
        }
        events
    }

    /// Logs a file that cannot be read (changes to it are not seen meanwhile), once.
    fn note(&mut self, which: usize, error: Option<&anyhow::Error>) {
        let was = std::mem::replace(&mut self.unreadable[which], error.is_some());
        if let (Some(e), false) = (error, was) {
            tracing::warn!("audit: key and lockdown changes are not seen: {e:#}");
        }
    }
}

fn key_changes(before: &Keys, now: &Keys) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    for (id, (user, revoked)) in now {
        match before.get(id) {
            None => {
                events.push(AuditEvent::api_key_created(id, user));
                if *revoked {
                    events.push(AuditEvent::api_key_revoked(id, user));
                }
            }
            Some((_, false)) if *revoked => events.push(AuditEvent::api_key_revoked(id, user)),
            Some(_) => {}
        }
    }
    for (id, (user, revoked)) in before {
        if !revoked && !now.contains_key(id) {
            events.push(AuditEvent::api_key_revoked(id, user));
        }
    }
    events
}

fn lockdown_change(before: u64, since: u64) -> Option<AuditEvent> {
    if since == before {
        return None;
    }
    if since == 0 {
        return Some(AuditEvent::lockdown(false, "lockdown file removed"));
    }
    let at = OffsetDateTime::from_unix_timestamp(since as i64)
        .map(rfc3339_millis)
        .unwrap_or_else(|_| since.to_string());
    Some(AuditEvent::lockdown(
        true,
        &format!("credentials issued at or before {at} are refused"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Action;
    use crate::authn::keystore::KeyRecord;

    fn key(id: &str, revoked: bool) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            name: format!("n-{id}"),
            roles: vec!["viewer".into()],
            created_at: 1,
            expires_at: None,
            revoked_at: revoked.then_some(2),
            hash: "00".into(),
        }
    }

    #[test]
    fn sees_keys_appear_revoked_and_removed_and_lockdowns() {
        let dir = tempfile::tempdir().unwrap();
        let (keys, lock) = (dir.path().join("keys.json"), dir.path().join("lockdown"));
        let save = |records: Vec<KeyRecord>| KeyFile { keys: records }.save(&keys).unwrap();
        save(vec![key("a", false)]);
        let mut watch = IamWatch::new(keys.clone(), lock.clone());
        assert!(watch.changes().is_empty(), "the first look is the baseline");

        save(vec![key("a", false), key("b", false), key("c", false)]);
        let actions = |events: Vec<AuditEvent>| -> Vec<Action> {
            events.iter().map(AuditEvent::action).collect()
        };
        assert_eq!(actions(watch.changes()), [Action::ApiKeyCreated; 2]);
        save(vec![key("a", true), key("b", false)]);
        assert_eq!(actions(watch.changes()), [Action::ApiKeyRevoked; 2]);
        assert!(watch.changes().is_empty());

        lockdown::declare(&lock, 1_700_000_000).unwrap();
        assert_eq!(actions(watch.changes()), [Action::LockdownEnabled]);
        std::fs::remove_file(&lock).unwrap();
        assert_eq!(actions(watch.changes()), [Action::LockdownDisabled]);
    }
}
