//! Strict mode on a full disk: a child process (this test binary) runs with RLIMIT_FSIZE so that
//! the audit file cannot grow past a few KB. Every record acknowledged must be in the file,
//! every other caller must get an error (the gateway's 503), and the chain must stay intact.

use mimir_proxy::audit::chain::Hasher;
use mimir_proxy::audit::config::{AuditConfig, Destination, Durability};
use mimir_proxy::audit::verify::{self, Options};
use mimir_proxy::audit::{Audit, AuditEvent};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

const CHILD_ENV: &str = "MIMIR_AUDIT_DISK_FULL_CHILD";
const FILE_LIMIT: u64 = 16 * 1024;
const ATTEMPTS: usize = 200;

/// Runs only inside the child: records until the limit is hit and reports the counts.
#[tokio::test]
async fn child_records_until_the_disk_is_full() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut cfg = AuditConfig {
        enabled: true,
        mode: Durability::Strict,
        destinations: vec![Destination::File],
        ..AuditConfig::default()
    };
    cfg.file.path = PathBuf::from(path);
    let audit = Audit::start(&cfg).unwrap();
    let (mut ok, mut refused) = (0, 0);
    for i in 0..ATTEMPTS {
        match audit
            .record_durable(AuditEvent::logout(&format!("user-{i}")))
            .await
        {
            Ok(()) => ok += 1,
            Err(_) => refused += 1,
        }
    }
    let available = audit.is_available();
    let _ = audit.shutdown().await;
    println!("RESULT ok={ok} refused={refused} available={available}");
}

#[test]
fn strict_mode_refuses_instead_of_losing_records_when_the_disk_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.log");
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "child_records_until_the_disk_is_full",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &file);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        child.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: FILE_LIMIT,
                rlim_max: FILE_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Writes past the limit must fail with EFBIG, not kill the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("child did not report: {stdout}"));
    let field = |name: &str| -> String {
        result
            .split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    let ok: usize = field("ok").parse().unwrap();
    let refused: usize = field("refused").parse().unwrap();
    assert_eq!(ok + refused, ATTEMPTS);
    assert!(ok > 10 && refused > 0, "{result}");
    assert_eq!(field("available"), "false", "the failure is visible");

    // Exactly the acknowledged records are on disk, chained without a gap.
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.lines().count(), ok);
    assert!(std::fs::metadata(&file).unwrap().len() <= FILE_LIMIT);
    let report = verify::verify(
        &[file],
        &Options {
            hasher: Hasher::Sha256,
            key: None,
        },
    )
    .unwrap();
    assert_eq!(report.last_seq, Some(ok as u64));
}
