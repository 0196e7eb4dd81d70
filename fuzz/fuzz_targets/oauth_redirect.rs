//! Redirect URIs of the authorization server (`authserver::redirect_uris::check`,
//! `is_registered`): the input is `registered \n presented`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimir_proxy::authserver::redirect_uris::{check, is_registered};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (registered, presented) = text.split_once('\n').unwrap_or((text, text));
    let extra = vec!["cursor".to_owned()];
    let allowed = check(registered, &extra).is_ok();
    let registered = vec![registered.to_owned()];
    if is_registered(&registered, presented) {
        assert!(!presented.contains('#') || presented == registered[0]);
        // A loopback port may differ, and so lengthen the URI past the registration limit.
        if allowed && presented.len() <= 1_900 {
            assert!(check(presented, &extra).is_ok(), "{presented:?}");
        }
    }
});
