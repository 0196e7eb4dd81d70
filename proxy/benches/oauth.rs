//! The authorization server's token endpoint without HTTP: a code exchange (code lookup, PKCE
//! check, new grant written to the state file, access token) and a refresh (refresh token
//! check, rotation recorded for the next state-file write, access token), with a state file of
//! 1 000 grants. Printed beside criterion's figures: the refresh with the state file rewritten
//! each time (how it was first written), to show what that cost.
//!
//!     cargo bench -p mimir-proxy --bench oauth

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use mimir_proxy::authn::client_tokens::ClientTokens;
use mimir_proxy::authn::now;
use mimir_proxy::authn::principal::{AuthMethod, Principal};
use mimir_proxy::authserver::codes::{Code, Codes, Redeemed, User};
use mimir_proxy::authserver::grants::{self, Grant, Refresh};
use mimir_proxy::authserver::pkce;
use mimir_proxy::authserver::store::Store;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn principal(grant: &Grant, now: u64) -> Principal {
    Principal {
        user_id: grant.user_id.clone(),
        qualified_id: grant.qualified_id.clone(),
        roles: grant.roles.clone(),
        method: AuthMethod::OAuthClient,
        issuer: Some(grant.issuer.clone()),
        key_id: None,
        expires_at: Some(now + 600),
        issued_at: Some(grant.created_at),
        refresh_cookie: None,
        client: None,
    }
}

fn new_grant(now: u64) -> Grant {
    Grant::new(
        "mgc_bench",
        "alice",
        "dev|alice",
        "urn:mimir-gate",
        &["developer".to_owned()],
        None,
        "https://mimir.bench",
        now,
        86_400,
    )
    .unwrap()
}

/// One code exchange; `store` is written when given.
fn exchange(codes: &Codes, tokens: &ClientTokens, store: Option<&Store>, challenge: &str) {
    let now = now();
    let code = Code {
        client_id: "mgc_bench".into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        challenge: challenge.to_owned(),
        resource: "https://mimir.bench".into(),
        scopes: None,
        user: User {
            user_id: "alice".into(),
            qualified_id: "dev|alice".into(),
            issuer: "urn:mimir-gate".into(),
            roles: vec!["developer".into()],
        },
        expires_at: now + 60,
    };
    let value = codes.issue(code, now).unwrap();
    let Redeemed::Fresh(code) = codes.redeem(&value, now) else {
        panic!("fresh code refused")
    };
    assert!(pkce::verifies(VERIFIER, &code.challenge));
    let grant = new_grant(now);
    if let Some(store) = store {
        store.update(|s| s.grants.insert(grant.id.clone(), grant.clone()));
    }
    tokens.issue(principal(&grant, now), now).unwrap();
    grant.refresh_token();
}

/// How a refresh records its rotation.
enum Write<'a> {
    /// The whole state file rewritten before the answer.
    Now(&'a Store),
    /// As the endpoint does: written by the store's thread within a second.
    Soon(&'a Store),
}

/// One refresh of `grant`'s current token.
fn refresh(grant: &mut Grant, tokens: &ClientTokens, store: Write) {
    let now = now();
    let token = grant.refresh_token();
    let (_, generation, mac) = grants::grant_of(&token).unwrap();
    assert!(matches!(
        grants::classify(grant, generation, mac),
        Refresh::Current(_)
    ));
    grant.generation += 1;
    match store {
        Write::Now(store) => {
            store.update(|s| s.grants.insert(grant.id.clone(), grant.clone()));
        }
        Write::Soon(store) => {
            store.update_soon(|s| s.grants.insert(grant.id.clone(), grant.clone()));
        }
    }
    tokens.issue(principal(grant, now), now).unwrap();
    grant.refresh_token();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("oauth-state.json")).unwrap();
    let now = now();
    store.update(|s| {
        for _ in 0..1_000 {
            let g = new_grant(now);
            s.grants.insert(g.id.clone(), g);
        }
    });
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        VERIFIER.as_bytes(),
    ));
    let codes = Codes::default();
    let tokens = ClientTokens::new(10_000_000);
    let mut grant = new_grant(now);

    let mut group = c.benchmark_group("token_endpoint");
    group.sample_size(20);
    group.bench_function("code_exchange", |b| {
        b.iter(|| exchange(&codes, &tokens, Some(&store), &challenge))
    });
    group.bench_function("refresh", |b| {
        b.iter(|| refresh(&mut grant, &tokens, Write::Soon(&store)))
    });
    group.finish();

    let time = |f: &mut dyn FnMut()| {
        let rounds = 2_000;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            f();
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
    };
    let rewritten = time(&mut || refresh(&mut grant, &tokens, Write::Now(&store)));
    let batched = time(&mut || refresh(&mut grant, &tokens, Write::Soon(&store)));
    println!(
        "refresh: {batched:.1} µs as the endpoint does / {rewritten:.1} µs rewriting the state file each time = {:.4}x",
        batched / rewritten
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
