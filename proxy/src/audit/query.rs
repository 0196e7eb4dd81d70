//! `audit query` and `audit tail`: read audit files and print the matching lines unchanged.

use anyhow::Context;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Every given condition must hold.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub user: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

impl Filter {
    pub fn matches(&self, record: &Map<String, Value>) -> bool {
        let field = |name: &str| record.get(name).and_then(Value::as_str);
        let equal = |want: &Option<String>, name: &str| {
            want.as_deref().is_none_or(|w| field(name) == Some(w))
        };
        if !(equal(&self.user, "user.id") && equal(&self.action, "event.action")) {
            return false;
        }
        if !equal(&self.outcome, "event.outcome") {
            return false;
        }
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Some(at) = field("@timestamp").and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        else {
            return false;
        };
        self.since.is_none_or(|s| at >= s) && self.until.is_none_or(|u| at < u)
    }
}

pub fn parse_time(v: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(v, &Rfc3339)
        .map_err(|_| format!("expected an RFC 3339 time such as 2025-01-31T12:00:00Z, got {v:?}"))
}

/// Prints the lines of `files` (in the order given) that match; returns how many did.
pub fn query(files: &[PathBuf], filter: &Filter, out: &mut dyn Write) -> anyhow::Result<u64> {
    let mut matched = 0;
    scan(files, |at, line, record| {
        let record = record.with_context(|| format!("{at}: not a JSON object"))?;
        if filter.matches(&record) {
            writeln!(out, "{line}")?;
            matched += 1;
        }
        Ok(())
    })?;
    Ok(matched)
}

/// Calls `each` with every line of `files`, in order: where it is (`FILE:LINE`), the line, and
/// its record (`None` when the line is not a JSON object).
pub fn scan(
    files: &[PathBuf],
    mut each: impl FnMut(&str, &str, Option<Map<String, Value>>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for path in files {
        let reader = BufReader::new(
            File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        for (number, line) in reader.lines().enumerate() {
            let at = format!("{}:{}", path.display(), number + 1);
            let line = line.with_context(|| at.clone())?;
            each(&at, &line, serde_json::from_str(&line).ok())?;
        }
    }
    Ok(())
}

/// Prints the last `lines` lines of `path`; with `follow`, keeps printing what is appended
/// (starting over when the file is rotated away) until the output closes.
pub fn tail(path: &Path, lines: usize, follow: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut last: VecDeque<String> = VecDeque::with_capacity(lines);
    let mut reader = BufReader::new(&mut file);
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        if line.ends_with('\n') {
            if last.len() == lines {
                last.pop_front();
            }
            if lines > 0 {
                last.push_back(std::mem::take(&mut line));
            }
            line.clear();
        }
    }
    for l in &last {
        out.write_all(l.as_bytes())?;
    }
    out.flush()?;
    if !follow {
        return Ok(());
    }
    let mut position = reader.stream_position()? - line.len() as u64;
    drop(reader);
    let mut inode = file.metadata()?.ino();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        // Rotated: the name now points at a new file; read that one from its start.
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.ino() != inode {
                file = File::open(path)?;
                inode = file.metadata()?.ino();
                position = 0;
            }
        }
        file.seek(SeekFrom::Start(position))?;
        let mut reader = BufReader::new(&mut file);
        let mut chunk = String::new();
        while reader.read_line(&mut chunk)? > 0 && chunk.ends_with('\n') {
            out.write_all(chunk.as_bytes())?;
            position += chunk.len() as u64;
            chunk.clear();
        }
        out.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn filters_combine() {
        let r = record(
            r#"{"@timestamp":"2025-03-01T10:00:00.000Z","user.id":"alice","event.action":"user-login","event.outcome":"success"}"#,
        );
        assert!(Filter::default().matches(&r));
        let mut f = Filter {
            user: Some("alice".into()),
            action: Some("user-login".into()),
            since: Some(parse_time("2025-03-01T00:00:00Z").unwrap()),
            ..Filter::default()
        };
        assert!(f.matches(&r));
        f.until = Some(parse_time("2025-03-01T10:00:00Z").unwrap());
        assert!(!f.matches(&r), "until is exclusive");
        f.until = None;
        f.outcome = Some("failure".into());
        assert!(!f.matches(&r));
        assert!(parse_time("yesterday").is_err());
    }
}
