//! The RBAC document (`rbac.json`, `authz::rbac::parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimir_proxy::authz::rbac::{parse, RbacOrigin};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse(&RbacOrigin::Inline, text);
    }
});
