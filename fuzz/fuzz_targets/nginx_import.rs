//! `mimir-proxy import-nginx` (`nginx_import::import_str`): any nginx configuration translates
//! or is refused, and a translated policy is a TOML document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimir_proxy::nginx_import::import_str;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = import_str(text, "nginx.conf");
    }
});
