//! The gateway as the OAuth 2.1 authorization server of MCP clients, end to end with the real
//! `mimir-proxy`: metadata, registration, `/authorize` with PKCE and consent, `/token` with
//! rotating refresh tokens, revocation (by the client, the CLI and a lockdown), scope step-up,
//! and the fences around redirect URIs and Client ID Metadata Documents. Every refusal is
//! checked for its status and error code, and for what it must not do: redirect to an
//! unregistered URI, leave a revoked token working, or fetch from a private address.

mod authn_harness;
#[allow(dead_code)]
mod support;

use authn_harness::AuthProxy;
use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::header::{CONTENT_TYPE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::Response;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{await_status, Upstream};
use url::Url;

const ADMIN: (&str, &str) = ("MIMIR_DEV_USER_ADMIN", "admin:Adm1n-pass:admin,developer");
const SESSION_COOKIE: &str = "__Host-mimir_session";
const APP_CB: &str = "https://app.example/cb";
const LOOPBACK_CB: &str = "http://127.0.0.1/callback";

/// `bytes` random bytes, base64url: 32 give a 43-character PKCE verifier.
fn random(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).unwrap();
    URL_SAFE_NO_PAD.encode(buf)
}

struct Pkce {
    verifier: String,
    challenge: String,
}

impl Pkce {
    fn new() -> Self {
        let verifier = random(32);
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        let challenge = URL_SAFE_NO_PAD.encode(digest.as_ref());
        Self {
            verifier,
            challenge,
        }
    }
}

/// A registered client and the redirect URI it uses.
struct App {
    id: String,
    redirect_uri: String,
}

struct Tokens {
    access: String,
    refresh: String,
    scope: String,
}

/// The query of an authorization request, in order; starts valid ([`Server::request`]).
type Params = Vec<(&'static str, String)>;

/// `params` with `name` set to `value`, or removed when `None`.
fn with(params: &Params, name: &'static str, value: Option<&str>) -> Params {
    let mut out: Params = params.iter().filter(|(n, _)| *n != name).cloned().collect();
    if let Some(value) = value {
        out.push((name, value.to_owned()));
    }
    out
}

fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    &params.iter().find(|(n, _)| *n == name).unwrap().1
}

/// The `Location` of a redirect, split into the URI without query and the query parameters.
fn redirect_of(resp: &Response) -> (String, HashMap<String, String>) {
    assert_eq!(resp.status(), 303, "expected a redirect: {resp:?}");
    let location = resp.headers()[LOCATION].to_str().unwrap();
    let url = Url::parse(location).unwrap_or_else(|_| panic!("absolute Location: {location}"));
    let query = url.query_pairs().into_owned().collect();
    let mut base = url.clone();
    base.set_query(None);
    (base.to_string(), query)
}

/// The value of the hidden input `name` of an HTML page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no input {name} in {html}"))
        + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A proxy with dev user `admin` (roles admin, developer) and an HTTP client that does not
/// follow redirects: every 303 is looked at.
struct Server {
    proxy: AuthProxy,
    http: reqwest::Client,
    origin: String,
}

impl Server {
    /// `oauth` goes into `[oauth]`. Rate limits are off: tests here sign in more often than the
    /// `auth` group allows (the registration limit of `[oauth]` is its own and stays on).
    async fn start(upstream: &Upstream, oauth: &str) -> Self {
        Self::start_with(
            upstream,
            &format!("{oauth}\n[traffic]\nrate_limits = false\n"),
        )
        .await
    }

    /// `oauth` goes into `[oauth]`, and may open further tables.
    async fn start_with(upstream: &Upstream, oauth: &str) -> Self {
        let extra = format!("\n[oauth]\n{oauth}\n");
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

    fn url(&self, path: &str) -> String {
        self.proxy.url(path)
    }

    async fn register(&self, metadata: Value) -> Response {
        self.http
            .post(self.url("/register"))
            .json(&metadata)
            .send()
            .await
            .unwrap()
    }

    /// A newly registered public client using the first of `redirect_uris`.
    async fn app(&self, redirect_uris: &[&str]) -> App {
        let resp = self
            .register(json!({"client_name": "Test Agent", "redirect_uris": redirect_uris}))
            .await;
        assert_eq!(resp.status(), 201, "{}", self.proxy.log());
        let body: Value = resp.json().await.unwrap();
        App {
            id: body["client_id"].as_str().unwrap().to_owned(),
            redirect_uri: redirect_uris[0].to_owned(),
        }
    }

    /// The dev sign-in form, posted from this site with `next`.
    async fn sign_in(&self, next: &str) -> Response {
        self.http
            .post(self.url("/login"))
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

    /// A fresh session cookie of `admin`.
    async fn session(&self) -> String {
        let resp = self.sign_in("/").await;
        assert_eq!(resp.status(), 303);
        session_cookie(&resp)
    }

    /// A valid authorization request of `app`, for this gateway as the resource.
    fn request(&self, app: &App, pkce: &Pkce) -> Params {
        vec![
            ("response_type", "code".into()),
            ("client_id", app.id.clone()),
            ("redirect_uri", app.redirect_uri.clone()),
            ("state", random(12)),
            ("code_challenge", pkce.challenge.clone()),
            ("code_challenge_method", "S256".into()),
            ("resource", self.origin.clone()),
        ]
    }

    fn authorize_url(&self, params: &Params) -> Url {
        let mut url = Url::parse(&self.url("/authorize")).unwrap();
        url.query_pairs_mut()
            .extend_pairs(params.iter().map(|(n, v)| (*n, v.as_str())));
        url
    }

    async fn authorize(&self, params: &Params, session: Option<&str>) -> Response {
        let mut req = self.http.get(self.authorize_url(params));
        if let Some(session) = session {
            req = req.header("cookie", format!("{SESSION_COOKIE}={session}"));
        }
        req.send().await.unwrap()
    }

    /// Answers the consent page `page` with `decision`, from this site's origin.
    async fn decide(&self, page: &str, session: &str, decision: &str) -> Response {
        self.http
            .post(self.url("/authorize"))
            .header("origin", &self.origin)
            .header("cookie", format!("{SESSION_COOKIE}={session}"))
            .form(&[
                ("request", hidden(page, "request")),
                ("csrf_token", hidden(page, "csrf_token")),
                ("decision", decision.to_owned()),
            ])
            .send()
            .await
            .unwrap()
    }

    /// The code for `params`, consenting when asked; checks that it comes back to the redirect
    /// URI with the request's state and this issuer.
    async fn code(&self, params: &Params, session: &str) -> String {
        let mut resp = self.authorize(params, Some(session)).await;
        if resp.status() == 200 {
            let page = resp.text().await.unwrap();
            resp = self.decide(&page, session, "allow").await;
        }
        let (to, query) = redirect_of(&resp);
        assert_eq!(to, param(params, "redirect_uri"));
        assert_eq!(query["state"], param(params, "state"));
        assert_eq!(query["iss"], self.origin);
        assert!(!query.contains_key("error"), "{query:?}");
        query["code"].clone()
    }

    /// `POST /token`: the status and the JSON answer.
    async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url("/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn exchange(&self, app: &App, code: &str, pkce: &Pkce) -> (u16, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &app.redirect_uri),
            ("code_verifier", &pkce.verifier),
            ("client_id", &app.id),
            ("resource", &self.origin),
        ])
        .await
    }

    async fn refresh(&self, client_id: &str, refresh_token: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ])
        .await
    }

    /// A grant of `admin` to `app` (for `scope`, when given): its first tokens.
    async fn grant(&self, app: &App, session: &str, scope: Option<&str>) -> Tokens {
        let pkce = Pkce::new();
        let params = with(&self.request(app, &pkce), "scope", scope);
        let code = self.code(&params, session).await;
        let (status, body) = self.exchange(app, &code, &pkce).await;
        assert_eq!(status, 200, "{body}");
        tokens(&body)
    }

    async fn revoke(&self, client_id: &str, token: &str) -> u16 {
        let resp = self
            .http
            .post(self.url("/revoke"))
            .form(&[("token", token), ("client_id", client_id)])
            .send()
            .await
            .unwrap();
        resp.status().as_u16()
    }

    /// `GET /api/nodes` through the proxy with an access token.
    async fn api(&self, token: &str) -> Response {
        self.http
            .get(self.url("/api/nodes"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn api_status(&self, token: &str) -> u16 {
        self.api(token).await.status().as_u16()
    }

    /// The proxy still answers, and logged no panic.
    async fn assert_alive(&self) {
        let resp = self
            .http
            .get(self.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            !self.proxy.log().contains("panicked"),
            "{}",
            self.proxy.log()
        );
    }
}

fn session_cookie(resp: &Response) -> String {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next()?.split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .expect("a session cookie")
}

fn tokens(body: &Value) -> Tokens {
    let text = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
    let tokens = Tokens {
        access: text("access_token"),
        refresh: text("refresh_token"),
        scope: text("scope"),
    };
    assert!(tokens.access.starts_with("mgat_"), "{body}");
    assert!(tokens.refresh.starts_with("mgrt_"), "{body}");
    assert_eq!(body["token_type"], "Bearer");
    tokens
}

/// The roles the upstream saw for a request with `token`.
async fn upstream_identity(s: &Server, token: &str) -> (String, String) {
    let resp = s.api(token).await;
    assert_eq!(resp.status(), 200, "{}", s.proxy.log());
    let echo: Value = resp.json().await.unwrap();
    let header = |name: &str| echo["headers"][name][0].as_str().unwrap_or("").to_owned();
    (header("x-user-id"), header("x-user-roles"))
}

fn assert_oauth_error(answer: &(u16, Value), status: u16, error: &str, what: &str) {
    assert_eq!(
        (answer.0, answer.1["error"].as_str()),
        (status, Some(error)),
        "{what}: {}",
        answer.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_client_signs_in_consents_exchanges_and_refreshes() {
    let upstream = Upstream::start().await;
    let s = Server::start(&upstream, "").await;

    // Discovery: the protected resource names the gateway, whose metadata describes itself.
    let prm: Value = s
        .http
        .get(s.url("/.well-known/oauth-protected-resource"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["authorization_servers"], json!([s.origin]));
    assert_eq!(prm["resource"], s.origin);
    let metadata: Value = s
        .http
        .get(s.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = metadata["issuer"].as_str().unwrap().to_owned();
    assert_eq!(issuer, s.origin);
    for (field, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("registration_endpoint", "/register"),
        ("revocation_endpoint", "/revoke"),
    ] {
        assert_eq!(metadata[field], format!("{issuer}{path}"), "{field}");
    }
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
    let mut scopes: Vec<&str> = metadata["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["admin", "analyst", "developer", "viewer"]);
    // Clients try the path-inserted and OpenID forms first; all answer the same document.
    for path in [
        "/.well-known/oauth-authorization-server/mcp",
        "/.well-known/openid-configuration",
        "/.well-known/openid-configuration/mcp",
    ] {
        let other: Value = s
            .http
            .get(s.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(other, metadata, "{path}");
    }

    let resp = s
        .register(json!({"client_name": "Test Agent", "redirect_uris": [APP_CB]}))
        .await;
    assert_eq!(resp.status(), 201);
    let registered: Value = resp.json().await.unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    assert!(client_id.starts_with("mgc_"), "{registered}");
    assert_eq!(registered["token_endpoint_auth_method"], "none");
    assert!(
        registered.get("client_secret").is_none(),
        "public clients only"
    );
    let app = App {
        id: client_id.to_owned(),
        redirect_uri: APP_CB.to_owned(),
    };

    // Not signed in: to the login page, which brings the person back to the same request.
    let pkce = Pkce::new();
    let params = s.request(&app, &pkce);
    let url = s.authorize_url(&params);
    let target = &url[url::Position::BeforePath..];
    let resp = s.authorize(&params, None).await;
    assert_eq!(resp.status(), 303);
    let login = resp.headers()[LOCATION].to_str().unwrap();
    let next = login.strip_prefix("/login?next=").expect(login);
    let next = form_urlencoded::parse(format!("next={next}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    assert_eq!(next, target);
    let resp = s.sign_in(&next).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()[LOCATION], target);
    let session = session_cookie(&resp);

    // The consent page says who asks and where the code goes.
    let resp = s.authorize(&params, Some(&session)).await;
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("<strong id=\"client\">Test Agent</strong>"),
        "{page}"
    );
    assert!(page.contains(&format!("({client_id})")), "{page}");
    assert!(page.contains("<strong id=\"redirect-host\">app.example</strong>"));
    assert!(page.contains("name=\"decision\" value=\"allow\""));
    assert!(page.contains("name=\"decision\" value=\"deny\""));
    let (to, answer) = redirect_of(&s.decide(&page, &session, "allow").await);
    assert_eq!(to, APP_CB);
    assert_eq!(answer["state"], param(&params, "state"));
    assert_eq!(answer["iss"], issuer);
    let code = &answer["code"];

    let (status, body) = s.exchange(&app, code, &pkce).await;
    assert_eq!(status, 200, "{body}");
    let first = tokens(&body);
    assert!(body["expires_in"]
        .as_u64()
        .is_some_and(|e| e > 0 && e <= 600));
    assert_eq!(first.scope, "admin developer", "no scope asked: every role");
    assert_eq!(
        upstream_identity(&s, &first.access).await,
        ("dev|admin".into(), "admin,developer".into())
    );

    // Refresh rotates: a new refresh token each time, and a working access token.
    let (status, body) = s.refresh(&app.id, &first.refresh).await;
    assert_eq!(status, 200, "{body}");
    let second = tokens(&body);
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    assert_eq!(s.api_status(&second.access).await, 200);

    // The spent refresh token again: someone copied it, so the whole grant ends.
    assert_oauth_error(
        &s.refresh(&app.id, &first.refresh).await,
        400,
        "invalid_grant",
        "spent refresh token",
    );
    assert_oauth_error(
        &s.refresh(&app.id, &second.refresh).await,
        400,
        "invalid_grant",
        "current refresh token of a revoked grant",
    );
    for access in [&first.access, &second.access] {
        assert_eq!(s.api_status(access).await, 401);
    }

    // The consent is remembered: the next authorization goes straight back with a code…
    let pkce = Pkce::new();
    let params = s.request(&app, &pkce);
    let resp = s.authorize(&params, Some(&session)).await;
    let (to, answer) = redirect_of(&resp);
    assert_eq!(to, APP_CB);
    assert_eq!(answer["state"], param(&params, "state"));
    let (status, body) = s.exchange(&app, &answer["code"], &pkce).await;
    assert_eq!(status, 200, "{body}");
    // …unless the client asks to be shown again.
    let resp = s
        .authorize(&with(&params, "prompt", Some("consent")), Some(&session))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Allow access?"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_requests_never_redirect_to_unregistered_uris() {
    let upstream = Upstream::start().await;
    let s = Server::start(&upstream, "").await;
    let app = s.app(&[APP_CB, LOOPBACK_CB]).await;
    let pkce = Pkce::new();
    let valid = s.request(&app, &pkce);

    // Until the client and the redirect URI are known, errors are a page, never a redirect.
    let shown = |params: Params, why: &'static str| {
        let s = &s;
        async move {
            let resp = s.authorize(&params, None).await;
            assert_eq!(resp.status(), 400, "{why}: {params:?}");
            assert!(resp.headers().get(LOCATION).is_none(), "{why}");
            assert!(resp.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"));
            resp.text().await.unwrap()
        }
    };
    let page = shown(
        with(
            &valid,
            "client_id",
            Some("mgc_00000000000000000000000000000000"),
        ),
        "unknown client",
    )
    .await;
    assert!(page.contains("unknown client_id"), "{page}");
    for evil in [
        "https://app.example/cb/extra",
        "https://app.example/c",
        "https://app.example/cb/",
        "https://app.example/cb?next=https://evil.example/",
        "https://attacker@app.example/cb",
        "https://app.example/cb#fragment",
        "https://app.example:8443/cb",
        "https://app.example.evil.example/cb",
        "https://evil.example/cb",
        "http://app.example/cb",
        "https://evil.example/",
        "//evil.example/cb",
        "http://127.0.0.1:5555/callback/other",
        "http://localhost:5555/callback",
        "http://attacker@127.0.0.1:5555/callback",
    ] {
        let page = shown(with(&valid, "redirect_uri", Some(evil)), evil).await;
        assert!(page.contains("not registered"), "{evil}: {page}");
        assert!(!page.contains("evil.example"), "{evil}: not echoed");
    }
    // With two registered, the client must say which one.
    let page = shown(with(&valid, "redirect_uri", None), "no redirect_uri").await;
    assert!(page.contains("no redirect URI"), "{page}");

    // A loopback http URI accepts any port (native apps pick a free one): the request goes on,
    // here to the login page.
    for port in ["49152", "8080"] {
        let uri = format!("http://127.0.0.1:{port}/callback");
        let resp = s
            .authorize(&with(&valid, "redirect_uri", Some(&uri)), None)
            .await;
        assert_eq!(resp.status(), 303, "{uri}");
        assert!(resp.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/login?next="));
    }

    // Once the redirect URI is trusted, protocol errors go back to it with state and iss.
    for (params, error) in [
        (with(&valid, "code_challenge", None), "invalid_request"),
        (
            with(&valid, "code_challenge_method", Some("plain")),
            "invalid_request",
        ),
        (
            with(&valid, "code_challenge_method", None),
            "invalid_request",
        ),
        (with(&valid, "resource", None), "invalid_request"),
        (
            with(&valid, "resource", Some("https://evil.example/mcp")),
            "invalid_target",
        ),
        (
            with(
                &valid,
                "resource",
                Some(&s.origin.replace("https://", "http://")),
            ),
            "invalid_target",
        ),
        (
            with(&valid, "response_type", Some("token")),
            "unsupported_response_type",
        ),
    ] {
        let resp = s.authorize(&params, None).await;
        let (to, query) = redirect_of(&resp);
        assert_eq!(to, APP_CB, "{params:?}");
        assert_eq!(query["error"], error, "{params:?}");
        assert_eq!(query["state"], param(&valid, "state"));
        assert_eq!(query["iss"], s.origin);
        assert!(!query.contains_key("code"));
    }

    // The consent form is answered only from this site, with the session's CSRF token and
    // the sealed request the page carried.
    let session = s.session().await;
    let page = s
        .authorize(&valid, Some(&session))
        .await
        .text()
        .await
        .unwrap();
    let post = |origin: &str, csrf: String, request: String| {
        s.http
            .post(s.url("/authorize"))
            .header("origin", origin)
            .header("cookie", format!("{SESSION_COOKIE}={session}"))
            .form(&[
                ("request", request),
                ("csrf_token", csrf),
                ("decision", "allow".to_owned()),
            ])
            .send()
    };
    let (csrf, request) = (hidden(&page, "csrf_token"), hidden(&page, "request"));
    let last = if request.ends_with('A') { "B" } else { "A" };
    let tampered = format!("{}{last}", &request[..request.len() - 1]);
    for (origin, csrf, request, status) in [
        ("https://evil.example", csrf.clone(), request.clone(), 403),
        (s.origin.as_str(), "guess".to_owned(), request.clone(), 403),
        (s.origin.as_str(), csrf.clone(), tampered, 400),
    ] {
        let resp = post(origin, csrf, request).await.unwrap();
        assert_eq!(resp.status(), status, "{origin}");
        assert!(resp.headers().get(LOCATION).is_none());
    }
    // Deny goes back with access_denied and no code; nothing is remembered.
    let (to, query) = redirect_of(&s.decide(&page, &session, "deny").await);
    assert_eq!(
        (to.as_str(), query["error"].as_str()),
        (APP_CB, "access_denied")
    );
    assert!(!query.contains_key("code"));
    assert_eq!(s.authorize(&valid, Some(&session)).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_requests_that_do_not_match_the_code_or_grant_are_refused() {
    let upstream = Upstream::start().await;
    let s = Server::start(&upstream, "").await;
    let app = s.app(&[APP_CB]).await;
    let other = s.app(&["https://other.example/cb"]).await;
    let session = s.session().await;
    let fresh_code = |pkce: &Pkce| {
        let params = s.request(&app, pkce);
        let (s, session) = (&s, &session);
        async move { s.code(&params, session).await }
    };

    // PKCE: a wrong or missing verifier.
    let pkce = Pkce::new();
    let code = fresh_code(&pkce).await;
    let wrong = Pkce::new();
    assert_oauth_error(
        &s.exchange(&app, &code, &wrong).await,
        400,
        "invalid_grant",
        "wrong verifier",
    );
    let code = fresh_code(&pkce).await;
    let no_verifier = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP_CB),
            ("client_id", &app.id),
        ])
        .await;
    assert_oauth_error(&no_verifier, 400, "invalid_grant", "no verifier");

    // A code used twice: the second use fails and ends what the first one gave.
    let code = fresh_code(&pkce).await;
    let (status, body) = s.exchange(&app, &code, &pkce).await;
    assert_eq!(status, 200, "{body}");
    let stolen = tokens(&body);
    assert_eq!(s.api_status(&stolen.access).await, 200);
    assert_oauth_error(
        &s.exchange(&app, &code, &pkce).await,
        400,
        "invalid_grant",
        "code reuse",
    );
    assert_eq!(s.api_status(&stolen.access).await, 401);
    assert_oauth_error(
        &s.refresh(&app.id, &stolen.refresh).await,
        400,
        "invalid_grant",
        "refresh of the revoked grant",
    );

    // A code issued to another client, and one sent with another redirect URI.
    let code = fresh_code(&pkce).await;
    let theirs = App {
        id: other.id.clone(),
        redirect_uri: APP_CB.to_owned(),
    };
    assert_oauth_error(
        &s.exchange(&theirs, &code, &pkce).await,
        400,
        "invalid_grant",
        "code of another client",
    );
    let code = fresh_code(&pkce).await;
    let elsewhere = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/other"),
            ("code_verifier", &pkce.verifier),
            ("client_id", &app.id),
        ])
        .await;
    assert_oauth_error(&elsewhere, 400, "invalid_grant", "other redirect_uri");

    // The resource must be the one authorized.
    for resource in [format!("{}/other", s.origin), "https://evil.example".into()] {
        let code = fresh_code(&pkce).await;
        let answer = s
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", APP_CB),
                ("code_verifier", &pkce.verifier),
                ("client_id", &app.id),
                ("resource", &resource),
            ])
            .await;
        assert_oauth_error(&answer, 400, "invalid_target", &resource);
    }

    // Refresh tokens: another client's, and ones nobody issued. None of them harms the grant.
    let mine = s.grant(&app, &session, None).await;
    assert_oauth_error(
        &s.refresh(&other.id, &mine.refresh).await,
        400,
        "invalid_grant",
        "refresh by another client",
    );
    let grant_id = mine.refresh["mgrt_".len()..].split('.').next().unwrap();
    for garbage in [
        "mgrt_garbage".to_owned(),
        "mgrt_x.1.y".to_owned(),
        "mgat_not-a-refresh-token".to_owned(),
        format!("mgrt_{grant_id}.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        format!("mgrt_{grant_id}.7.AAAA"),
        format!("{}x", mine.refresh),
    ] {
        assert_oauth_error(
            &s.refresh(&app.id, &garbage).await,
            400,
            "invalid_grant",
            &garbage,
        );
    }
    let (status, body) = s.refresh(&app.id, &mine.refresh).await;
    assert_eq!(status, 200, "the grant survived forged tokens: {body}");
    let renewed = tokens(&body);

    // Grant types and client authentication.
    for grant_type in ["password", "client_credentials", "implicit"] {
        let answer = s
            .token(&[
                ("grant_type", grant_type),
                ("client_id", &app.id),
                ("username", "admin"),
                ("password", "Adm1n-pass"),
            ])
            .await;
        assert_oauth_error(&answer, 400, "unsupported_grant_type", grant_type);
    }
    let code = fresh_code(&pkce).await;
    let with_secret = s
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP_CB),
            ("code_verifier", &pkce.verifier),
            ("client_id", &app.id),
            ("client_secret", "made-up"),
        ])
        .await;
    assert_oauth_error(
        &with_secret,
        401,
        "invalid_client",
        "public client with a secret",
    );
    let unknown = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &renewed.refresh),
            ("client_id", "mgc_unknown"),
        ])
        .await;
    assert_oauth_error(&unknown, 401, "invalid_client", "unknown client");
    let anonymous = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &renewed.refresh),
        ])
        .await;
    assert_oauth_error(&anonymous, 401, "invalid_client", "no client_id");
    let twice = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &renewed.refresh),
            ("refresh_token", "mgrt_other"),
            ("client_id", &app.id),
        ])
        .await;
    assert_oauth_error(&twice, 400, "invalid_request", "a parameter sent twice");
    let json_body = s
        .http
        .post(s.url("/token"))
        .json(&json!({"grant_type": "refresh_token", "client_id": app.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);

    // After all that, the grant still works and the proxy still serves.
    assert_eq!(s.api_status(&renewed.access).await, 200);
    s.assert_alive().await;

    // A refresh cannot reach beyond the grant's resource; refused, it spends nothing: the
    // client's refresh token still works (were it spent, its next use would count as theft
    // and end the grant).
    let elsewhere = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &renewed.refresh),
            ("client_id", &app.id),
            ("resource", "https://evil.example"),
        ])
        .await;
    assert_oauth_error(
        &elsewhere,
        400,
        "invalid_target",
        "refresh for another resource",
    );
    let (status, body) = s.refresh(&app.id, &renewed.refresh).await;
    assert_eq!(status, 200, "refresh after a refused one: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_codes_are_refused() {
    let upstream = Upstream::start().await;
    let s = Server::start(&upstream, "code_seconds = 1").await;
    let app = s.app(&[APP_CB]).await;
    let session = s.session().await;
    let pkce = Pkce::new();
    let code = s.code(&s.request(&app, &pkce), &session).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_oauth_error(
        &s.exchange(&app, &code, &pkce).await,
        400,
        "invalid_grant",
        "expired code",
    );
    // Not the verifier's fault: a prompt exchange works.
    let code = s.code(&s.request(&app, &pkce), &session).await;
    assert_eq!(s.exchange(&app, &code, &pkce).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_tokens_act_with_their_roles_and_name_the_scope_for_more() {
    let upstream = Upstream::start().await;
    let s = Server::start(&upstream, "").await;
    let app = s.app(&[APP_CB]).await;
    let session = s.session().await;

    // admin holds admin and developer; the client asks for developer only.
    let pkce = Pkce::new();
    let params = with(&s.request(&app, &pkce), "scope", Some("developer openid"));
    let page = s
        .authorize(&params, Some(&session))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<ul id=\"roles\"><li>developer</li></ul>"),
        "{page}"
    );
    let (_, query) = redirect_of(&s.decide(&page, &session, "allow").await);
    let (status, body) = s.exchange(&app, &query["code"], &pkce).await;
    assert_eq!(status, 200, "{body}");
    let scoped = tokens(&body);
    assert_eq!(scoped.scope, "developer");
    assert_eq!(
        upstream_identity(&s, &scoped.access).await,
        ("dev|admin".into(), "developer".into())
    );
    // What developer may do passes (a write)…
    let write = s
        .http
        .post(s.url("/api/nodes"))
        .bearer_auth(&scoped.access)
        .json(&json!({"type": "memory"}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 200);
    // …what only admin may do (listing API keys) is refused with the scope that would allow
    // it, and never reaches the upstream.
    let hits = upstream.hits();
    let resp = s
        .http
        .get(s.url("/api/keys"))
        .bearer_auth(&scoped.access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let challenge = resp.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    let scope = challenge
        .split("scope=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect(&challenge);
    let asked: Vec<&str> = scope.split(' ').collect();
    assert!(
        asked.contains(&"admin") && asked.contains(&"developer"),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
            s.origin
        )),
        "{challenge}"
    );
    assert_eq!(upstream.hits(), hits);
    // The user may: a token with every role passes.
    let full = s.grant(&app, &session, None).await;
    let resp = s
        .http
        .get(s.url("/api/keys"))
        .bearer_auth(&full.access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // A scope naming only roles the user does not hold is refused at /authorize: scopes are
    // role names, and admin does not hold viewer.
    let params = with(&s.request(&app, &pkce), "scope", Some("viewer"));
    let (to, query) = redirect_of(&s.authorize(&params, Some(&session)).await);
    assert_eq!(
        (to.as_str(), query["error"].as_str()),
        (APP_CB, "invalid_scope")
    );
    // A refresh cannot widen the grant.
    let widen = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &scoped.refresh),
            ("client_id", &app.id),
            ("scope", "admin"),
        ])
        .await;
    assert_oauth_error(&widen, 400, "invalid_scope", "widening refresh");
    // Refused, it spent nothing.
    let (status, body) = s.refresh(&app.id, &scoped.refresh).await;
    assert_eq!(status, 200, "refresh after a refused one: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_revoke_their_own_tokens() {
    let upstream = Upstream::start().await;
    let s = Server::start(&upstream, "").await;
    let app = s.app(&[APP_CB]).await;
    let other = s.app(&["https://other.example/cb"]).await;
    let session = s.session().await;

    // A refresh token ends its grant: the refresh token and the access tokens.
    let t = s.grant(&app, &session, None).await;
    let (status, body) = s.refresh(&app.id, &t.refresh).await;
    assert_eq!(status, 200, "{body}");
    let second = tokens(&body);
    assert_eq!(s.revoke(&other.id, &second.refresh).await, 200);
    assert_eq!(
        s.api_status(&second.access).await,
        200,
        "another client cannot revoke it"
    );
    assert_eq!(s.revoke(&app.id, &second.refresh).await, 200);
    for access in [&t.access, &second.access] {
        assert_eq!(s.api_status(access).await, 401);
    }
    assert_oauth_error(
        &s.refresh(&app.id, &second.refresh).await,
        400,
        "invalid_grant",
        "revoked grant",
    );
    // An access token ends alone: the grant goes on.
    let t = s.grant(&app, &session, None).await;
    assert_eq!(s.revoke(&other.id, &t.access).await, 200);
    assert_eq!(s.api_status(&t.access).await, 200, "not the other client's");
    assert_eq!(s.revoke(&app.id, &t.access).await, 200);
    assert_eq!(s.api_status(&t.access).await, 401);
    let (status, body) = s.refresh(&app.id, &t.refresh).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.api_status(&tokens(&body).access).await, 200);
    // Tokens nobody issued are answered alike; a client that does not exist is not.
    for token in ["mgrt_nothing.0.x", "mgat_nothing", "garbage"] {
        assert_eq!(s.revoke(&app.id, token).await, 200, "{token}");
    }
    assert_eq!(s.revoke("mgc_unknown", &t.refresh).await, 401);
    s.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_withdraw_consent_and_the_clients_grants_end() {
    let upstream = Upstream::start().await;
    let s = Server::start(&upstream, "").await;
    let app = s.app(&[APP_CB]).await;
    let session = s.session().await;
    let t = s.grant(&app, &session, None).await;
    let page = |session: Option<&str>| {
        let mut req = s.http.get(s.url("/oauth/consents"));
        if let Some(session) = session {
            req = req.header("cookie", format!("{SESSION_COOKIE}={session}"));
        }
        req.send()
    };
    let resp = page(None).await.unwrap();
    assert_eq!(resp.status(), 303, "signed out: to the sign-in page");
    let listed = page(Some(&session)).await.unwrap().text().await.unwrap();
    assert!(
        listed.contains("Test Agent") && listed.contains(&app.id),
        "{listed}"
    );
    let withdraw = |origin: &str, csrf: String| {
        s.http
            .post(s.url("/oauth/consents"))
            .header("origin", origin)
            .header("cookie", format!("{SESSION_COOKIE}={session}"))
            .form(&[("client_id", app.id.clone()), ("csrf_token", csrf)])
            .send()
    };
    // Only from this site, with the session's token.
    let resp = withdraw("https://evil.example", hidden(&listed, "csrf_token"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = withdraw(&s.origin, "forged".into()).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(s.api_status(&t.access).await, 200);
    let resp = withdraw(&s.origin, hidden(&listed, "csrf_token"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(s.api_status(&t.access).await, 401);
    assert_oauth_error(
        &s.refresh(&app.id, &t.refresh).await,
        400,
        "invalid_grant",
        "grant of a withdrawn consent",
    );
    let listed = page(Some(&session)).await.unwrap().text().await.unwrap();
    assert!(!listed.contains(&app.id), "{listed}");
    // The next sign-in of that client asks again.
    let resp = s
        .authorize(&s.request(&app, &Pkce::new()), Some(&session))
        .await;
    assert_eq!(
        resp.status(),
        200,
        "the consent page, not a remembered consent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_list_grants_and_end_a_users_from_the_command_line() {
    let upstream = Upstream::start().await;
    let s = Server::start(&upstream, "").await;
    let app = s.app(&[APP_CB]).await;
    let other = s.app(&["https://other.example/cb"]).await;
    let session = s.session().await;
    let first = s.grant(&app, &session, None).await;
    let second = s.grant(&other, &session, Some("developer")).await;

    let listed = s.proxy.cli(&["oauth", "grants"]);
    assert!(listed.status.success(), "{listed:?}");
    let listed = String::from_utf8(listed.stdout).unwrap();
    for (client, scope) in [(&app.id, "(all roles)"), (&other.id, "developer")] {
        assert!(
            listed.lines().any(|l| l.contains("\tdev|admin\t")
                && l.contains(client.as_str())
                && l.contains(scope)),
            "{listed}"
        );
    }
    assert!(
        !listed.contains("mgrt_") && !listed.contains("mgat_"),
        "{listed}"
    );

    let out = s.proxy.cli(&["oauth", "revoke", "user", "dev|admin"]);
    assert!(out.status.success(), "{out:?}");
    // Only the protected API is asked: the revocation must reach tokens in use by itself,
    // not wait for someone to call an OAuth endpoint.
    let started = Instant::now();
    for access in [&first.access, &second.access] {
        await_status("access token after `oauth revoke user`", 401, || {
            s.api_status(access)
        })
        .await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for (client, refresh) in [(&app.id, &first.refresh), (&other.id, &second.refresh)] {
        assert_oauth_error(
            &s.refresh(client, refresh).await,
            400,
            "invalid_grant",
            "refresh after `oauth revoke user`",
        );
    }
    let listed = String::from_utf8(s.proxy.cli(&["oauth", "grants"]).stdout).unwrap();
    assert!(!listed.contains("dev|admin"), "{listed}");
    // The revocation ends what existed at its time: later grants work.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = s.grant(&app, &session, None).await;
    assert_eq!(s.api_status(&later.access).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lockdown_ends_every_grant_made_before_it() {
    let upstream = Upstream::start().await;
    let s = Server::start(&upstream, "").await;
    let app = s.app(&[APP_CB]).await;
    let session = s.session().await;
    let t = s.grant(&app, &session, None).await;
    assert_eq!(s.api_status(&t.access).await, 200);

    let out = s.proxy.cli(&["lockdown"]);
    assert!(out.status.success(), "{out:?}");
    await_status("access token after the lockdown", 401, || {
        s.api_status(&t.access)
    })
    .await;
    assert_oauth_error(
        &s.refresh(&app.id, &t.refresh).await,
        400,
        "invalid_grant",
        "refresh after the lockdown",
    );
    // The session ended too: a new authorization starts with signing in.
    let pkce = Pkce::new();
    let resp = s.authorize(&s.request(&app, &pkce), Some(&session)).await;
    assert_eq!(resp.status(), 303);
    assert!(resp.headers()[LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/login?next="));
    s.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_clients_authenticate_with_their_secret_and_only_they_can_sign_in() {
    let upstream = Upstream::start().await;
    // Characters that client_secret_basic must form-encode.
    const SECRET: &str = "s3cret+value:with/odd=chars";
    let hash = hex::encode(ring::digest::digest(
        &ring::digest::SHA256,
        SECRET.as_bytes(),
    ));
    let s = Server::start(
        &upstream,
        &format!(
            "dynamic_registration = false\nclient_metadata_documents = false\n\
             [[oauth.clients]]\nclient_id = \"ops-agent\"\nname = \"Ops Agent\"\n\
             redirect_uris = [\"{APP_CB}\"]\nsecret_sha256 = \"{hash}\"\n"
        ),
    )
    .await;
    // Only the organisation's clients: no registration, no metadata documents.
    let resp = s
        .register(json!({"client_name": "x", "redirect_uris": [APP_CB]}))
        .await;
    assert_eq!(resp.status(), 403);
    let resp = s
        .authorize(
            &[("client_id", "https://clients.example/agent.json".to_owned())].to_vec(),
            None,
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get(LOCATION).is_none());

    let app = App {
        id: "ops-agent".into(),
        redirect_uri: APP_CB.into(),
    };
    let session = s.session().await;
    let consent = s
        .authorize(&s.request(&app, &Pkce::new()), Some(&session))
        .await
        .text()
        .await
        .unwrap();
    assert!(consent.contains("Ops Agent"), "{consent}");
    let exchange = |secret: Option<&'static str>, basic: bool| {
        let pkce = Pkce::new();
        let params = s.request(&app, &pkce);
        let s = &s;
        let session = session.clone();
        async move {
            let code = s.code(&params, &session).await;
            let mut form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", APP_CB.to_owned()),
                ("code_verifier", pkce.verifier.clone()),
            ];
            let mut req = s.http.post(s.url("/token"));
            match (secret, basic) {
                (Some(secret), true) => {
                    // RFC 6749 §2.3.1: both parts form-urlencoded before base64.
                    let enc =
                        |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
                    let pair = format!("{}:{}", enc("ops-agent"), enc(secret));
                    req = req.header(
                        "authorization",
                        format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.encode(pair)
                        ),
                    );
                }
                (secret, _) => {
                    form.push(("client_id", "ops-agent".to_owned()));
                    if let Some(secret) = secret {
                        form.push(("client_secret", secret.to_owned()));
                    }
                }
            }
            let resp = req.form(&form).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = exchange(Some(SECRET), true).await;
    assert_eq!(status, 200, "client_secret_basic: {body}");
    let (status, body) = exchange(Some(SECRET), false).await;
    assert_eq!(status, 200, "client_secret_post: {body}");
    for (bad, basic) in [(Some("wrong"), true), (Some("wrong"), false), (None, false)] {
        let answer = exchange(bad, basic).await;
        assert_oauth_error(
            &answer,
            401,
            "invalid_client",
            "confidential client without its secret",
        );
    }
    s.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_refuses_unsafe_redirect_uris() {
    let upstream = Upstream::start().await;
    let s = Server::start(&upstream, "registrations_per_minute = 100").await;
    for uris in [
        json!(["javascript:alert(1)"]),
        json!(["data:text/html,<script>alert(1)</script>"]),
        json!(["http://app.example/cb"]),
        json!(["https://app.example/cb#fragment"]),
        json!(["https://user:pw@app.example/cb"]),
        json!(["/relative/cb"]),
        json!(["myapp:/cb"]),
        json!([APP_CB, "http://evil.example/cb"]),
        json!([]),
    ] {
        let resp = s
            .register(json!({"client_name": "x", "redirect_uris": uris}))
            .await;
        assert_eq!(resp.status(), 400, "{uris}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_redirect_uri", "{uris}");
    }
    // Confidential or implicit clients are not registered either.
    let resp = s
        .register(json!({"redirect_uris": [APP_CB], "grant_types": ["client_credentials"]}))
        .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client_metadata");
    // Accepted: https, loopback http, private-use schemes with a dot.
    let resp = s
        .register(json!({"redirect_uris": [APP_CB, LOOPBACK_CB, "com.example.app:/cb"]}))
        .await;
    assert_eq!(resp.status(), 201);
    s.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_floods_from_one_address_are_refused() {
    let upstream = Upstream::start().await;
    // Default limits, `[traffic]` ones included: /register is outside the `auth` group, and the
    // per-address limit of `[oauth]` is what stops the flood.
    let s = Server::start_with(&upstream, "").await;
    let register = |http: &reqwest::Client| {
        http.post(s.url("/register"))
            .json(&json!({"redirect_uris": [APP_CB]}))
            .send()
    };
    for i in 0..10 {
        let resp = register(&s.http).await.unwrap();
        assert_eq!(resp.status(), 201, "registration {}", i + 1);
    }
    let resp = register(&s.http).await.unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    // Another address is not held back by this one's flood.
    let neighbour = s
        .proxy
        .client_builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    assert_eq!(register(&neighbour).await.unwrap().status(), 201);
}

/// Client ID Metadata Documents served over HTTPS at `https://localhost:<port>` (listening on
/// 127.0.0.1) with a certificate of `certs`; records every path asked for.
struct Documents {
    base: String,
    port: u16,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Documents {
    async fn start(certs: &Path) -> Self {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::service::TowerToHyperService;
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let chain: Vec<CertificateDer> = CertificateDer::pem_file_iter(certs.join("server.pem"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(certs.join("server.key")).unwrap();
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let base = format!("https://localhost:{port}");
        let asked = Arc::new(Mutex::new(Vec::new()));
        let app = Self::router(&base, asked.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, service) = (acceptor.clone(), TowerToHyperService::new(app.clone()));
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    }
                });
            }
        });
        Self { base, port, asked }
    }

    /// Every document but the one at `/client.json` is refused for one reason, and would be
    /// accepted without it.
    fn router(base: &str, asked: Arc<Mutex<Vec<String>>>) -> Router {
        let doc = |path: &str, extra: Value| {
            let mut doc = json!({
                "client_id": format!("{base}{path}"),
                "client_name": "Document Agent",
                "redirect_uris": [LOOPBACK_CB],
            });
            doc.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            doc.to_string()
        };
        let padding = json!({"padding": "x".repeat(6000)});
        let valid = doc("/client.json", json!({}));
        let big = doc("/big.json", padding.clone());
        let chunked = doc("/chunked.json", padding);
        let mismatched = doc(
            "/other.json",
            json!({"client_id": format!("{base}/client.json")}),
        );
        let slow = doc("/slow.json", json!({}));
        let moved_to = doc("/target.json", json!({}));
        let moved_location = format!("{base}/target.json");
        let json = |body: String| ([(CONTENT_TYPE.as_str(), "application/json")], body);
        Router::new()
            .route("/client.json", get(move || async move { json(valid) }))
            .route("/big.json", get(move || async move { json(big) }))
            .route(
                "/chunked.json",
                get(move || async move {
                    let chunks = chunked
                        .into_bytes()
                        .chunks(1000)
                        .map(|c| Ok::<_, std::io::Error>(axum::body::Bytes::copy_from_slice(c)))
                        .collect::<Vec<_>>();
                    Body::from_stream(futures_util::stream::iter(chunks))
                }),
            )
            .route("/other.json", get(move || async move { json(mismatched) }))
            .route(
                "/slow.json",
                get(move || async move {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    json(slow)
                }),
            )
            .route(
                "/moved.json",
                get(move || async move {
                    let location = [(LOCATION.as_str(), moved_location)];
                    (axum::http::StatusCode::FOUND, location).into_response()
                }),
            )
            .route("/target.json", get(move || async move { json(moved_to) }))
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    asked.lock().unwrap().push(req.uri().path().to_owned());
                    next.run(req)
                },
            ))
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

/// What `/authorize` answered for a document client.
struct Authorized {
    status: u16,
    location: Option<String>,
    body: String,
    pkce: Pkce,
    app: App,
}

impl Authorized {
    fn refused(&self, why: &str, what: &str) {
        assert_eq!(self.status, 400, "{what}: {}", self.body);
        assert!(self.location.is_none(), "{what}");
        assert!(self.body.contains(why), "{what}: {}", self.body);
    }
}

/// The `/authorize` answer for the document client `client_id`.
async fn authorize_document(s: &Server, client_id: &str, session: &str) -> Authorized {
    let app = App {
        id: client_id.to_owned(),
        redirect_uri: "http://127.0.0.1:43210/callback".to_owned(),
    };
    let pkce = Pkce::new();
    let resp = s.authorize(&s.request(&app, &pkce), Some(session)).await;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().unwrap().to_owned());
    Authorized {
        status,
        location,
        body: resp.text().await.unwrap(),
        pkce,
        app,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_metadata_documents_from_private_addresses_are_refused_by_default() {
    let upstream = Upstream::start().await;
    let certs = tempfile::tempdir().unwrap();
    support::gen_certs(certs.path());
    let docs = Documents::start(certs.path()).await;
    let s = Server::start(&upstream, "").await;
    let session = s.session().await;
    for client_id in [
        format!("https://127.0.0.1:{}/client.json", docs.port),
        format!("{}/client.json", docs.base),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://10.0.0.1/client.json".to_owned(),
        "https://[::1]/client.json".to_owned(),
    ] {
        authorize_document(&s, &client_id, &session)
            .await
            .refused("non-public", &client_id);
    }
    assert!(docs.asked().is_empty(), "fetched: {:?}", docs.asked());
    // Not an https URL with a path: not a document at all.
    for client_id in ["https://example.com/", "https://user@example.com/c.json"] {
        authorize_document(&s, client_id, &session)
            .await
            .refused("client_id must be an https URL", client_id);
    }
    s.assert_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_metadata_documents_are_fetched_within_bounds() {
    let upstream = Upstream::start().await;
    // A CA of their own, not the proxy's: only `document_ca_file` makes the documents trusted.
    let certs = tempfile::tempdir().unwrap();
    support::gen_certs(certs.path());
    let docs = Documents::start(certs.path()).await;
    let oauth = format!(
        "allow_private_document_hosts = true\ndocument_ca_file = \"{}\"\n\
         document_timeout_seconds = 1\n",
        certs.path().join("ca.pem").display()
    );
    let s = Server::start(&upstream, &oauth).await;
    let session = s.session().await;

    // A valid document: the consent page names the client as the document does, and the
    // client signs in with its URL as client_id.
    let client_id = format!("{}/client.json", docs.base);
    let check = authorize_document(&s, &client_id, &session).await;
    assert_eq!(check.status, 200, "{}\n{}", check.body, s.proxy.log());
    assert!(
        check
            .body
            .contains("<strong id=\"client\">Document Agent</strong>"),
        "{}",
        check.body
    );
    assert!(check
        .body
        .contains("<strong id=\"redirect-host\">127.0.0.1</strong>"));
    let (to, query) = redirect_of(&s.decide(&check.body, &session, "allow").await);
    assert_eq!(to, check.app.redirect_uri);
    let (status, body) = s.exchange(&check.app, &query["code"], &check.pkce).await;
    assert_eq!(status, 200, "{body}");
    let t = tokens(&body);
    assert_eq!(s.api_status(&t.access).await, 200);
    // Its redirect URIs are the document's: others are shown, not redirected to.
    let mut params = s.request(&check.app, &check.pkce);
    params = with(&params, "redirect_uri", Some("https://evil.example/cb"));
    let resp = s.authorize(&params, Some(&session)).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get(LOCATION).is_none());

    // Each of these would be accepted but for the one thing it does wrong.
    for (path, why) in [
        ("/moved.json", "302, not 200"),
        ("/big.json", "larger than 5120 bytes"),
        ("/chunked.json", "larger than 5120 bytes"),
        ("/other.json", "not the URL it was fetched from"),
        ("/slow.json", "cannot fetch the document"),
    ] {
        let client_id = format!("{}{path}", docs.base);
        let started = Instant::now();
        authorize_document(&s, &client_id, &session)
            .await
            .refused(why, path);
        assert!(started.elapsed() < Duration::from_millis(2900), "{path}");
    }
    let asked = docs.asked();
    assert!(
        !asked.iter().any(|p| p == "/target.json"),
        "redirect followed: {asked:?}"
    );
    for path in [
        "/moved.json",
        "/big.json",
        "/chunked.json",
        "/other.json",
        "/slow.json",
    ] {
        assert!(asked.iter().any(|p| p == path), "{path} fetched: {asked:?}");
    }
    s.assert_alive().await;
}
