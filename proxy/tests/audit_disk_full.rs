//! Strict mode on a full disk, simulated with RLIMIT_FSIZE: first the audit library in a child
//! process (this test binary), then the real proxy binary. The audit file cannot grow past a
//! few KB. Every record acknowledged must be in the file, every other caller must get an error
//! (the gateway's 503), and the chain must stay intact.

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

#[allow(dead_code)]
mod support;

/// The real proxy in strict mode, its file size limited like a full disk: requests are served
/// while their records fit, then refused with 503 (readiness says why); every request that got
/// a success is in the log, and the log verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_answers_503_when_strict_records_cannot_be_written() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    const PROXY_FILE_LIMIT: u64 = 64 * 1024;
    let upstream = support::Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("audit.log");
    let mut opts = support::Options::new(&upstream);
    opts.extra_toml = format!(
        "{}\n[audit]\nenabled = true\nmode = \"strict\"\ndestinations = [\"file\"]\n\
         [audit.file]\npath = \"{}\"\n[traffic]\nrate_limits = false\n",
        support::AUTH_DISABLED,
        log.display()
    );
    // The harness writes the config and certificates; the proxy is then run again by hand
    // with the file size limit, which the harness cannot set.
    let mut configured = support::Proxy::start(opts).await;
    configured.signal("TERM");
    assert!(configured.wait_exit(Duration::from_secs(20)).is_some());
    std::fs::remove_file(&log).ok();

    let mut cmd = Command::new(support::BIN);
    cmd.arg("run")
        .arg("--config")
        .arg(configured.dir.path().join("proxy.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: PROXY_FILE_LIMIT,
                rlim_max: PROXY_FILE_LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(configured.addr)
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the proxy did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let client = configured.client();
    let (mut ok, mut refused) = (0usize, 0usize);
    for i in 0..1000 {
        let resp = client
            .get(configured.url(&format!("/api/nodes/{i}")))
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            200 => ok += 1,
            503 => {
                let body: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(body["message"], "the audit log is unavailable", "{body}");
                refused += 1;
                if refused == 5 {
                    break;
                }
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(ok > 10 && refused == 5, "ok={ok} refused={refused}");
    let ready = reqwest::get(format!("http://{}/readyz", configured.admin))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["checks"]["audit"], "unavailable");

    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();

    let text = std::fs::read_to_string(&log).unwrap();
    let served = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["event.action"] == "http-request" && r["http.response.status_code"] == 200)
        .count();
    assert_eq!(served, ok, "every success is recorded, no more and no less");
    assert!(std::fs::metadata(&log).unwrap().len() <= PROXY_FILE_LIMIT);
    let verify = Command::new(support::BIN)
        .args(["audit", "verify"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(verify.status.success(), "audit verify: {verify:?}");
}
