//! OAuth request parameters (`authserver::form::Params::parse`): a parameter sent twice is
//! refused, an empty one reads as absent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimir_proxy::authserver::form::Params;

fuzz_target!(|data: &[u8]| {
    if let Ok(params) = Params::parse(data) {
        for name in [
            "grant_type",
            "code",
            "redirect_uri",
            "client_id",
            "scope",
            "",
        ] {
            assert!(params.get(name).is_none_or(|v| !v.is_empty()));
        }
    }
});
