//! File sink: exact counts under concurrent load, contiguous chain across restarts and rotation,
//! retention audited, signed checkpoints.

use mimir_proxy::audit::chain::Hasher;
use mimir_proxy::audit::checkpoint::{self, VerifyKey};
use mimir_proxy::audit::config::{AuditConfig, Destination, Durability, RetentionAction};
use mimir_proxy::audit::rotate;
use mimir_proxy::audit::verify::{self, Options};
use mimir_proxy::audit::{Audit, AuditEvent};
use std::path::{Path, PathBuf};

fn config(dir: &Path, mode: Durability) -> AuditConfig {
    let mut cfg = AuditConfig {
        enabled: true,
        mode,
        destinations: vec![Destination::File],
        ..AuditConfig::default()
    };
    cfg.file.path = dir.join("audit.log");
    cfg
}

fn all_files(active: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = rotate::list_rotated(active)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    files.push(active.to_owned());
    files
}

fn records(files: &[PathBuf]) -> Vec<serde_json::Value> {
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn plain() -> Options {
    Options {
        hasher: Hasher::Sha256,
        key: None,
    }
}

async fn load(audit: &Audit, tasks: usize, per_task: usize, durable: bool) {
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let audit = audit.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    let e = AuditEvent::logout(&format!("user-{t}-{i}"));
                    if durable {
                        audit.record_durable(e).await.unwrap();
                    } else {
                        audit.record(e).await.unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_events_are_all_written_once_with_contiguous_seq() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), Durability::Async);
    cfg.queue_capacity = 64; // forces backpressure on the producers
    let audit = Audit::start(&cfg).unwrap();
    load(&audit, 16, 1_250, false).await;
    audit.shutdown().await.unwrap();
    assert!(audit.record(AuditEvent::logout("late")).await.is_err());

    let recs = records(&[cfg.file.path.clone()]);
    assert_eq!(recs.len(), 20_000);
    let seqs: Vec<u64> = recs.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=20_000).collect::<Vec<_>>());
    let mut users: Vec<&str> = recs
        .iter()
        .map(|r| r["user.id"].as_str().unwrap())
        .collect();
    users.sort_unstable();
    users.dedup();
    assert_eq!(users.len(), 20_000, "each event exactly once");
    let report = verify::verify(&[cfg.file.path.clone()], &plain()).unwrap();
    assert_eq!((report.records, report.last_seq), (20_000, Some(20_000)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_acknowledges_only_written_records() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), Durability::Strict);
    let audit = Audit::start(&cfg).unwrap();
    assert!(audit.is_strict() && audit.is_available());
    load(&audit, 32, 50, true).await;
    // Acknowledged means on disk, before shutdown.
    assert_eq!(records(std::slice::from_ref(&cfg.file.path)).len(), 1_600);
    audit.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_continues_across_restarts_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), Durability::Async);
    cfg.file.rotate_max_bytes = 20_000;
    for _ in 0..3 {
        let audit = Audit::start(&cfg).unwrap();
        // Durable records are written one batch each, so rotation happens at the size limit.
        load(&audit, 2, 150, true).await;
        audit.shutdown().await.unwrap();
    }
    let files = all_files(&cfg.file.path);
    assert!(files.len() > 3, "rotated: {files:?}");
    let recs = records(&files);
    assert_eq!(recs.len(), 900);
    // Files named in any order still verify.
    let mut shuffled = files.clone();
    shuffled.reverse();
    let report = verify::verify(&shuffled, &plain()).unwrap();
    assert_eq!((report.first_seq, report.last_seq), (Some(1), Some(900)));
}

#[tokio::test]
async fn interrupted_write_is_cut_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), Durability::Async);
    let audit = Audit::start(&cfg).unwrap();
    load(&audit, 1, 5, false).await;
    audit.shutdown().await.unwrap();
    let mut text = std::fs::read(&cfg.file.path).unwrap();
    text.extend_from_slice(br#"{"@timestamp":"2025-01-01T00:00:00.000Z","event.act"#);
    std::fs::write(&cfg.file.path, &text).unwrap();

    let audit = Audit::start(&cfg).unwrap();
    load(&audit, 1, 5, false).await;
    audit.shutdown().await.unwrap();
    let report = verify::verify(std::slice::from_ref(&cfg.file.path), &plain()).unwrap();
    assert_eq!(report.last_seq, Some(10));
}

#[tokio::test]
async fn a_tampered_last_record_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), Durability::Async);
    let audit = Audit::start(&cfg).unwrap();
    load(&audit, 1, 3, false).await;
    audit.shutdown().await.unwrap();
    let text = std::fs::read_to_string(&cfg.file.path).unwrap();
    std::fs::write(&cfg.file.path, text.replace("user-0-2", "user-0-X")).unwrap();
    let err = Audit::start(&cfg).err().expect("must refuse").to_string();
    assert!(err.contains("fails its check"), "{err}");
}

#[tokio::test]
async fn retention_deletes_old_files_and_audits_each_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), Durability::Async);
    cfg.file.rotate_max_bytes = 5_000;
    let audit = Audit::start(&cfg).unwrap();
    load(&audit, 1, 100, true).await;
    audit.shutdown().await.unwrap();
    let rotated = rotate::list_rotated(&cfg.file.path).unwrap();
    assert!(rotated.len() >= 2);
    let (_, oldest) = &rotated[0];
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(oldest)
        .unwrap()
        .set_modified(past)
        .unwrap();

    cfg.file.retention_days = 30;
    cfg.file.retention_action = RetentionAction::Delete;
    let audit = Audit::start(&cfg).unwrap();
    audit.shutdown().await.unwrap();
    assert!(!oldest.exists());
    let files = all_files(&cfg.file.path);
    let deletions: Vec<_> = records(&files)
        .into_iter()
        .filter(|r| r["event.action"] == "audit-file-deleted")
        .collect();
    assert_eq!(deletions.len(), 1);
    assert_eq!(deletions[0]["file.path"], oldest.display().to_string());
    // What is left still verifies; it just no longer starts at seq 1.
    let report = verify::verify(&files, &plain()).unwrap();
    assert!(report.first_seq.unwrap() > 1);
}

#[tokio::test]
async fn checkpoints_are_signed_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = checkpoint::generate(&dir.path().join("keys")).unwrap();
    let mut cfg = config(dir.path(), Durability::Async);
    cfg.file.signing_key_file = Some(private);
    let hmac = dir.path().join("hmac.key");
    std::fs::write(&hmac, [42u8; 32]).unwrap();
    cfg.file.hmac_key_file = Some(hmac);
    let audit = Audit::start(&cfg).unwrap();
    load(&audit, 2, 10, false).await;
    audit.shutdown().await.unwrap();

    let files = [cfg.file.path.clone()];
    let keyed = |key| Options {
        hasher: Hasher::from_key(Some(&[42u8; 32])),
        key,
    };
    let report = verify::verify(&files, &keyed(Some(VerifyKey::load(&public).unwrap()))).unwrap();
    assert_eq!(report.checkpoints, 1);
    assert_eq!(report.last_signed, Some(20));
    // Without the HMAC key the hashes do not match.
    assert!(verify::verify(&files, &plain()).is_err());
    // A different signing key is refused.
    let (_, other) = checkpoint::generate(&dir.path().join("other")).unwrap();
    let err = verify::verify(&files, &keyed(Some(VerifyKey::load(&other).unwrap()))).unwrap_err();
    assert!(err.message.contains("another key"), "{err}");
}
