//! Browser sessions end to end with the real `mimir-proxy`: dev-user sign-in at `/login`, the
//! encrypted session cookie (flags, tampering, foreign keys, absolute lifetime, sliding idle
//! timeout, lockdown), CSRF refusals, `next=` open-redirect attempts, sign-out, and the
//! identity assertion the upstream receives (verified with the public key).

mod authn_harness;
#[allow(dead_code)]
mod support;

use authn_harness::AuthProxy;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{RequestBuilder, Response};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{await_status, Upstream};

const ADMIN: (&str, &str) = ("MIMIR_DEV_USER_ADMIN", "admin:Adm1n-pass:admin,developer");

struct Browser {
    proxy: AuthProxy,
    http: reqwest::Client,
    origin: String,
}

/// Cookies set by a response: name → (value, full `Set-Cookie` line).
fn set_cookies(headers: &HeaderMap) -> Vec<(String, String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| {
            let line = v.to_str().unwrap().to_owned();
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_owned(), value.to_owned(), line)
        })
        .collect()
}

fn cookie<'a>(set: &'a [(String, String, String)], name: &str) -> &'a (String, String, String) {
    set.iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} cookie in {set:?}"))
}

impl Browser {
    async fn start(upstream: &Upstream, extra: &str) -> Self {
        // Tests here sign in more often than the `auth` group's rate allows; rates are tested in
        // gateway_ratelimit.rs.
        let extra = format!("{extra}\n[traffic]\nrate_limits = false\n");
        let proxy = AuthProxy::start(&upstream.addr.to_string(), &extra, &[ADMIN]).await;
        let http = proxy
            .client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let origin = format!("https://localhost:{}", proxy.addr.port());
        Self {
            proxy,
            http,
            origin,
        }
    }

    /// The dev form on /login, posted from this site's page.
    async fn sign_in(&self, next: &str) -> Response {
        self.http
            .post(self.proxy.url("/login"))
            .header("origin", &self.origin)
            .form(&[
                ("username", "admin"),
                ("password", "Adm1n-pass"),
                ("next", next),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Signed in: (session cookie value, CSRF token).
    async fn session(&self) -> (String, String) {
        let resp = self.sign_in("/").await;
        assert_eq!(resp.status(), 303);
        let set = set_cookies(resp.headers());
        (
            cookie(&set, "__Host-mimir_session").1.clone(),
            cookie(&set, "__Host-mimir_csrf").1.clone(),
        )
    }

    fn with(&self, request: RequestBuilder, session: &str) -> RequestBuilder {
        request.header(
            "cookie",
            format!("theme=dark; __Host-mimir_session={session}"),
        )
    }

    async fn status(&self, request: RequestBuilder) -> u16 {
        request.send().await.unwrap().status().as_u16()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_sign_in_sets_a_protected_cookie_and_the_upstream_gets_a_signed_identity() {
    let keys = tempfile::tempdir().unwrap();
    let upstream = Upstream::start().await;
    let b = Browser::start(&upstream, &support::identity_keygen(keys.path())).await;

    let resp = b.sign_in("/api/nodes?x=1").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()[LOCATION], "/api/nodes?x=1");
    let set = set_cookies(resp.headers());
    let (_, session, line) = cookie(&set, "__Host-mimir_session");
    // `__Host-`: browsers keep it only when Secure, Path=/ and without Domain.
    assert!(!line.contains("Domain"), "{line}");
    for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(line.contains(flag), "{line}");
    }
    assert!(!session.contains("admin"), "encrypted: {session}");
    let (_, csrf, csrf_line) = cookie(&set, "__Host-mimir_csrf");
    assert!(!csrf_line.contains("HttpOnly") && csrf_line.contains("Secure"));

    let resp = b
        .with(b.http.get(b.proxy.url("/api/nodes")), session)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", b.proxy.log());
    let echo: Value = resp.json().await.unwrap();
    let header = |name: &str| echo["headers"][name][0].as_str().unwrap_or("").to_owned();
    assert_eq!(header("x-user-id"), "dev|admin");
    assert_eq!(header("x-user-roles"), "admin,developer");
    assert_eq!(
        header("cookie"),
        "theme=dark",
        "the session cookie is not forwarded"
    );

    let public = std::fs::read(keys.path().join("identity.pub")).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["mimir-core"]);
    validation.set_issuer(&["mimir-proxy"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let assertion = jsonwebtoken::decode::<Value>(
        &header("x-mimir-identity"),
        &DecodingKey::from_ed_pem(&public).unwrap(),
        &validation,
    )
    .expect("the assertion verifies with the public key");
    assert_eq!(assertion.header.typ.as_deref(), Some("mimir-identity+jwt"));
    let claims = assertion.claims;
    assert_eq!(
        (&claims["src"], &claims["sub"]),
        (&json!("dev"), &json!("dev|admin"))
    );
    assert_eq!(claims["roles"], json!(["admin", "developer"]));
    assert_eq!(claims["clearance"], "restricted");
    assert_eq!(claims["auth"], "dev");
    // Bound to this request: `printf %s /api/nodes | openssl dgst -sha256 -binary`, base64url.
    assert_eq!(
        (&claims["htm"], &claims["target_hash"]),
        (
            &json!("GET"),
            &json!("tmB3lozA8DFy29Kf5UKGopwRSUpN8ovCke3VyZimNHQ")
        )
    );
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        30
    );

    // A client-sent assertion never passes: the proxy replaces it with its own.
    let resp = b
        .with(b.http.get(b.proxy.url("/api/nodes")), session)
        .header("x-mimir-identity", "forged")
        .send()
        .await
        .unwrap();
    let echo: Value = resp.json().await.unwrap();
    assert_ne!(echo["headers"]["x-mimir-identity"][0], "forged");

    // Sign-out needs the CSRF token; it clears both cookies.
    let logout = |token: Option<&str>| {
        let mut form = vec![];
        if let Some(t) = token {
            form.push(("csrf_token", t.to_owned()));
        }
        b.with(b.http.post(b.proxy.url("/auth/logout")), session)
            .header("origin", &b.origin)
            .form(&form)
    };
    assert_eq!(b.status(logout(None)).await, 403);
    assert_eq!(b.status(logout(Some("wrong"))).await, 403);
    let resp = logout(Some(csrf)).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()[LOCATION], "/login");
    let cleared = set_cookies(resp.headers());
    for name in ["__Host-mimir_session", "__Host-mimir_csrf"] {
        let (_, value, line) = cookie(&cleared, name);
        assert!(value.is_empty() && line.contains("Max-Age=0"), "{line}");
    }
    // A copy of the cookie kept from before the sign-out is refused by the proxy, not only
    // deleted in this browser.
    let replayed = b.with(b.http.get(b.proxy.url("/api/nodes")), session);
    assert_eq!(b.status(replayed).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_foreign_and_locked_down_sessions_are_refused() {
    let upstream = Upstream::start().await;
    let b = Browser::start(&upstream, "").await;
    let other = Browser::start(&upstream, "").await;
    let (session, _) = b.session().await;
    let get = |s: &str| b.with(b.http.get(b.proxy.url("/api/nodes")), s);
    assert_eq!(b.status(get(&session)).await, 200);

    let mut tampered = session.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let (foreign, _) = other.session().await;
    let hits = upstream.hits();
    for bad in [
        String::from_utf8(tampered).unwrap(),
        foreign,
        format!("{session}x"),
        String::new(),
        "eyJzdWIiOiJhZG1pbiJ9".into(),
    ] {
        let resp = get(&bad).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{bad}");
        assert!(resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .ends_with("error=\"invalid_token\""));
    }
    // Two session cookies are ambiguous.
    let twice = b.http.get(b.proxy.url("/api/nodes")).header(
        "cookie",
        format!("__Host-mimir_session={session}; __Host-mimir_session={session}"),
    );
    assert_eq!(b.status(twice).await, 400);
    assert_eq!(
        upstream.hits(),
        hits,
        "nothing refused reached the upstream"
    );

    // A lockdown ends every session signed in before it, and the login page forgets it too.
    let signed_in_page = |s: &str| {
        let req = b.with(b.http.get(b.proxy.url("/login")), s);
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    let page = signed_in_page(&session).await;
    assert!(
        page.contains("Sign out") && page.contains("admin"),
        "{page}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(b.proxy.cli(&["lockdown"]).status.success());
    await_status("session after lockdown", 401, || b.status(get(&session))).await;
    let page = signed_in_page(&session).await;
    assert!(!page.contains("Sign out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_idle_and_at_their_lifetime_despite_use() {
    let upstream = Upstream::start().await;
    let b = Browser::start(
        &upstream,
        "[auth.session]\nlifetime_seconds = 13\nidle_timeout_seconds = 6\n",
    )
    .await;
    let get = |s: &str| b.with(b.http.get(b.proxy.url("/api/nodes")), s);

    // Used every 3.5 s, the idle window slides: each answer renews the cookie (renewal is due
    // after half the idle timeout). Margins are a second or more because session times are
    // kept in whole seconds.
    let signed_in = Instant::now();
    let (mut session, _) = b.session().await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(3500)).await;
        let resp = get(&session).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let set = set_cookies(resp.headers());
        let (_, renewed, line) = cookie(&set, "__Host-mimir_session");
        assert!(line.contains("HttpOnly") && line.contains("Secure"));
        session = renewed.clone();
    }
    // 15.5 s after sign-in: past the 13 s lifetime, though used about 5 s ago.
    tokio::time::sleep_until((signed_in + Duration::from_millis(15500)).into()).await;
    assert_eq!(b.status(get(&session)).await, 401);

    // Unused for longer than the idle timeout.
    let (idle, _) = b.session().await;
    tokio::time::sleep(Duration::from_millis(7500)).await;
    assert_eq!(b.status(get(&idle)).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changing_session_requests_need_origin_and_token() {
    let upstream = Upstream::start().await;
    let b = Browser::start(&upstream, "").await;
    let (session, csrf) = b.session().await;
    let post = |headers: &[(&str, &str)]| {
        let mut r = b.with(b.http.post(b.proxy.url("/api/nodes")), &session);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.json(&serde_json::json!({"type": "memory"}))
    };
    let origin = b.origin.as_str();
    let csrf = csrf.as_str();
    let hits = upstream.hits();
    for refused in [
        vec![],
        vec![("x-csrf-token", csrf)],
        vec![("origin", "https://evil.example"), ("x-csrf-token", csrf)],
        vec![("origin", "null"), ("x-csrf-token", csrf)],
        vec![("sec-fetch-site", "cross-site"), ("x-csrf-token", csrf)],
        vec![
            ("sec-fetch-site", "same-site"),
            ("origin", origin),
            ("x-csrf-token", csrf),
        ],
        vec![("origin", origin)],
        vec![("origin", origin), ("x-csrf-token", "guess")],
    ] {
        let resp = post(&refused).send().await.unwrap();
        assert_eq!(resp.status(), 403, "{refused:?}");
        assert!(resp.text().await.unwrap().contains("CSRF"));
    }
    assert_eq!(upstream.hits(), hits);
    let ok = [
        ("origin", origin),
        ("sec-fetch-site", "same-origin"),
        ("x-csrf-token", csrf),
    ];
    assert_eq!(b.status(post(&ok)).await, 200, "{}", b.proxy.log());
    // Safe methods need neither.
    assert_eq!(
        b.status(b.with(b.http.get(b.proxy.url("/api/nodes")), &session))
            .await,
        200
    );

    // Login CSRF: a foreign page cannot sign the browser in.
    let foreign = b
        .http
        .post(b.proxy.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("username", "admin"), ("password", "Adm1n-pass")]);
    assert_eq!(b.status(foreign).await, 403);
    let wrong = b
        .http
        .post(b.proxy.url("/login"))
        .header("origin", origin)
        .form(&[("username", "admin"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_targets_never_leave_the_site() {
    let upstream = Upstream::start().await;
    let b = Browser::start(&upstream, "").await;
    for evil in [
        "//evil.example/x",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "http:evil.example",
        "javascript:alert(1)",
        "/%2Fevil.example",
        "/%5Cevil.example",
        "/\t/evil.example",
        "evil.example",
        "",
    ] {
        let resp = b.sign_in(evil).await;
        assert_eq!(resp.status(), 303, "{evil:?}");
        assert_eq!(resp.headers()[LOCATION], "/", "{evil:?}");
    }
    // Query-string forms, percent-encoded once more, end up in the page as "/".
    for encoded in [
        "%2F%2Fevil.example",
        "%2F%5Cevil.example",
        "https%3A%2F%2Fevil.example",
    ] {
        let page = b
            .http
            .get(b.proxy.url(&format!("/login?next={encoded}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("name=\"next\" value=\"/\""),
            "{encoded}: {html}"
        );
        assert!(!html.contains("evil"), "{encoded}");
    }
    let resp = b.sign_in("/api/nodes/types?a=1&b=%2F").await;
    assert_eq!(resp.headers()[LOCATION], "/api/nodes/types?a=1&b=%2F");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_too_large_for_a_cookie_is_refused_not_dropped() {
    let upstream = Upstream::start().await;
    let roles: Vec<String> = (0..300).map(|i| format!("group-{i:04}")).collect();
    let many = format!("many:Many-pass1:{}", roles.join(","));
    let proxy = AuthProxy::start(
        &upstream.addr.to_string(),
        "",
        &[("MIMIR_DEV_USER_MANY", many.as_str())],
    )
    .await;
    let http = proxy
        .client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = http
        .post(proxy.url("/login"))
        .header("origin", format!("https://localhost:{}", proxy.addr.port()))
        .form(&[("username", "many"), ("password", "Many-pass1")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()[LOCATION], "/login?error=session");
    assert!(resp.headers().get(SET_COOKIE).is_none());
    assert!(proxy.log().contains("exceed 4 KB"), "{}", proxy.log());
}
