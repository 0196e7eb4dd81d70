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
            Some(p) if link.seq > p.seq + 1 => {
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
