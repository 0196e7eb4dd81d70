//! The route rules file (`routes.toml`, `authz::routes::parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimir_proxy::authz::routes::parse;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse(Path::new("routes.toml"), text);
    }
});
