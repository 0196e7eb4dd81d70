//! Session cookie decoding (`authn::session::Sessions::open`). Mode byte even: the input is the
//! cookie value as presented. Odd: the input is the cookie's JSON, sealed here with the
//! gateway's key, so the checks behind the decryption are reached too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimir_proxy::authn::credentials::SESSION_COOKIE;
use mimir_proxy::authn::login_config::SessionConfig;
use mimir_proxy::authn::session::Sessions;
use std::sync::OnceLock;

const NOW: u64 = 1_700_000_000;

fn sessions() -> &'static Sessions {
    static SESSIONS: OnceLock<Sessions> = OnceLock::new();
    SESSIONS.get_or_init(|| Sessions::new(&SessionConfig::default()).unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sessions = sessions();
    let value = if mode % 2 == 0 {
        text.to_owned()
    } else {
        sessions.seal_value(SESSION_COOKIE, text)
    };
    if let Ok(data) = sessions.open(&value, NOW) {
        let principal = sessions.principal(data, "fuzz:user".into(), NOW);
        assert!(principal.expires_at.is_some_and(|exp| exp > NOW));
    }
});
