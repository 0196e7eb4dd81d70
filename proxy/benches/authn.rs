//! Authentication costs: JWT verification per algorithm (signature checked every time) against
//! a verified token served from the cache, API key checks, an access token of the gateway's
//! authorization server (with the ratio to the API key printed), and the identity assertion for
//! the core: reused for a repeated request, signed for a new one.
//!
//!     cargo bench -p mimir-proxy --bench authn

#[path = "../tests/authn_harness/keys.rs"]
#[allow(dead_code)]
mod keys;

use criterion::{criterion_group, criterion_main, Criterion};
use http::HeaderMap;
use mimir_proxy::authn::config::AuthConfig;
use mimir_proxy::authn::jwt::{IssuerPolicy, JwtVerifier, KeySource};
use mimir_proxy::authn::keys::KeySet;
use mimir_proxy::authn::keystore::{KeyFile, KeyRecord};
use mimir_proxy::authn::principal::{AuthMethod, ClientGrant, Principal};
use mimir_proxy::authn::{apikey, Authenticator};
use mimir_proxy::config::ProxyConfig;
use mimir_proxy::keys::assertion::Binding;
use serde_json::json;
use std::sync::Arc;

const ISSUER: &str = "https://idp.bench";
const AUDIENCE: &str = "https://mimir.bench";

fn verifier(keys: &[&keys::TestKey]) -> JwtVerifier {
    let jwks = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
    let policy = IssuerPolicy::new(
        ISSUER,
        ISSUER,
        &[AUDIENCE.to_owned()],
        &keys.iter().map(|k| k.alg).collect::<Vec<_>>(),
        KeySource::Static(KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap()),
        "sub",
        &["realm_access.roles".to_owned()],
        30,
        false,
    );
    JwtVerifier::new(vec![policy], 30, 8192)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (rsa, ec, ed) = (keys::rsa("r"), keys::ec("e"), keys::ed("d"));
    let verifier = verifier(&[&rsa, &ec, &ed]);
    let now = keys::now();
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 3600,
                        "realm_access": {"roles": ["developer", "analyst"]}});
    let mut group = c.benchmark_group("jwt_uncached");
    for (name, key) in [("RS256", &rsa), ("ES256", &ec), ("EdDSA", &ed)] {
        let token = key.sign(&claims);
        assert!(rt.block_on(verifier.verify(&token, now)).is_ok());
        group.bench_function(name, |b| {
            b.iter(|| rt.block_on(verifier.verify(&token, now)).unwrap())
        });
    }
    group.finish();

    let dir = tempfile::tempdir().unwrap();
    let new_key = apikey::generate().unwrap();
    KeyFile {
        keys: vec![KeyRecord {
            id: new_key.id.clone(),
            name: "bench".into(),
            roles: vec!["viewer".into()],
            created_at: now - 10,
            expires_at: None,
            revoked_at: None,
            hash: new_key.hash.clone(),
        }],
    }
    .save(&dir.path().join("keys.json"))
    .unwrap();
    let config = ProxyConfig {
        auth: AuthConfig {
            keys_file: dir.path().join("keys.json"),
            lockdown_file: dir.path().join("lockdown"),
            ..AuthConfig::default()
        },
        ..ProxyConfig::default()
    };
    let auth = Authenticator::with_dev_users(&config.authn_settings(), Vec::new()).unwrap();
    let (token, _) = auth
        .local
        .issue("alice", &["developer".to_owned()], now - 5)
        .unwrap();
    let mut bearer = HeaderMap::new();
    bearer.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut api_key = HeaderMap::new();
    api_key.insert("x-api-key", new_key.key.parse().unwrap());
    let client_token = auth
        .client_tokens
        .issue(client_principal(now), now)
        .unwrap();
    let mut oauth = HeaderMap::new();
    oauth.insert(
        "authorization",
        format!("Bearer {client_token}").parse().unwrap(),
    );
    assert!(rt
        .block_on(auth.authenticate_request(&bearer, None, "GET", "localhost"))
        .is_ok());
    assert!(rt
        .block_on(auth.authenticate_request(&api_key, None, "GET", "localhost"))
        .is_ok());

    let mut group = c.benchmark_group("authenticate");
    group.bench_function("jwt_cached", |b| {
        b.iter(|| {
            rt.block_on(auth.authenticate_request(&bearer, None, "GET", "localhost"))
                .unwrap()
        })
    });
    group.bench_function("api_key", |b| {
        b.iter(|| {
            rt.block_on(auth.authenticate_request(&api_key, None, "GET", "localhost"))
                .unwrap()
        })
    });
    group.bench_function("oauth_client_token", |b| {
        b.iter(|| {
            rt.block_on(auth.authenticate_request(&oauth, None, "GET", "localhost"))
                .unwrap()
        })
    });
    group.finish();
    let per_call = |headers: &HeaderMap| {
        let rounds = 200_000;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            rt.block_on(auth.authenticate_request(headers, None, "GET", "localhost"))
                .unwrap();
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(rounds)
    };
    let (key_ns, oauth_ns) = (per_call(&api_key), per_call(&oauth));
    println!(
        "authenticate: oauth_client_token {oauth_ns:.0} ns / api_key {key_ns:.0} ns = {:.2}x (target <= 1.00x)",
        oauth_ns / key_ns
    );

    let principal = rt
        .block_on(auth.authenticate_request(&api_key, None, "GET", "localhost"))
        .unwrap();
    let mut group = c.benchmark_group("assertion");
    let mcp = Binding {
        method: "POST",
        target: b"/mcp",
    };
    group.bench_function("reused", |b| {
        b.iter(|| auth.assertion(&principal, &mcp).unwrap())
    });
    let mut n = 0u64;
    group.bench_function("signed", |b| {
        b.iter(|| {
            n += 1;
            let target = format!("/api/nodes/node-{n}");
            let request = Binding {
                method: "GET",
                target: target.as_bytes(),
            };
            auth.assertion(&principal, &request).unwrap()
        })
    });
    group.finish();
}

/// What the authorization server puts behind an access token.
fn client_principal(now: u64) -> Principal {
    Principal {
        user_id: "alice".into(),
        qualified_id: "dev|alice".into(),
        roles: vec!["developer".into()],
        method: AuthMethod::OAuthClient,
        issuer: Some("urn:mimir-gate".into()),
        key_id: None,
        expires_at: Some(now + 3600),
        issued_at: Some(now - 10),
        refresh_cookie: None,
        client: Some(Arc::new(ClientGrant {
            grant_id: "g".into(),
            client_id: "mgc_bench".into(),
            scopes: None,
            user_roles: vec!["developer".into()],
        })),
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
