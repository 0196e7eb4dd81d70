//! The file sink: appends sealed lines to the active file, rotates it, and at start recovers the
//! chain position from the last record on disk (checking that record's hash first).

use anyhow::{bail, Context};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::chain::{self, Chain, Hasher};
use super::config::FileSinkConfig;
use super::rotate;

/// How much of a file's end is read to find its last record (records are a few KiB at most).
const TAIL_BYTES: u64 = 256 * 1024;

pub struct FileSink {
    path: PathBuf,
    file: File,
    /// Bytes known to be complete records; a failed write is cut back to this.
    len: u64,
    /// Sequence number of the active file's first record, once it has one.
    first_seq: Option<u64>,
    /// When the active file got its first record (time rotation).
    started: Option<SystemTime>,
    max_bytes: u64,
    max_age: Option<Duration>,
}

impl FileSink {
    /// Opens (creating directories) and returns the chain position to continue from.
    pub fn open(cfg: &FileSinkConfig, hasher: Hasher) -> anyhow::Result<(Self, Chain)> {
        let path = cfg.path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .with_context(|| format!("cannot open audit file {}", path.display()))?;
        let len = cut_torn_tail(&mut file, &path)?;
        let (first_seq, started) = match first_record(&mut file)? {
            Some((seq, at)) => (Some(seq), Some(at)),
            None => (None, None),
        };
        // The last record: in the active file, else in the newest rotated one.
        let mut last = last_line(&mut file)?;
        if last.is_none() {
            if let Some((_, newest)) = rotate::list_rotated(&path)?.pop() {
                let mut f = File::open(&newest)
                    .with_context(|| format!("cannot read {}", newest.display()))?;
                last = last_line(&mut f)?;
            }
        }
        let chain = match last {
            None => Chain::new(hasher),
            Some(line) => {
                let link = chain::check_line(&hasher, &line).map_err(|e| {
                    anyhow::anyhow!(
                        "the last audit record before {} fails its check ({e}); \
                         run `mimir-proxy audit verify` and investigate before restarting",
                        path.display()
                    )
                })?;
                Chain::resume(hasher, link.seq, link.hash)
            }
        };
        let sink = Self {
            path,
            file,
            len,
            first_seq,
            started,
            max_bytes: cfg.rotate_max_bytes,
            max_age: (cfg.rotate_interval_hours > 0)
                .then(|| Duration::from_secs(cfg.rotate_interval_hours * 3600)),
        };
        Ok((sink, chain))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends complete lines whose first record is `first_seq`, fsyncing when `sync`. On any
    /// error the file is cut back so that no record of the failed batch stays behind.
    pub fn append(&mut self, lines: &[u8], first_seq: u64, sync: bool) -> io::Result<()> {
        let written =
            self.file
                .write_all(lines)
                .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            // Best effort: the next attempt rewrites the same records after a clean end.
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += lines.len() as u64;
        if self.first_seq.is_none() {
            self.first_seq = Some(first_seq);
            self.started = Some(SystemTime::now());
        }
        Ok(())
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    pub fn should_rotate(&self) -> bool {
        if self.first_seq.is_none() {
            return false;
        }
        let too_big = self.max_bytes > 0 && self.len >= self.max_bytes;
        let too_old = match (self.max_age, self.started) {
            (Some(age), Some(started)) => started.elapsed().is_ok_and(|e| e >= age),
            _ => false,
        };
        too_big || too_old
    }

    /// Renames the active file to its rotated name and starts a new one.
    pub fn rotate(&mut self) -> io::Result<PathBuf> {
        let Some(first_seq) = self.first_seq else {
            return Ok(self.path.clone());
        };
        self.file.sync_all()?;
        let target = rotate::rotated_name(&self.path, first_seq);
        std::fs::rename(&self.path, &target)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        self.len = 0;
        self.first_seq = None;
        self.started = None;
        Ok(target)
    }
}

/// A crash can leave a record half written (never acknowledged, since acknowledgement follows
/// the write). Cut it off so the file ends on a complete line; returns the new length.
fn cut_torn_tail(file: &mut File, path: &Path) -> anyhow::Result<u64> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    let tail = read_tail(file, len)?;
    if tail.ends_with(b"\n") {
        return Ok(len);
    }
    let keep = match tail.iter().rposition(|b| *b == b'\n') {
        Some(i) => len - (tail.len() - i - 1) as u64,
        None if len <= TAIL_BYTES => 0,
        None => bail!(
            "{} ends with a line longer than {TAIL_BYTES} bytes",
            path.display()
        ),
    };
    tracing::warn!(
        file = %path.display(),
        bytes = len - keep,
        "audit file ended with an incomplete record (interrupted write); cut it off"
    );
    file.set_len(keep)?;
    file.sync_all()?;
    Ok(keep)
}

fn read_tail(file: &mut File, len: u64) -> io::Result<Vec<u8>> {
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.take(len - start).read_to_end(&mut tail)?;
    Ok(tail)
}

/// The last complete line (without `\n`) of a file that ends on a line break.
fn last_line(file: &mut File) -> anyhow::Result<Option<Vec<u8>>> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let tail = read_tail(file, len)?;
    let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
    let start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    Ok(Some(body[start..].to_vec()))
}

/// Sequence number and `@timestamp` of the first record.
fn first_record(file: &mut File) -> anyhow::Result<Option<(u64, SystemTime)>> {
    #[derive(serde::Deserialize)]
    struct Head {
        seq: u64,
        #[serde(rename = "@timestamp")]
        timestamp: String,
    }
    file.seek(SeekFrom::Start(0))?;
    let mut head = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut head)?;
    let Some(end) = head.iter().position(|b| *b == b'\n') else {
        return Ok(None);
    };
    let parsed: Head =
        serde_json::from_slice(&head[..end]).context("the first audit record is not valid")?;
    let at = OffsetDateTime::parse(&parsed.timestamp, &Rfc3339)
        .map(SystemTime::from)
        .unwrap_or_else(|_| SystemTime::now());
    Ok(Some((parsed.seq, at)))
}
