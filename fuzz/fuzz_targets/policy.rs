//! The policy file (`policy.toml`) through the whole loading order: document, sections, an empty
//! environment, validation (`config::parse_with_env`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimir_proxy::config::parse_with_env;
use std::collections::HashMap;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_with_env(Path::new("policy.toml"), text, &HashMap::new());
    }
});
