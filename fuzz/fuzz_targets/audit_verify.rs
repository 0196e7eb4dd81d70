//! The audit file reader behind `audit verify`. Mode bit 0 clear: one line through
//! `audit::chain::check_line`. Set: the input is up to three files (separated by an empty
//! line) for `audit::verify::verify`; with bit 1 each line is the record before its hash and
//! gets a correct `,"hash":"…"}` here, so the chain checks behind the hash are reached; with
//! bit 2 the last file lacks its final newline; with bit 3 checkpoints are checked with a key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimir_proxy::audit::chain::{check_line, Hasher};
use mimir_proxy::audit::checkpoint::{self, VerifyKey};
use mimir_proxy::audit::verify::{verify, Options};
use ring::digest;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Fixture {
    dir: tempfile::TempDir,
    public_key: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        let (_, public_key) = checkpoint::generate(&keys).unwrap();
        Fixture { dir, public_key }
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let _ = check_line(&Hasher::Sha256, data);
        return;
    }
    let fixture = fixture();
    let mut files: Vec<Vec<u8>> = vec![Vec::new()];
    let mut records = 0u64;
    for line in data.split(|&b| b == b'\n') {
        if line.is_empty() {
            if files.len() == 3 {
                break;
            }
            files.push(Vec::new());
            continue;
        }
        let file = files.last_mut().unwrap();
        file.extend_from_slice(line);
        if mode & 2 == 2 {
            let hash = digest::digest(&digest::SHA256, line);
            file.extend_from_slice(format!(",\"hash\":\"{}\"}}", hex(hash.as_ref())).as_bytes());
        }
        file.push(b'\n');
        records += 1;
    }
    if mode & 4 == 4 {
        files.last_mut().unwrap().pop();
    }
    let paths: Vec<PathBuf> = files
        .iter()
        .enumerate()
        .map(|(i, contents)| {
            let path = fixture.dir.path().join(format!("audit-{i}.jsonl"));
            std::fs::write(&path, contents).unwrap();
            path
        })
        .collect();
    let key = (mode & 8 == 8).then(|| VerifyKey::load(&fixture.public_key).unwrap());
    let opts = Options {
        hasher: Hasher::Sha256,
        key,
    };
    if let Ok(report) = verify(&paths, &opts) {
        assert_eq!(report.records, records);
    }
});
