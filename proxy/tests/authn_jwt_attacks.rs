//! Bearer JWTs from an external issuer through the real proxy: a valid token passes with its
//! roles, and every forged, tampered, expired or misdirected token gets 401 (never a panic, never
//! the upstream). The issuer here is a small discovery + JWKS server (`authn_harness::issuer`);
//! the real OpenID provider is exercised in `authn_oidc_provider.rs`.

mod authn_harness;
#[allow(dead_code)]
mod support;

use authn_harness::issuer::serve as serve_issuer;
use authn_harness::keys::{self, now};
use authn_harness::AuthProxy;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use support::Upstream;

const RESOURCE: &str = "https://mimir.test";

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn hmac_token(secret: &[u8], header: Value, claims: &Value) -> String {
    let message = format!("{}.{}", b64(&header), b64(claims));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_invalid_tokens_are_refused() {
    let (rsa, ec, ed) = (keys::rsa("rsa-1"), keys::ec("ec-1"), keys::ed("ed-1"));
    let (issuer, _) = serve_issuer(json!({"keys": [rsa.jwk, ec.jwk, ed.jwk]})).await;
    let attacker = keys::rsa("rsa-1");
    let attacker_ed = keys::ed("evil");
    let (attacker_url, attacker_hits) = serve_issuer(json!({"keys": [attacker.jwk]})).await;

    let upstream = Upstream::start().await;
    let proxy = AuthProxy::start(
        &upstream.addr.to_string(),
        &format!(
            r#"resource = "{RESOURCE}"
leeway_seconds = 5
max_token_bytes = 4096
[[auth.issuers]]
issuer = "{issuer}"
algorithms = ["RS256", "ES256"]
role_claims = ["realm_access.roles", "https://mimir.test/roles"]
"#
        ),
        &[],
    )
    .await;
    let client = proxy.client();
    let now = now();
    let claims = json!({
        "iss": issuer, "aud": RESOURCE, "sub": "alice", "iat": now, "nbf": now - 1, "exp": now + 300,
        "realm_access": {"roles": ["developer"]}, "https://mimir.test/roles": ["analyst"],
    });
    let with = |patch: Value| {
        let mut c = claims.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let header = |extra: Value| {
        let mut h = json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"});
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        h
    };

    // The positive controls: each allowed algorithm, roles from nested and namespaced claims.
    for key in [&rsa, &ec] {
        let resp = client
            .get(proxy.url("/api/nodes"))
            .bearer_auth(key.sign(&claims))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{:?}: {}", key.alg, proxy.log());
        let echo: Value = resp.json().await.unwrap();
        // Known to the core by the issuer's host and port, its default source.
        let source = issuer.trim_start_matches("http://");
        assert_eq!(echo["headers"]["x-user-id"][0], format!("{source}|alice"));
        assert_eq!(echo["headers"]["x-user-roles"][0], "developer,analyst");
    }
    let hits_after_valid = upstream.hits();

    let valid = rsa.sign(&claims);
    let (vh, vp, vs) = {
        let mut p = valid.split('.');
        (
            p.next().unwrap().to_owned(),
            p.next().unwrap().to_owned(),
            p.next().unwrap().to_owned(),
        )
    };
    let mut flipped = vs.clone().into_bytes();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let tampered_payload = b64(&with(json!({"sub": "admin"})));

    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&claims)
            ),
        ),
        (
            "alg None",
            format!("{}.{}.", b64(&json!({"alg": "None"})), b64(&claims)),
        ),
        (
            "alg none with signature",
            format!("{}.{}.{vs}", b64(&json!({"alg": "none"})), b64(&claims)),
        ),
        (
            "alg missing",
            format!("{}.{vp}.{vs}", b64(&json!({"kid": "rsa-1"}))),
        ),
        (
            "HS256 with the RSA public key",
            hmac_token(
                &rsa.public_bytes,
                json!({"alg": "HS256", "kid": "rsa-1"}),
                &claims,
            ),
        ),
        (
            "HS256 with the JWK modulus",
            hmac_token(
                rsa.jwk["n"].as_str().unwrap().as_bytes(),
                json!({"alg": "HS256"}),
                &claims,
            ),
        ),
        (
            "HS512 with the EC key",
            hmac_token(
                &ec.public_bytes,
                json!({"alg": "HS512", "kid": "ec-1"}),
                &claims,
            ),
        ),
        ("EdDSA not on the allow-list", ed.sign(&claims)),
        (
            "ES256 header on an RSA kid",
            rsa.sign_with_header(&header(json!({"alg": "RS256", "kid": "ec-1"})), &claims),
        ),
        (
            "PS256 swapped in for RS256",
            format!("{}.{vp}.{vs}", b64(&header(json!({"alg": "PS256"})))),
        ),
        (
            "unknown kid",
            rsa.sign_with_header(&header(json!({"kid": "nope"})), &claims),
        ),
        ("attacker key with a known kid", attacker.sign(&claims)),
        (
            "jku to the attacker's JWKS",
            attacker.sign_with_header(
                &header(json!({"kid": "rsa-1", "jku": format!("{attacker_url}/jwks")})),
                &claims,
            ),
        ),
        (
            "x5u to the attacker",
            attacker.sign_with_header(
                &header(json!({"x5u": format!("{attacker_url}/cert")})),
                &claims,
            ),
        ),
        (
            "embedded jwk",
            attacker_ed.sign_with_header(
                &json!({"alg": "EdDSA", "kid": "evil", "jwk": attacker_ed.jwk}),
                &claims,
            ),
        ),
        (
            "kid not a string",
            rsa.sign_with_header(&header(json!({"kid": 1})), &claims),
        ),
        (
            "crit header",
            rsa.sign_with_header(&header(json!({"crit": ["exp"], "exp": 1})), &claims),
        ),
        (
            "typ JWE-ish",
            rsa.sign_with_header(&header(json!({"typ": "JOSE+JSON"})), &claims),
        ),
        ("expired", rsa.sign(&with(json!({"exp": now - 60})))),
        ("not yet valid", rsa.sign(&with(json!({"nbf": now + 600})))),
        (
            "issued in the future",
            rsa.sign(&with(json!({"iat": now + 600}))),
        ),
        ("missing exp", rsa.sign(&with(json!({"exp": null})))),
        (
            "exp as a string",
            rsa.sign(&with(json!({"exp": (now + 300).to_string()}))),
        ),
        // A decimal NumericDate used to pass unchecked and be cached without expiry.
        (
            "exp a decimal number",
            rsa.sign(&with(json!({"exp": now as f64 - 59.5}))),
        ),
        (
            "exp a decimal number in the future",
            rsa.sign(&with(json!({"exp": now as f64 + 300.5}))),
        ),
        ("nbf a decimal number", rsa.sign(&with(json!({"nbf": 1.5})))),
        (
            "iat a decimal number",
            rsa.sign(&with(json!({"iat": now as f64 - 0.5}))),
        ),
        ("exp negative", rsa.sign(&with(json!({"exp": -1})))),
        (
            "wrong issuer",
            rsa.sign(&with(json!({"iss": "https://evil.example"}))),
        ),
        ("missing issuer", rsa.sign(&with(json!({"iss": null})))),
        (
            "wrong audience",
            rsa.sign(&with(json!({"aud": "https://other.example"}))),
        ),
        (
            "audience list without us",
            rsa.sign(&with(json!({"aud": ["a", "b"]}))),
        ),
        ("missing audience", rsa.sign(&with(json!({"aud": null})))),
        ("missing subject", rsa.sign(&with(json!({"sub": null})))),
        (
            "subject with a newline",
            rsa.sign(&with(json!({"sub": "alice\r\nX-User-Roles: admin"}))),
        ),
        ("tampered payload", format!("{vh}.{tampered_payload}.{vs}")),
        ("tampered signature", format!("{vh}.{vp}.{flipped}")),
        ("signature stripped", format!("{vh}.{vp}.")),
        (
            "oversize",
            rsa.sign(&with(json!({"pad": "x".repeat(5000)}))),
        ),
        ("garbage base64 header", format!("!!!.{vp}.{vs}")),
        (
            "header not JSON",
            format!("{}.{vp}.{vs}", URL_SAFE_NO_PAD.encode("not json")),
        ),
        (
            "header a JSON array",
            format!("{}.{vp}.{vs}", URL_SAFE_NO_PAD.encode("[1,2]")),
        ),
        ("payload garbage", format!("{vh}.@@@.{vs}")),
        ("two segments", format!("{vh}.{vp}")),
        ("four segments", format!("{vh}.{vp}.{vs}.{vs}")),
        ("empty segments", "..".into()),
        ("just dots and text", "a.b.c".into()),
    ];
    assert!(cases.len() >= 30);
    for (name, token) in &cases {
        let resp = client
            .get(proxy.url("/api/nodes"))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(resp.status(), 401, "{name} was not refused");
        let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{name}: {challenge}"
        );
    }
    assert_eq!(
        upstream.hits(),
        hits_after_valid,
        "no forged token reached the upstream"
    );
    assert_eq!(
        attacker_hits.load(Ordering::SeqCst),
        0,
        "jku/x5u were never fetched"
    );
    let log = proxy.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains(&valid), "tokens never appear in the log");
}
