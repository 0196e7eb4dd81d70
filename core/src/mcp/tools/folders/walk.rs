//! Collects the files `index_folder` indexes. Symlinks are never followed (a link could lead
//! out of the index root), sensitive files are refused, and size limits keep one call bounded.

use super::sensitive::is_sensitive;
use crate::mcp::tools::ToolError;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

const MAX_FILE_BYTES: u64 = 1024 * 1024;
const MAX_FILES: usize = 10_000;
const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
/// Skipped entries listed in the answer (the count covers all).
const MAX_SKIPPED_LISTED: usize = 100;
/// Folders that are never useful to index.
const ALWAYS_IGNORED: &[&str] = &[".git", "node_modules"];

pub struct Filter {
    include: Option<GlobSet>,
    ignore: GlobSet,
    recursive: bool,
    extra_sensitive: Vec<String>,
}

impl Filter {
    /// Patterns match a path relative to the folder (`/`-separated) or a bare file name.
    pub fn new(
        file_patterns: &[String],
        ignore_patterns: &[String],
        recursive: bool,
        extra_sensitive: Vec<String>,
    ) -> Result<Self, ToolError> {
        let include = (!file_patterns.is_empty())
            .then(|| globs(file_patterns))
            .transpose()?;
        let ignore_list: Vec<String> = ALWAYS_IGNORED
            .iter()
            .map(|s| s.to_string())
            .chain(ignore_patterns.iter().cloned())
            .collect();
        Ok(Self {
            include,
            ignore: globs(&ignore_list)?,
            recursive,
            extra_sensitive,
        })
    }
}

fn globs(patterns: &[String]) -> Result<GlobSet, ToolError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern)
            .map_err(|e| ToolError::Invalid(format!("Invalid glob pattern '{pattern}': {e}")))?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|e| ToolError::Invalid(format!("Invalid glob patterns: {e}")))
}

fn matches(set: &GlobSet, relative: &str, name: &str) -> bool {
    set.is_match(relative) || set.is_match(name)
}

pub struct FoundFile {
    pub path: PathBuf,
    pub name: String,
    pub content: String,
    pub size: u64,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: &'static str,
}

#[derive(Default)]
pub struct Walk {
    pub files: Vec<FoundFile>,
    pub skipped: Vec<Skipped>,
    pub skipped_count: usize,
    /// A limit stopped the walk before every file was seen.
    pub truncated: bool,
}

impl Walk {
    fn skip(&mut self, path: String, reason: &'static str) {
        self.skipped_count += 1;
        if self.skipped.len() < MAX_SKIPPED_LISTED {
            self.skipped.push(Skipped { path, reason });
        }
    }
}

/// Blocking: run it on the blocking pool.
pub fn walk(root: &Path, filter: &Filter) -> Walk {
    let mut walk = Walk::default();
    let mut total_bytes = 0;
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            walk.skip(relative(root, &folder), "unreadable");
            continue;
        };
        let mut entries: Vec<fs::DirEntry> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let rel = relative(root, &path);
            let (Some(name), Ok(kind)) = (
                entry.file_name().to_str().map(str::to_string),
                entry.file_type(),
            ) else {
                walk.skip(rel, "unreadable");
                continue;
            };
            if kind.is_symlink() {
                walk.skip(rel, "symlink");
            } else if is_sensitive(&name, &filter.extra_sensitive) {
                walk.skip(rel, "sensitive");
            } else if matches(&filter.ignore, &rel, &name) {
                // Ignored on purpose: not worth reporting.
            } else if kind.is_dir() {
                if filter.recursive {
                    folders.push(path);
                }
            } else if kind.is_file()
                && filter
                    .include
                    .as_ref()
                    .is_none_or(|set| matches(set, &rel, &name))
            {
                if walk.files.len() >= MAX_FILES || total_bytes >= MAX_TOTAL_BYTES {
                    walk.truncated = true;
                    return walk;
                }
                match read_text(&path) {
                    Ok(content) => {
                        let size = content.len() as u64;
                        total_bytes += size;
                        walk.files.push(FoundFile {
                            path,
                            name,
                            content,
                            size,
                        });
                    }
                    Err(reason) => walk.skip(rel, reason),
                }
            }
        }
    }
    walk
}

/// The file's text, or why it is skipped. Reads at most one byte past the limit, so a file
/// that grows meanwhile cannot make us read more.
fn read_text(path: &Path) -> Result<String, &'static str> {
    let file = fs::File::open(path).map_err(|_| "unreadable")?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|_| "unreadable")?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err("too_large");
    }
    String::from_utf8(bytes).map_err(|_| "not_utf8")
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(walk: &Walk) -> Vec<String> {
        let mut names: Vec<String> = walk.files.iter().map(|f| f.name.clone()).collect();
        names.sort();
        names
    }

    fn filter(include: &[&str], ignore: &[&str], recursive: bool) -> Filter {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Filter::new(&strings(include), &strings(ignore), recursive, vec![]).unwrap()
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, content) in [
            ("a.md", b"# a".as_slice()),
            ("b.rs", b"fn main() {}"),
            ("sub/c.md", b"# c"),
            ("sub/.env", b"SECRET=1"),
            ("sub/key.pem", b"-----BEGIN"),
            ("bin.dat", &[0xff, 0xfe, 0x00]),
            (".git/config", b"[core]"),
            ("logs/x.log", b"log"),
        ] {
            let file = root.join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, content).unwrap();
        }
        fs::write(
            root.join("big.txt"),
            vec![b'x'; MAX_FILE_BYTES as usize + 1],
        )
        .unwrap();
        dir
    }

    #[test]
    fn indexes_text_files_and_reports_what_it_skips() {
        let dir = tree();
        let walk = walk(dir.path(), &filter(&[], &["logs"], true));
        assert_eq!(names(&walk), vec!["a.md", "b.rs", "c.md"]);
        let reason = |p: &str| walk.skipped.iter().find(|s| s.path == p).map(|s| s.reason);
        assert_eq!(reason("sub/.env"), Some("sensitive"));
        assert_eq!(reason("sub/key.pem"), Some("sensitive"));
        assert_eq!(reason("bin.dat"), Some("not_utf8"));
        assert_eq!(reason("big.txt"), Some("too_large"));
        assert_eq!(walk.skipped_count, 4);
        assert!(!walk.truncated);
        let c = walk.files.iter().find(|f| f.name == "c.md").unwrap();
        assert_eq!((c.content.as_str(), c.size), ("# c", 3));
    }

    #[test]
    fn patterns_and_recursion_select_files() {
        let dir = tree();
        assert_eq!(
            names(&walk(dir.path(), &filter(&["*.md"], &[], true))),
            vec!["a.md", "c.md"]
        );
        assert_eq!(
            names(&walk(dir.path(), &filter(&["*.md"], &[], false))),
            vec!["a.md"]
        );
        assert_eq!(
            names(&walk(
                dir.path(),
                &filter(&[], &["sub/**", "*.rs", "logs"], true)
            )),
            vec!["a.md"]
        );
        assert!(Filter::new(&["a[".into()], &[], true, vec![]).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed() {
        let dir = tree();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.txt"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            dir.path().join("file-link"),
        )
        .unwrap();
        let walk = walk(dir.path(), &filter(&[], &[], true));
        assert!(!names(&walk).contains(&"secret.txt".to_string()));
        assert!(walk
            .skipped
            .iter()
            .any(|s| s.path == "link" && s.reason == "symlink"));
        assert!(walk
            .skipped
            .iter()
            .any(|s| s.path == "file-link" && s.reason == "symlink"));
    }
}
