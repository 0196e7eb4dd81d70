//! Where `index_folder` may read: a folder inside one of the configured index roots once every
//! symlink is resolved, never through `..`, and never a sensitive file or folder.

use super::sensitive::is_sensitive;
use crate::mcp::tools::ToolError;
use std::path::{Component, Path, PathBuf};

/// The roots as absolute, symlink-free paths; roots that do not exist are left out.
pub fn canonical_roots(roots: &[PathBuf]) -> Vec<PathBuf> {
    roots.iter().filter_map(|r| r.canonicalize().ok()).collect()
}

/// `input` made absolute: relative paths are taken from the first index root.
pub fn absolute(input: &str, roots: &[PathBuf]) -> Option<PathBuf> {
    let path = Path::new(input);
    if path.is_absolute() {
        Some(path.to_path_buf())
    } else {
        roots.first().map(|root| root.join(path))
    }
}

/// The canonical folder `input` names, if indexing it is allowed.
pub fn resolve_folder(
    input: &str,
    roots: &[PathBuf],
    extra_sensitive: &[String],
) -> Result<PathBuf, ToolError> {
    let refuse = |message: String| Err(ToolError::Invalid(message));
    if input.contains('\0') {
        return refuse("'path' must not contain NUL bytes".into());
    }
    if Path::new(input)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return refuse("'path' must not contain '..' components".into());
    }
    // A root may be configured through a symlink: a path is lexically inside when it starts
    // with the root as configured or as resolved.
    let configured: Vec<PathBuf> = roots
        .iter()
        .filter_map(|r| std::path::absolute(r).ok())
        .collect();
    let roots = canonical_roots(roots);
    if roots.is_empty() {
        return refuse(
            "No index root is configured (MIMIR_INDEX_ROOTS), so no folder may be indexed".into(),
        );
    }
    let outside =
        || format!("Path is outside the allowed index roots (MIMIR_INDEX_ROOTS): {input}");
    let lexical = absolute(input, &roots).unwrap_or_default();
    // Checked before touching the file system, so paths elsewhere cannot even be probed.
    if !roots
        .iter()
        .chain(&configured)
        .any(|root| lexical.starts_with(root))
    {
        return refuse(outside());
    }
    let Ok(canonical) = lexical.canonicalize() else {
        return refuse(format!("Folder not found: {input}"));
    };
    // Symlinks inside a root may point anywhere: the resolved path must still be inside.
    let Some(root) = roots.iter().find(|root| canonical.starts_with(root)) else {
        return refuse(outside());
    };
    let below_root = canonical.strip_prefix(root).unwrap_or(Path::new(""));
    for part in below_root.components() {
        let name = part.as_os_str().to_string_lossy();
        if is_sensitive(&name, extra_sensitive) {
            return refuse(format!("Refusing to index a sensitive path: {name}"));
        }
    }
    if canonical.to_str().is_none() {
        return refuse(format!("Path is not valid UTF-8: {input}"));
    }
    if !canonical.is_dir() {
        return refuse(format!("Not a folder: {input}"));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<PathBuf, ToolError>) -> String {
        match result {
            Err(ToolError::Invalid(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    struct Tree {
        _dir: tempfile::TempDir,
        root: PathBuf,
        outside: PathBuf,
    }

    /// `<tmp>/root/{docs/a.md, .ssh/, .env}` and `<tmp>/outside/secret.txt`.
    fn tree() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::create_dir_all(root.join(".ssh")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("docs/a.md"), "# a").unwrap();
        std::fs::write(root.join(".env"), "TOKEN=x").unwrap();
        std::fs::write(outside.join("secret.txt"), "s").unwrap();
        Tree {
            _dir: dir,
            root,
            outside,
        }
    }

    #[test]
    fn folders_inside_a_root_resolve_to_canonical_paths() {
        let t = tree();
        let roots = [t.root.clone()];
        assert_eq!(
            resolve_folder(t.root.to_str().unwrap(), &roots, &[]).unwrap(),
            t.root
        );
        assert_eq!(
            resolve_folder("docs", &roots, &[]).unwrap(),
            t.root.join("docs")
        );
        let docs = format!("{}/./docs/", t.root.display());
        assert_eq!(
            resolve_folder(&docs, &roots, &[]).unwrap(),
            t.root.join("docs")
        );
    }

    #[test]
    fn traversal_is_refused() {
        let t = tree();
        let roots = [t.root.clone()];
        assert!(message(resolve_folder("../outside", &roots, &[])).contains(".."));
        let sneaky = format!("{}/docs/../../outside", t.root.display());
        assert!(message(resolve_folder(&sneaky, &roots, &[])).contains(".."));
        assert!(
            message(resolve_folder(t.outside.to_str().unwrap(), &roots, &[])).contains("outside")
        );
        assert!(message(resolve_folder("/etc", &roots, &[])).contains("outside"));
        // A sibling whose name merely starts with the root's name is not inside it.
        let sibling = format!("{}-other", t.root.display());
        assert!(message(resolve_folder(&sibling, &roots, &[])).contains("outside"));
    }

    #[test]
    fn probing_outside_the_roots_reveals_nothing() {
        let t = tree();
        let roots = [t.root.clone()];
        let missing = format!("{}/nope", t.outside.display());
        assert!(message(resolve_folder(&missing, &roots, &[])).contains("outside the allowed"));
    }

    #[cfg(unix)]
    #[test]
    fn a_root_configured_through_a_symlink_accepts_its_own_paths() {
        let t = tree();
        let link = t.outside.join("root-link");
        std::os::unix::fs::symlink(&t.root, &link).unwrap();
        let docs = format!("{}/docs", link.display());
        assert_eq!(
            resolve_folder(&docs, &[link], &[]).unwrap(),
            t.root.join("docs")
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_escaping_the_root_are_refused() {
        let t = tree();
        std::os::unix::fs::symlink(&t.outside, t.root.join("escape")).unwrap();
        std::os::unix::fs::symlink(t.root.join("docs"), t.root.join("inside")).unwrap();
        let roots = [t.root.clone()];
        assert!(message(resolve_folder("escape", &roots, &[])).contains("outside"));
        assert_eq!(
            resolve_folder("inside", &roots, &[]).unwrap(),
            t.root.join("docs")
        );
    }

    #[test]
    fn sensitive_paths_and_non_folders_are_refused() {
        let t = tree();
        let roots = [t.root.clone()];
        assert!(message(resolve_folder(".ssh", &roots, &[])).contains("sensitive"));
        assert!(message(resolve_folder(".env", &roots, &[])).contains("sensitive"));
        assert!(message(resolve_folder("docs/a.md", &roots, &[])).contains("Not a folder"));
        assert!(message(resolve_folder("docs", &roots, &["DOCS".into()])).contains("sensitive"));
        assert!(message(resolve_folder("missing", &roots, &[])).contains("not found"));
        assert!(
            message(resolve_folder("docs", &[t.root.join("gone")], &[])).contains("No index root")
        );
    }
}
