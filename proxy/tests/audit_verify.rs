//! `mimir-proxy audit verify|query|tail` on real files: altered, deleted, reordered and inserted
//! records and a missing rotated file are each reported at the first bad line.

use mimir_proxy::audit::config::{AuditConfig, Destination};
use mimir_proxy::audit::{rotate, Audit, AuditEvent};
use std::path::{Path, PathBuf};
use std::process::Command;

fn cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mimir-proxy"))
        .arg("audit")
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Writes `n` login/logout records (rotating every ~4 KB) and returns the files, oldest first.
async fn write_log(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut cfg = AuditConfig {
        enabled: true,
        destinations: vec![Destination::File],
        ..AuditConfig::default()
    };
    cfg.file.path = dir.join("audit.log");
    cfg.file.rotate_max_bytes = 4_000;
    let audit = Audit::start(&cfg).unwrap();
    for i in 0..n {
        let e = if i % 3 == 0 {
            AuditEvent::login_failed(Some("mallory"), "password", "bad credentials")
        } else {
            AuditEvent::login(&format!("user{i}"), &["viewer".into()], "jwt")
        };
        // One record per write, so that rotation happens at the size limit.
        audit.record_durable(e).await.unwrap();
    }
    audit.shutdown().await.unwrap();
    let mut files: Vec<PathBuf> = rotate::list_rotated(&cfg.file.path)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    files.push(cfg.file.path);
    files
}

fn args(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|f| f.display().to_string()).collect()
}

fn verify(files: &[PathBuf]) -> (i32, String) {
    let mut a = vec!["verify".to_string()];
    a.extend(args(files));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    cli(&refs)
}

fn edit_lines(file: &Path, f: impl FnOnce(&mut Vec<String>)) {
    let mut lines: Vec<String> = std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    f(&mut lines);
    std::fs::write(file, lines.join("\n") + "\n").unwrap();
}

#[tokio::test]
async fn intact_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 60).await;
    assert!(files.len() >= 3);
    let (code, out) = verify(&files);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK: 60 records (seq 1..60)"), "{out}");
}

#[tokio::test]
async fn every_kind_of_tampering_is_reported_at_the_first_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 60).await;
    let first = files[0].clone();
    let pristine = std::fs::read_to_string(&first).unwrap();
    let restore = || std::fs::write(&first, &pristine).unwrap();
    let name = first.display().to_string();

    // Altered field.
    edit_lines(&first, |l| l[4] = l[4].replace("user4", "admin"));
    let (code, out) = verify(&files);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{name}:5: hash mismatch")), "{out}");
    restore();

    // Deleted record.
    edit_lines(&first, |l| {
        l.remove(2);
    });
    let (code, out) = verify(&files);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!("{name}:3: records 3..3 are missing")),
        "{out}"
    );
    restore();

    // Swapped records.
    edit_lines(&first, |l| l.swap(5, 6));
    let (code, out) = verify(&files);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!("{name}:6: records 6..6 are missing")),
        "{out}"
    );
    restore();

    // A forged record re-using the next seq but not the chain.
    edit_lines(&first, |l| {
        let forged = l[1].replace("\"seq\":2", "\"seq\":3");
        l.insert(2, forged);
    });
    let (code, out) = verify(&files);
    assert_eq!(code, 1);
    assert!(out.contains(&format!("{name}:3: hash mismatch")), "{out}");
    restore();

    // Duplicated record.
    edit_lines(&first, |l| {
        let dup = l[3].clone();
        l.insert(4, dup);
    });
    let (code, out) = verify(&files);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!("{name}:5: seq 4 follows seq 4")),
        "{out}"
    );
    restore();

    // Truncated last record.
    let cut = &pristine[..pristine.len() - 10];
    std::fs::write(&first, cut).unwrap();
    let (code, out) = verify(&files);
    assert_eq!(code, 1);
    assert!(out.contains("incomplete last record"), "{out}");
    restore();

    assert_eq!(verify(&files).0, 0);
}

#[tokio::test]
async fn a_missing_rotated_file_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = write_log(dir.path(), 60).await;
    let removed = files.remove(1);
    let (code, out) = verify(&files);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("are missing"), "{out} (removed {removed:?})");
}

#[tokio::test]
async fn query_and_tail_print_matching_lines() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 30).await;
    let mut a = vec![
        "query",
        "--action",
        "user-login-failed",
        "--outcome",
        "failure",
    ];
    let names = args(&files);
    a.extend(names.iter().map(String::as_str));
    let (code, out) = cli(&a);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.lines().count(), 10);
    assert!(out.lines().all(|l| l.contains("\"user.name\":\"mallory\"")));

    let mut a = vec![
        "query",
        "--user",
        "user1",
        "--since",
        "2000-01-01T00:00:00Z",
    ];
    a.extend(names.iter().map(String::as_str));
    assert_eq!(cli(&a).1.lines().count(), 1);
    let (code, out) = cli(&["query", "--since", "soon", &names[0]]);
    assert_eq!(code, 2, "{out}");

    let last = files.last().unwrap().display().to_string();
    let (code, out) = cli(&["tail", "-n", "2", &last]);
    assert_eq!(code, 0);
    let tail: Vec<&str> = out.lines().collect();
    let content = std::fs::read_to_string(files.last().unwrap()).unwrap();
    let expected: Vec<&str> = content
        .lines()
        .rev()
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(tail, expected);
}
