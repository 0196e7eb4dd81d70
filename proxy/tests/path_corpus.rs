//! Tricky request paths and exactly what the proxy makes of them. The normalized value is what
//! policy rules match and what the core receives, so every row is a security decision.

use mimir_proxy::request::normalize::{normalize_path, normalize_target, PathError, PathOptions};
use PathError::*;

const STRICT: PathOptions = PathOptions {
    allow_encoded_slash: false,
    max_bytes: 8192,
};
const ENCODED_SLASH_OK: PathOptions = PathOptions {
    allow_encoded_slash: true,
    ..STRICT
};

/// (raw path, expected result) with encoded slashes rejected.
const CORPUS: &[(&[u8], Result<&str, PathError>)] = &[
    // Dot segments, literal and percent-encoded in any case or mix.
    (b"/api/nodes/../keys", Ok("/api/keys")),
    (b"/%2e%2e/api", Ok("/api")),
    (b"/api/%2e%2e/keys", Ok("/keys")),
    (b"/api/.%2e/keys", Ok("/keys")),
    (b"/api/%2E%2E/%2e/keys", Ok("/keys")),
    (b"/a/./b", Ok("/a/b")),
    (b"/a/b/..", Ok("/a/")),
    (b"/api/keys/..", Ok("/api/")),
    (b"/api/./keys/.", Ok("/api/keys/")),
    (b"/api/%2e", Ok("/api/")),
    // `..` never climbs above the root: it is clamped there (RFC 3986 §5.2.4).
    (b"/..", Ok("/")),
    (b"/../../etc/passwd", Ok("/etc/passwd")),
    (b"/api/../../../keys", Ok("/keys")),
    // Only exact `.` / `..` segments are special.
    (b"/.../api", Ok("/.../api")),
    (b"/api/.hidden", Ok("/api/.hidden")),
    (b"/api/..;/keys", Ok("/api/..;/keys")),
    // Empty segments collapse (before dot resolution); a trailing slash is kept.
    (b"//api/keys", Ok("/api/keys")),
    (b"/api//keys", Ok("/api/keys")),
    (b"/api//..//keys", Ok("/keys")),
    (b"/api/keys/", Ok("/api/keys/")),
    (b"/api/keys//", Ok("/api/keys/")),
    (b"/", Ok("/")),
    (b"//", Ok("/")),
    // Case is not folded: `/API/keys` does not match rules written for `/api`.
    (b"/API/keys", Ok("/API/keys")),
    // Unreserved escapes are decoded, other escapes kept with uppercase hex.
    (b"/api/%7euser", Ok("/api/~user")),
    (b"/api/%41", Ok("/api/A")),
    (b"/api/%3b", Ok("/api/%3B")),
    (b"/api/%40", Ok("/api/%40")),
    (b"/api/nodes/%20x", Ok("/api/nodes/%20x")),
    (b"/api/%252e%252e/keys", Ok("/api/%252e%252e/keys")),
    // Sub-delims, ':' and '@' are legal raw and kept as they are.
    (b"/api/nodes;jsessionid=1", Ok("/api/nodes;jsessionid=1")),
    (b"/api/x@y:z!$&'()*+,=", Ok("/api/x@y:z!$&'()*+,=")),
    // Raw characters RFC 3986 forbids in a path are encoded, never passed through.
    (b"/a b", Ok("/a%20b")),
    (b"/api/<script>", Ok("/api/%3Cscript%3E")),
    (b"/api/nodes#frag", Ok("/api/nodes%23frag")),
    (b"/api/{x}|^`\"", Ok("/api/%7Bx%7D%7C%5E%60%22")),
    // Unicode: valid UTF-8 is accepted, raw or encoded, and always leaves encoded.
    (b"/api/nodes/caf%c3%a9", Ok("/api/nodes/caf%C3%A9")),
    ("/api/nodes/café".as_bytes(), Ok("/api/nodes/caf%C3%A9")),
    (
        "/api/ノード".as_bytes(),
        Ok("/api/%E3%83%8E%E3%83%BC%E3%83%89"),
    ),
    // Fullwidth solidus U+FF0F is not a separator.
    (b"/api/%EF%BC%8Fkeys", Ok("/api/%EF%BC%8Fkeys")),
    // Encoded separators.
    (b"/api/nodes/%2Fetc", Err(EncodedSlash)),
    (b"/api/a%2fb", Err(EncodedSlash)),
    (b"/%2F%2F", Err(EncodedSlash)),
    (b"/api/%5ckeys", Err(EncodedSlash)),
    (b"/api/%2e%2e%2fkeys", Err(EncodedSlash)),
    // Backslash is a separator on some servers: refused outright.
    (b"/api\\keys", Err(Backslash)),
    (b"/api/..\\keys", Err(Backslash)),
    // Control bytes, raw or encoded (header injection, truncation).
    (b"/api%00", Err(ControlCharacter)),
    (b"/api/%0d%0aX-Injected:1", Err(ControlCharacter)),
    (b"/api/%7F", Err(ControlCharacter)),
    (b"/api/%1b[31m", Err(ControlCharacter)),
    (b"/api/\tkeys", Err(ControlCharacter)),
    (b"/api/\x7fkeys", Err(ControlCharacter)),
    (b"/api\0", Err(ControlCharacter)),
    // Malformed escapes.
    (b"%", Err(NotAbsolute)),
    (b"/api/%", Err(InvalidEscape)),
    (b"/api/%zz", Err(InvalidEscape)),
    (b"/api/%4", Err(InvalidEscape)),
    (b"/api/%G1", Err(InvalidEscape)),
    (b"/api/%%41", Err(InvalidEscape)),
    (b"/api/%u002e%u002e", Err(InvalidEscape)),
    // Not UTF-8 once decoded: overlong forms, surrogates, truncated and stray bytes.
    (b"/api/%c0%ae%c0%ae/keys", Err(InvalidUtf8)),
    (b"/api/%c0%af", Err(InvalidUtf8)),
    (b"/api/%e0%80%ae", Err(InvalidUtf8)),
    (b"/api/%ED%A0%80", Err(InvalidUtf8)),
    (b"/api/%e2%82", Err(InvalidUtf8)),
    (b"/api/%ff", Err(InvalidUtf8)),
    (b"/api/\xff", Err(InvalidUtf8)),
    (b"/api/\xc3", Err(InvalidUtf8)),
    // Not an origin-form path: the caller answers 400.
    (b"", Err(NotAbsolute)),
    (b"api/keys", Err(NotAbsolute)),
    (b"*", Err(NotAbsolute)),
    (b"http://evil.example/api", Err(NotAbsolute)),
    (b"core:8081", Err(NotAbsolute)),
];

#[test]
fn corpus() {
    let mut failures = Vec::new();
    for (raw, expected) in CORPUS {
        let actual = normalize_path(raw, &STRICT);
        if actual != expected.map(String::from) {
            failures.push(format!(
                "{:?}: expected {expected:?}, got {actual:?}",
                String::from_utf8_lossy(raw)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(CORPUS.len() >= 40);
}

#[test]
fn normalized_paths_are_ascii_and_stable() {
    for (raw, _) in CORPUS {
        if let Ok(once) = normalize_path(raw, &STRICT) {
            assert!(once.is_ascii(), "{once}");
            assert_eq!(normalize_path(once.as_bytes(), &STRICT), Ok(once.clone()));
        }
    }
}

#[test]
fn encoded_slash_when_allowed_stays_encoded_and_inert() {
    let cases: &[(&[u8], Result<&str, PathError>)] = &[
        (b"/api/nodes/%2fetc", Ok("/api/nodes/%2Fetc")),
        (b"/api/%5ckeys", Ok("/api/%5Ckeys")),
        // Encoded slashes do not split segments, so these are not dot segments.
        (b"/api/..%2F..%2Fkeys", Ok("/api/..%2F..%2Fkeys")),
        (b"/api%2f..", Ok("/api%2F..")),
        (b"/api/%2e%2e%2fkeys", Ok("/api/..%2Fkeys")),
        // Everything else is unchanged.
        (b"/api\\keys", Err(Backslash)),
        (b"/api/%00", Err(ControlCharacter)),
        (b"/a/../b", Ok("/b")),
    ];
    for (raw, expected) in cases {
        let actual = normalize_path(raw, &ENCODED_SLASH_OK);
        assert_eq!(
            actual,
            expected.map(String::from),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn length_is_bounded() {
    let at_limit = format!("/{}", "a".repeat(8191));
    assert_eq!(
        normalize_path(at_limit.as_bytes(), &STRICT),
        Ok(at_limit.clone())
    );
    let over = format!("/{}", "a".repeat(8192));
    assert_eq!(
        normalize_path(over.as_bytes(), &STRICT),
        Err(TooLong { limit: 8192 })
    );
    // A path that only grows past the limit when encoded is refused too.
    let grows = format!("/{}", " ".repeat(4000));
    assert_eq!(
        normalize_path(grows.as_bytes(), &STRICT),
        Err(TooLong { limit: 8192 })
    );
    // Deep dot-segment chains are linear work, not a problem.
    let deep = format!("{}/keys", "/a/..".repeat(1000));
    assert_eq!(
        normalize_path(deep.as_bytes(), &STRICT).as_deref(),
        Ok("/keys")
    );
}

#[test]
fn query_is_separated_and_verbatim() {
    let cases: &[(&[u8], Result<&str, PathError>)] = &[
        (
            b"/api/nodes/../keys?x=../y&z=%2f",
            Ok("/api/keys?x=../y&z=%2f"),
        ),
        (b"/api/%41?q=%41", Ok("/api/A?q=%41")),
        (b"/api?", Ok("/api?")),
        (b"/api??a", Ok("/api??a")),
        (b"/api/%2F?x", Err(EncodedSlash)),
        (b"/api?a b", Err(InvalidQuery)),
        (b"/api?a\r\nb", Err(InvalidQuery)),
        (b"/api?\xff", Err(InvalidQuery)),
        (b"?x=1", Err(NotAbsolute)),
    ];
    for (raw, expected) in cases {
        let actual = normalize_target(raw, &STRICT);
        assert_eq!(
            actual,
            expected.map(String::from),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn errors_read_well_as_400_bodies() {
    assert_eq!(
        EncodedSlash.to_string(),
        "encoded '/' or '\\' (%2F, %5C) is not allowed in the request path"
    );
    assert_eq!(
        TooLong { limit: 8192 }.to_string(),
        "the request path is longer than 8192 bytes"
    );
}
