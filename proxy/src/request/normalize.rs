//! Request path normalization, done once before any policy decision. The result is both what the
//! policy matches and what is forwarded upstream, so the proxy and the core can never disagree
//! about which resource a request names.
//!
//! Rules (docs/configuration.md, "Path normalization"):
//! - the path must start with `/` (absolute-form, authority-form and `*` are the caller's 400);
//! - `%XX` escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, every other escape
//!   is kept with uppercase hex (`%3b` → `%3B`);
//! - raw bytes that RFC 3986 does not allow in a path (space, `"`, `<`, `{`, non-ASCII, …) are
//!   percent-encoded, so the output is pure ASCII;
//! - rejected: control bytes raw or encoded (`%00`-`%1F`, `%7F`), raw `\`, encoded `/` and `\`
//!   (`%2F`, `%5C`) unless `allow_encoded_slash`, malformed escapes, and bytes that are not valid
//!   UTF-8 once decoded (including overlong forms such as `%C0%AE`);
//! - empty segments collapse (`//a` → `/a`); `.` and `..` segments, also when spelled `%2e`, are
//!   resolved as in RFC 3986 §5.2.4, `..` at the root stays at the root; a trailing `/` is kept;
//! - letter case is preserved: `/API/keys` is a different path from `/api/keys`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathOptions {
    /// Keep `%2F` / `%5C` (still encoded) instead of rejecting them.
    pub allow_encoded_slash: bool,
    /// Upper bound for the input and for the normalized result.
    pub max_bytes: usize,
}

/// Why a request target was refused; every variant is a 400 with this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the request path must start with '/'")]
    NotAbsolute,
    #[error("the request path is longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error("malformed percent-escape in the request path (expected %XX with two hex digits)")]
    InvalidEscape,
    #[error("encoded '/' or '\\' (%2F, %5C) is not allowed in the request path")]
    EncodedSlash,
    #[error("control character in the request path")]
    ControlCharacter,
    #[error("backslash in the request path")]
    Backslash,
    #[error("the request path is not valid UTF-8 once percent-decoded")]
    InvalidUtf8,
    #[error("control character, space or invalid UTF-8 in the query string")]
    InvalidQuery,
}

/// Normalizes an origin-form target (`/path?query`): the path as [`normalize_path`], the query
/// forwarded verbatim after checking it holds no control bytes, spaces or invalid UTF-8.
pub fn normalize_target(target: &[u8], opts: &PathOptions) -> Result<String, PathError> {
    within_limit(target.len(), opts)?;
    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(i) => (&target[..i], Some(&target[i + 1..])),
        None => (target, None),
    };
    let mut out = normalize_path(path, opts)?;
    if let Some(query) = query {
        if query.iter().any(|&b| b <= b' ' || b == 0x7F) {
            return Err(PathError::InvalidQuery);
        }
        out.push('?');
        out.push_str(std::str::from_utf8(query).map_err(|_| PathError::InvalidQuery)?);
    }
    within_limit(out.len(), opts)?;
    Ok(out)
}

/// Normalizes the path part of a request target (no query). See the module documentation.
pub fn normalize_path(path: &[u8], opts: &PathOptions) -> Result<String, PathError> {
    within_limit(path.len(), opts)?;
    if is_normal(path) {
        // The common case, checked without the segment-by-segment walk: it is ASCII.
        return std::str::from_utf8(path)
            .map(str::to_owned)
            .map_err(|_| PathError::InvalidUtf8);
    }
    walk(path, opts)
}

/// Whether [`walk`] would return `path` unchanged: absolute, only bytes it keeps as they are
/// (no escapes), and no `.`, `..` or empty segment but a last one (a trailing slash).
fn is_normal(path: &[u8]) -> bool {
    let Some(rest) = path.strip_prefix(b"/") else {
        return false;
    };
    if !rest
        .iter()
        .all(|&b| b == b'/' || is_unreserved(b) || is_raw_path_char(b))
    {
        return false;
    }
    let mut segments = rest.split(|&b| b == b'/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment == b"." || segment == b".." || (segment.is_empty() && !last) {
            return false;
        }
    }
    true
}

/// The general normalization: decode, drop dot segments, re-encode.
fn walk(path: &[u8], opts: &PathOptions) -> Result<String, PathError> {
    let rest = path.strip_prefix(b"/").ok_or(PathError::NotAbsolute)?;
    let segments = decode_segments(rest, opts)?;

    let mut kept: Vec<&str> = Vec::with_capacity(segments.len());
    for segment in &segments {
        match segment.as_str() {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            s => kept.push(s),
        }
    }
    // `/a/b/` , `/a/b/.` and `/a/b/c/..` all name the directory `/a/b/`.
    let trailing = matches!(segments.last().map(String::as_str), Some("" | "." | ".."));
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    within_limit(out.len(), opts)?;
    Ok(out)
}

fn within_limit(len: usize, opts: &PathOptions) -> Result<(), PathError> {
    if len > opts.max_bytes {
        Err(PathError::TooLong {
            limit: opts.max_bytes,
        })
    } else {
        Ok(())
    }
}

/// Splits at raw `/` and rewrites every segment into canonical encoding; also checks that the
/// fully decoded path is UTF-8.
fn decode_segments(rest: &[u8], opts: &PathOptions) -> Result<Vec<String>, PathError> {
    let mut segments = Vec::new();
    let mut segment = String::new();
    let mut decoded = Vec::with_capacity(rest.len());
    let mut bytes = rest.iter().copied();
    while let Some(raw) = bytes.next() {
        let (byte, escaped) = if raw == b'%' {
            let hi = bytes.next().and_then(hex_value);
            let lo = bytes.next().and_then(hex_value);
            match (hi, lo) {
                (Some(hi), Some(lo)) => (hi << 4 | lo, true),
                _ => return Err(PathError::InvalidEscape),
            }
        } else {
            (raw, false)
        };
        decoded.push(byte);
        match byte {
            0x00..=0x1F | 0x7F => return Err(PathError::ControlCharacter),
            b'/' if !escaped => segments.push(std::mem::take(&mut segment)),
            b'\\' if !escaped => return Err(PathError::Backslash),
            b'/' | b'\\' if !opts.allow_encoded_slash => return Err(PathError::EncodedSlash),
            b if is_unreserved(b) || (!escaped && is_raw_path_char(b)) => {
                segment.push(char::from(b));
            }
            b => push_escape(&mut segment, b),
        }
    }
    segments.push(segment);
    std::str::from_utf8(&decoded).map_err(|_| PathError::InvalidUtf8)?;
    Ok(segments)
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0F)]));
}

/// RFC 3986 unreserved: always stored decoded.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Sub-delims, `:` and `@`: legal raw in a path and meaningful, so neither decoded nor encoded.
fn is_raw_path_char(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: PathOptions = PathOptions {
        allow_encoded_slash: false,
        max_bytes: 64,
    };

    #[test]
    fn only_paths_in_normal_form_take_the_shortcut() {
        for normal in ["/", "/api/nodes/bench", "/a/", "/a;b=c/@x:y", "/~u/x.json"] {
            assert!(is_normal(normal.as_bytes()), "{normal}");
        }
        for other in [
            "", "a", "//", "/a//b", "/.", "/a/..", "/a/./b", "/%41", "/a b", "/a\\b", "/é",
        ] {
            assert!(!is_normal(other.as_bytes()), "{other}");
        }
    }

    #[test]
    fn query_is_kept_verbatim() {
        let out = normalize_target(b"/a/../b?x=%2f..&y=1", &OPTS);
        assert_eq!(out.as_deref(), Ok("/b?x=%2f..&y=1"));
        assert_eq!(normalize_target(b"/a?", &OPTS).as_deref(), Ok("/a?"));
        assert_eq!(
            normalize_target(b"/a?b c", &OPTS),
            Err(PathError::InvalidQuery)
        );
        assert_eq!(
            normalize_target(b"/a?\xff", &OPTS),
            Err(PathError::InvalidQuery)
        );
        assert_eq!(normalize_target(b"*", &OPTS), Err(PathError::NotAbsolute));
    }

    #[test]
    fn limits_apply_to_input_and_output() {
        let long = format!("/{}", "a".repeat(64));
        let too_long = Err(PathError::TooLong { limit: 64 });
        assert_eq!(normalize_path(long.as_bytes(), &OPTS), too_long);
        // 22 raw non-ASCII bytes fit the input limit but triple when encoded.
        let grows = format!("/{}", "é".repeat(11));
        assert_eq!(normalize_path(grows.as_bytes(), &OPTS), too_long);
        let query = format!("/a?{}", "q".repeat(62));
        assert_eq!(normalize_target(query.as_bytes(), &OPTS), too_long);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Paths built from the pieces normalization treats specially, then any bytes.
        fn path() -> impl Strategy<Value = Vec<u8>> {
            let piece = prop::sample::select(vec![
                "/", "/", ".", "..", "%2e", "%2E", "%2e%2e", "%2f", "%2F", "%5c", "%5C", "a", "B",
                "%41", "%7e", "%25", "%252F", "%3b", ";", ":", "@", " ", "é", "%c3%a9", "%C0%AE",
                "%", "%g1", "\\", "?", "#", "%00", "\u{7f}",
            ]);
            prop_oneof![
                prop::collection::vec(piece, 0..16)
                    .prop_map(|p| format!("/{}", p.concat()).into_bytes()),
                prop::collection::vec(any::<u8>(), 0..32),
            ]
        }

        proptest! {
            #[test]
            fn the_shortcut_agrees_with_the_walk(raw in path(), allow_encoded_slash in any::<bool>()) {
                let opts = PathOptions { allow_encoded_slash, max_bytes: 256 };
                if is_normal(&raw) {
                    let unchanged = String::from_utf8(raw.clone()).unwrap();
                    prop_assert_eq!(walk(&raw, &opts), Ok(unchanged));
                }
            }

            #[test]
            fn normalized_paths_are_fixed_points_without_dot_segments(
                raw in path(),
                allow_encoded_slash in any::<bool>(),
            ) {
                let opts = PathOptions { allow_encoded_slash, max_bytes: 256 };
                if let Ok(out) = normalize_path(&raw, &opts) {
                    prop_assert!(out.is_ascii() && out.starts_with('/'));
                    let again = normalize_path(out.as_bytes(), &opts);
                    prop_assert_eq!(again.as_deref(), Ok(out.as_str()));
                    prop_assert!(out.split('/').all(|s| s != "." && s != ".."), "{}", out);
                    let upper = out.to_ascii_uppercase();
                    prop_assert!(
                        allow_encoded_slash || !(upper.contains("%2F") || upper.contains("%5C")),
                        "{}", out
                    );
                }
            }
        }
    }
}
