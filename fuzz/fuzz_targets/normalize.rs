//! Request target normalization (`request::normalize`), with and without encoded slashes: never
//! a panic, and whatever it accepts is ASCII, absolute, free of `.`/`..` segments and encoded
//! separators (unless allowed), and normalizes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimir_proxy::request::normalize::{normalize_path, normalize_target, PathOptions};

fuzz_target!(|data: &[u8]| {
    for allow_encoded_slash in [false, true] {
        let opts = PathOptions {
            allow_encoded_slash,
            max_bytes: 4096,
        };
        let _ = normalize_target(data, &opts);
        let Ok(out) = normalize_path(data, &opts) else {
            continue;
        };
        assert!(out.is_ascii() && out.starts_with('/'), "{out:?}");
        assert!(out.len() <= opts.max_bytes);
        for segment in out.split('/') {
            assert!(segment != "." && segment != "..", "{out:?}");
        }
        if !allow_encoded_slash {
            let upper = out.to_ascii_uppercase();
            assert!(!upper.contains("%2F") && !upper.contains("%5C"), "{out:?}");
        }
        assert_eq!(
            normalize_path(out.as_bytes(), &opts).as_deref(),
            Ok(out.as_str())
        );
    }
});
