//! Rotated file names and retention. A rotated file is `<active>.<seq of its first record, 20
//! digits>`, so names sort in chain order and never collide.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::config::RetentionAction;

pub fn rotated_name(active: &Path, first_seq: u64) -> PathBuf {
    let mut name = active.as_os_str().to_owned();
    name.push(format!(".{first_seq:020}"));
    PathBuf::from(name)
}

/// Rotated files beside `active`, oldest first.
pub fn list_rotated(active: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let dir = match active.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Some(base) = active.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_prefix(base))
            .and_then(|rest| rest.strip_prefix('.'))
            .filter(|digits| digits.len() == 20)
            .and_then(|digits| digits.parse::<u64>().ok())
        else {
            continue;
        };
        found.push((seq, entry.path()));
    }
    found.sort();
    Ok(found)
}

/// Deletes or archives rotated files last modified more than `days` days ago; returns each file
/// handled and whether it was archived. `days == 0` keeps everything.
pub fn apply_retention(
    active: &Path,
    days: u64,
    action: RetentionAction,
    archive_dir: Option<&Path>,
) -> io::Result<Vec<(PathBuf, bool)>> {
    if days == 0 {
        return Ok(Vec::new());
    }
    let cutoff = SystemTime::now()
        .checked_sub(Duration::from_secs(days.saturating_mul(86_400)))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut handled = Vec::new();
    for (_, path) in list_rotated(active)? {
        if std::fs::metadata(&path)?.modified()? >= cutoff {
            continue;
        }
        match (action, archive_dir) {
            (RetentionAction::Archive, Some(dir)) => {
                std::fs::create_dir_all(dir)?;
                let target = dir.join(path.file_name().unwrap_or_default());
                std::fs::rename(&path, &target)?;
                handled.push((path, true));
            }
            _ => {
                std::fs::remove_file(&path)?;
                handled.push((path, false));
            }
        }
    }
    Ok(handled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_chain_order_and_strangers_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let active = dir.path().join("audit.log");
        for seq in [10, 2, 100] {
            std::fs::write(rotated_name(&active, seq), "").unwrap();
        }
        std::fs::write(dir.path().join("audit.log.bak"), "").unwrap();
        std::fs::write(dir.path().join("other.log.00000000000000000001"), "").unwrap();
        let seqs: Vec<u64> = list_rotated(&active)
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(seqs, [2, 10, 100]);
    }

    #[test]
    fn retention_handles_only_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let active = dir.path().join("audit.log");
        let old = rotated_name(&active, 1);
        let new = rotated_name(&active, 5);
        std::fs::write(&old, "").unwrap();
        std::fs::write(&new, "").unwrap();
        let past = SystemTime::now() - Duration::from_secs(3 * 86_400);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(past)
            .unwrap();
        assert!(apply_retention(&active, 0, RetentionAction::Delete, None)
            .unwrap()
            .is_empty());
        let archive = dir.path().join("archive");
        let done = apply_retention(&active, 2, RetentionAction::Archive, Some(&archive)).unwrap();
        assert_eq!(done, [(old.clone(), true)]);
        assert!(!old.exists() && new.exists());
        assert!(archive.join(old.file_name().unwrap()).exists());
    }
}
