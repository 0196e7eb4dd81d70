//! Bearer JWT splitting, header checks and claim extraction (`authn::jwt::JwtVerifier::verify`)
//! against a static Ed25519 key set. Mode byte even: the input is the token. Odd: the input is
//! `header JSON \n claims JSON`, signed here with the key, so the claim checks behind the
//! signature are reached too.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;
use mimir_proxy::authn::jwt::{IssuerPolicy, JwtVerifier, KeySource};
use mimir_proxy::authn::keys::KeySet;
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::future::Future;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

const ISSUER: &str = "https://idp.fuzz";
const AUDIENCE: &str = "https://mimir.fuzz";
const NOW: u64 = 1_700_000_000;
/// A fixed seed: the key only has to be the one the verifier trusts.
const SEED: [u8; 32] = [7; 32];

struct Fixture {
    pair: Ed25519KeyPair,
    verifier: JwtVerifier,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pair = Ed25519KeyPair::from_seed_unchecked(&SEED).unwrap();
        let jwk = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1",
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())}]});
        let keys = KeySet::from_jwks(jwk.to_string().as_bytes()).unwrap();
        let policy = IssuerPolicy::new(
            ISSUER,
            ISSUER,
            &[AUDIENCE.to_owned()],
            &[Algorithm::EdDSA],
            KeySource::Static(keys),
            "sub",
            &["realm_access.roles".to_owned(), "groups".to_owned()],
            30,
            false,
        );
        Fixture {
            pair,
            verifier: JwtVerifier::new(vec![policy], 30, 8192),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    let token = if mode % 2 == 0 {
        let Ok(token) = std::str::from_utf8(data) else {
            return;
        };
        token.to_owned()
    } else {
        let (header, claims) = match data.iter().position(|&b| b == b'\n') {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (&br#"{"alg":"EdDSA","kid":"k1"}"#[..], data),
        };
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = fixture.pair.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    };
    // A static key set never waits: the future is ready on its first poll.
    let mut verify = std::pin::pin!(fixture.verifier.verify(&token, NOW));
    let Poll::Ready(result) = verify
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    else {
        panic!("verification with a static key set waited");
    };
    if let Ok(principal) = result {
        assert!(!principal.user_id.is_empty());
    }
});
