//! Where to send the browser after login: only a path on this site. Anything that a browser
//! could resolve to another origin (`//evil`, `/\evil`, `https://evil`, control characters,
//! or their percent-encoded forms once decoded) becomes `/`.

/// `next` (already percent-decoded once, as query parsing does) if it is a local path.
pub fn local_target(next: &str) -> &str {
    if is_local(next) {
        next
    } else {
        "/"
    }
}

fn is_local(next: &str) -> bool {
    let bytes = next.as_bytes();
    if bytes.first() != Some(&b'/') || next.len() > 2048 {
        return false;
    }
    // Browsers treat `\` as `/` and drop tabs and newlines, so `/\evil` and `/\t/evil` are
    // scheme-relative URLs. A decoded `%2F`/`%5C` after the first slash would be one too
    // if the target were decoded again.
    if bytes
        .iter()
        .any(|b| b.is_ascii_control() || *b == b'\\' || *b >= 0x80)
    {
        return false;
    }
    let second = &next[1..];
    if second.starts_with('/')
        || second.to_ascii_lowercase().starts_with("%2f")
        || second.to_ascii_lowercase().starts_with("%5c")
    {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_survive() {
        for good in ["/", "/api/nodes?x=1&y=%2F", "/ui/#frag", "/a//b"] {
            assert_eq!(local_target(good), good);
        }
        for bad in [
            "",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/%2Fevil.example",
            "/%5cevil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "evil.example",
            "/caf\u{e9}",
        ] {
            assert_eq!(local_target(bad), "/", "{bad:?}");
        }
    }
}
