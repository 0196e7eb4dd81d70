//! `audit verify`: walks the chain across the given files (in sequence order, whatever order they
//! are named in) and reports the first record that is altered, missing, out of order or
//! incomplete, and any checkpoint whose signature does not hold.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::chain::{self, Hasher, Link};
use super::checkpoint::{self, VerifyKey};

pub struct Options {
    pub hasher: Hasher,
    /// Checkpoint signatures are checked only with a key.
    pub key: Option<VerifyKey>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub files: usize,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub checkpoints: u64,
    /// Sequence number of the last checkpoint whose signature was checked.
    pub last_signed: Option<u64>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Broken {
    pub file: PathBuf,
    /// 1-based line number.
    pub line: u64,
    pub message: String,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.first_seq, self.last_seq) {
            (Some(first), Some(last)) => write!(
                f,
                "OK: {} records (seq {first}..{last}) in {} file(s), {} checkpoint(s)",
                self.records, self.files, self.checkpoints
            )?,
            _ => write!(f, "OK: no records in {} file(s)", self.files)?,
        }
        match self.last_signed {
            Some(seq) => write!(f, "; signatures verified up to seq {seq}"),
            None => Ok(()),
        }
    }
}

pub fn verify(files: &[PathBuf], opts: &Options) -> Result<Report, Broken> {
    let mut ordered = Vec::with_capacity(files.len());
    for path in files {
        ordered.push((first_seq(path)?, path));
    }
    ordered.sort();
    let mut report = Report {
        files: files.len(),
        ..Report::default()
    };
    let mut prev: Option<Link> = None;
    for (_, path) in ordered {
        verify_file(path, opts, &mut prev, &mut report)?;
    }
    Ok(report)
}

fn broken(file: &Path, line: u64, message: impl Into<String>) -> Broken {
    Broken {
        file: file.to_owned(),
        line,
        message: message.into(),
    }
}

fn open(path: &Path) -> Result<BufReader<File>, Broken> {
    File::open(path)
        .map(|f| BufReader::with_capacity(1 << 20, f))
        .map_err(|e| broken(path, 0, format!("cannot read: {e}")))
}

/// The first record's `seq`, for ordering (empty files sort first and contribute nothing).
fn first_seq(path: &Path) -> Result<u64, Broken> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    let mut line = Vec::new();
    open(path)?
        .read_until(b'\n', &mut line)
        .map_err(|e| broken(path, 1, format!("cannot read: {e}")))?;
    if line.is_empty() {
        return Ok(0);
    }
    serde_json::from_slice::<Seq>(&line)
        .map(|s| s.seq)
        .map_err(|e| broken(path, 1, format!("not a valid audit record: {e}")))
}

fn verify_file(
    path: &Path,
    opts: &Options,
    prev: &mut Option<Link>,
    report: &mut Report,
) -> Result<(), Broken> {
    let mut reader = open(path)?;
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| broken(path, number + 1, format!("cannot read: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        let Some(record) = line.strip_suffix(b"\n") else {
            return Err(broken(
                path,
                number,
                "incomplete last record (interrupted write)",
            ));
        };
        let link = chain::check_line(&opts.hasher, record).map_err(|m| broken(path, number, m))?;
        match prev {
            None if link.seq == 1 && link.prev_hash != chain::GENESIS => {
                return Err(broken(
                    path,
                    number,
                    "seq 1 does not start from the genesis hash",
                ));
            }
            None => report.first_seq = Some(link.seq),
            // Saturating: nothing can follow seq u64::MAX (the next branch says so).
            Some(p) if link.seq > p.seq.saturating_add(1) => {
                return Err(broken(
                    path,
                    number,
                    format!("records {}..{} are missing", p.seq + 1, link.seq - 1),
                ));
            }
            Some(p) if link.seq <= p.seq => {
                return Err(broken(
                    path,
                    number,
                    format!(
                        "seq {} follows seq {} (reordered or duplicated)",
                        link.seq, p.seq
                    ),
                ));
            }
            Some(p) if link.prev_hash != p.hash => {
                return Err(broken(
                    path,
                    number,
                    format!(
                        "prev_hash does not match record {} (reordered, removed or inserted)",
                        p.seq
                    ),
                ));
            }
            Some(_) => {}
        }
        if contains(record, br#""event.action":"audit-checkpoint""#) {
            check_checkpoint(record, prev.as_ref(), opts, report)
                .map_err(|m| broken(path, number, m))?;
        }
        report.records += 1;
        report.last_seq = Some(link.seq);
        *prev = Some(link);
    }
}

fn check_checkpoint(
    record: &[u8],
    prev: Option<&Link>,
    opts: &Options,
    report: &mut Report,
) -> Result<(), String> {
    report.checkpoints += 1;
    let Some(key) = &opts.key else {
        return Ok(());
    };
    let cp: checkpoint::Record =
        serde_json::from_slice(record).map_err(|e| format!("malformed checkpoint: {e}"))?;
    if cp.key_id != key.key_id() {
        return Err(format!("checkpoint signed by another key ({})", cp.key_id));
    }
    if !key.verify(&cp) {
        return Err("checkpoint signature is invalid".into());
    }
    match prev {
        Some(p) if p.seq == cp.seq && p.hash == cp.hash => {
            report.last_signed = Some(cp.seq);
            Ok(())
        }
        // The first record given may be a checkpoint over a record in a file not given.
        None => Ok(()),
        Some(p) => Err(format!(
            "checkpoint covers seq {} but follows seq {}",
            cp.seq, p.seq
        )),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::Chain;
    use proptest::prelude::*;

    /// Sealed records of one chain, each a complete line.
    fn chain(bodies: &[String]) -> Vec<Vec<u8>> {
        let mut chain = Chain::new(Hasher::Sha256);
        bodies
            .iter()
            .map(|body| {
                let mut line = Vec::new();
                chain.seal(
                    format!(r#"{{"event.action":"request","msg":{body:?}"#).as_bytes(),
                    &mut line,
                );
                line
            })
            .collect()
    }

    fn verifies(dir: &Path, contents: &[u8]) -> bool {
        let path = dir.join("audit.jsonl");
        std::fs::write(&path, contents).unwrap();
        let opts = Options {
            hasher: Hasher::Sha256,
            key: None,
        };
        verify(&[path], &opts).is_ok()
    }

    fn records() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec("[ -~é]{0,12}", 3..8)
    }

    #[test]
    fn a_record_after_the_last_sequence_number_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = Vec::new();
        Chain::resume(Hasher::Sha256, u64::MAX - 1, chain::GENESIS.into())
            .seal(br#"{"a":1"#, &mut file);
        Chain::new(Hasher::Sha256).seal(br#"{"a":1"#, &mut file);
        assert!(!verifies(dir.path(), &file));
    }

    proptest! {
        #[test]
        fn any_byte_changed_removed_or_added_breaks_the_chain(
            bodies in records(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            edit in 0..3,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut file = chain(&bodies).concat();
            prop_assert!(verifies(dir.path(), &file));
            let at = at.index(file.len());
            match edit {
                0 if file[at] == byte => return Ok(()),
                0 => file[at] = byte,
                1 => {
                    file.remove(at);
                }
                _ => file.insert(at, byte),
            }
            prop_assert!(!verifies(dir.path(), &file));
        }

        /// Removing a record between two others, swapping two, or adding one back anywhere
        /// (a copy, or a record of a fork of the same chain) is refused. Only the ends can go
        /// unnoticed: a file may start or stop at any record (rotation).
        #[test]
        fn removed_reordered_or_inserted_records_break_the_chain(
            bodies in records(),
            fork in records(),
            picks in any::<(prop::sample::Index, prop::sample::Index, prop::sample::Index)>(),
            edit in 0..3,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut lines = chain(&bodies);
            let len = lines.len();
            let (a, b, c) = (picks.0.index(len), picks.1.index(len), picks.2.index(len + 1));
            match edit {
                0 => {
                    lines.remove(1 + a % (lines.len() - 2));
                }
                1 if a == b => return Ok(()),
                1 => lines.swap(a, b),
                _ => {
                    let forked = chain(&fork);
                    // A record with a sequence number the chain already holds.
                    let extra = if b % 2 == 0 {
                        lines[a].clone()
                    } else {
                        forked[a % forked.len().min(len)].clone()
                    };
                    lines.insert(c, extra);
                }
            }
            prop_assert!(!verifies(dir.path(), &lines.concat()));
        }
    }
}
