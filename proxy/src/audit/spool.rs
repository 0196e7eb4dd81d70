//! The webhook's on-disk queue: every record bound for the webhook is appended here first and
//! removed only once the receiver accepted it, so an unreachable receiver loses nothing and gets
//! everything in order when it returns. Segment files `<n, 20 digits>.spool` hold the lines; the
//! file `cursor` holds the delivery position (segment and offset), replaced atomically.

use anyhow::Context;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// A new segment starts beyond this size, so delivered data is freed in pieces.
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("audit webhook spool is full ({0} bytes); records are not queued for the webhook")]
    Full(u64),
    #[error("audit webhook spool: {0}")]
    Io(#[from] io::Error),
}

/// State shared by the appending writer and the delivering reader.
struct Shared {
    dir: PathBuf,
    /// Bytes in segment files (delivered parts of the oldest segment included).
    bytes: AtomicU64,
    /// End of the written data: (segment, length).
    end: Mutex<(u64, u64)>,
    appended: Notify,
    full: AtomicBool,
}

pub struct SpoolWriter {
    shared: Arc<Shared>,
    max_bytes: u64,
    segment: u64,
    len: u64,
    file: File,
}

pub struct SpoolReader {
    shared: Arc<Shared>,
    segment: u64,
    offset: u64,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.spool"))
}

fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut found: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".spool")?.parse().ok())
        .collect();
    found.sort_unstable();
    Ok(found)
}

/// Opens (or creates) the spool in `dir`.
pub fn open(dir: &Path, max_bytes: u64) -> anyhow::Result<(SpoolWriter, SpoolReader)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let existing = segments(dir)?;
    let segment = existing.last().copied().unwrap_or(1);
    let path = segment_path(dir, segment);
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let len = complete_length(&mut file)?;
    let mut bytes = 0;
    for n in &existing {
        bytes += std::fs::metadata(segment_path(dir, *n))?.len();
    }
    let first = existing.first().copied().unwrap_or(segment);
    let (cursor_segment, offset) = read_cursor(dir).unwrap_or((first, 0));
    let shared = Arc::new(Shared {
        dir: dir.to_owned(),
        bytes: AtomicU64::new(bytes),
        end: Mutex::new((segment, len)),
        appended: Notify::new(),
        full: AtomicBool::new(false),
    });
    let writer = SpoolWriter {
        shared: shared.clone(),
        max_bytes,
        segment,
        len,
        file,
    };
    let reader = SpoolReader {
        shared,
        segment: cursor_segment,
        offset,
    };
    Ok((writer, reader))
}

/// Cuts an interrupted last line; returns the length of complete lines.
fn complete_length(file: &mut File) -> io::Result<u64> {
    let mut data = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut data)?;
    let keep = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) as u64;
    if keep != data.len() as u64 {
        file.set_len(keep)?;
    }
    Ok(keep)
}

fn read_cursor(dir: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(dir.join("cursor")).ok()?;
    let (segment, offset) = text.trim().split_once(' ')?;
    Some((segment.parse().ok()?, offset.parse().ok()?))
}

impl SpoolWriter {
    /// Appends complete lines. Refuses (and raises the alarm once) when the spool is full.
    pub fn append(&mut self, lines: &[u8]) -> Result<(), SpoolError> {
        let size = lines.len() as u64;
        let used = self.shared.bytes.load(Ordering::Acquire);
        if used + size > self.max_bytes {
            if !self.shared.full.swap(true, Ordering::AcqRel) {
                tracing::error!(
                    dir = %self.shared.dir.display(),
                    used,
                    max = self.max_bytes,
                    "ALARM: audit webhook spool is full; the receiver has been unreachable too long \
                     and new records are not queued for it"
                );
            }
            return Err(SpoolError::Full(used));
        }
        if self.shared.full.swap(false, Ordering::AcqRel) {
            tracing::warn!("audit webhook spool has room again");
        }
        if self.len >= SEGMENT_BYTES {
            self.file.sync_data()?;
            self.segment += 1;
            self.len = 0;
            self.file = OpenOptions::new()
                .append(true)
                .create(true)
                .open(segment_path(&self.shared.dir, self.segment))?;
        }
        if let Err(e) = self.file.write_all(lines) {
            let _ = self.file.set_len(self.len);
            return Err(e.into());
        }
        self.len += size;
        self.shared.bytes.fetch_add(size, Ordering::AcqRel);
        *self.shared.end.lock().unwrap_or_else(|e| e.into_inner()) = (self.segment, self.len);
        self.shared.appended.notify_one();
        Ok(())
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    pub fn is_full(&self) -> bool {
        self.shared.full.load(Ordering::Acquire)
    }
}

/// Up to `max` lines from the delivery position, and the position after them.
pub struct Batch {
    pub lines: Vec<Vec<u8>>,
    segment: u64,
    offset: u64,
}

impl SpoolReader {
    /// Waits until something is appended (or returns at once if something already was).
    pub async fn appended(&self) {
        self.shared.appended.notified().await;
    }

    /// The next undelivered lines (possibly none). Does not move the delivery position.
    pub fn peek(&mut self, max: usize) -> io::Result<Batch> {
        let mut lines = Vec::new();
        let (mut segment, mut offset) = (self.segment, self.offset);
        loop {
            let end = *self.shared.end.lock().unwrap_or_else(|e| e.into_inner());
            let limit = if segment == end.0 { end.1 } else { u64::MAX };
            let mut data = Vec::new();
            match File::open(segment_path(&self.shared.dir, segment)) {
                Ok(mut f) => {
                    f.seek(SeekFrom::Start(offset))?;
                    f.take(limit.saturating_sub(offset))
                        .read_to_end(&mut data)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && segment < end.0 => {}
                Err(e) => return Err(e),
            }
            for line in data.split_inclusive(|b| *b == b'\n') {
                if lines.len() == max || !line.ends_with(b"\n") {
                    break;
                }
                offset += line.len() as u64;
                lines.push(line[..line.len() - 1].to_vec());
            }
            // An older segment is complete: once its lines are taken, continue in the next.
            if lines.len() < max && segment < end.0 {
                segment += 1;
                offset = 0;
                continue;
            }
            return Ok(Batch {
                lines,
                segment,
                offset,
            });
        }
    }

    /// Marks a batch delivered: persists the new position and frees finished segments.
    pub fn commit(&mut self, batch: &Batch) -> io::Result<()> {
        let dir = &self.shared.dir;
        let tmp = dir.join("cursor.tmp");
        let mut f = File::create(&tmp)?;
        writeln!(f, "{} {}", batch.segment, batch.offset)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join("cursor"))?;
        for old in self.segment..batch.segment {
            let path = segment_path(dir, old);
            if let Ok(meta) = std::fs::metadata(&path) {
                std::fs::remove_file(&path)?;
                self.shared.bytes.fetch_sub(meta.len(), Ordering::AcqRel);
            }
        }
        self.segment = batch.segment;
        self.offset = batch.offset;
        Ok(())
    }
}
