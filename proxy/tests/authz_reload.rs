//! Hot reload: a good new policy replaces the old one, a bad one is refused (old one stays) with
//! the file, line and field in the event; a remote RBAC document is fetched with the auth header
//! and re-fetched conditionally (ETag); plain http is refused unless allowed.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use mimir_proxy::authz::config::{AuthzConfig, RbacSource, Sources};
use mimir_proxy::authz::reload::{ReloadEvent, ReloadHook, Reloader, Trigger};
use mimir_proxy::authz::source::Fetcher;
use mimir_proxy::authz::{loader, Authorizer};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RBAC: &str = r#"{"version":"1","claimPath":"roles","roleMappings":{
  "reader":{"permissions":["nodes:read"]}}}"#;

const ROUTES: &str = "[[rule]]\nname = \"read\"\nmethods = [\"GET\"]\npath = \"/api/nodes/*\"\nall_of = [\"nodes:read\"]\n";

#[derive(Default)]
struct Recorder(Mutex<Vec<ReloadEvent>>);

impl ReloadHook for Recorder {
    fn policy_reload(&self, event: &ReloadEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

fn sources(rbac: RbacSource, routes: PathBuf) -> Sources {
    Sources {
        rbac,
        routes,
        auth_header: None,
        poll_interval: Duration::from_secs(60),
        timeout: Duration::from_secs(5),
        ca: None,
        allow_http: false,
    }
}

async fn start(sources: Sources) -> (Arc<Authorizer>, Reloader, Arc<Recorder>) {
    let fetcher = Fetcher::new(&sources).unwrap();
    let snapshot = loader::load(&sources, &fetcher).await.unwrap();
    let recorder = Arc::new(Recorder::default());
    let reloader = Reloader::new(sources, fetcher, snapshot).with_hook(recorder.clone());
    (reloader.authorizer(), reloader, recorder)
}

fn can(authz: &Authorizer, role: &str, method: &str, path: &str) -> bool {
    authz.decide(&[role.to_owned()], method, path, None).allowed
}

#[tokio::test]
async fn file_reload_applies_good_and_refuses_bad_policies() {
    let dir = tempfile::tempdir().unwrap();
    let rbac = dir.path().join("rbac.json");
    let routes = dir.path().join("routes.toml");
    std::fs::write(&rbac, RBAC).unwrap();
    std::fs::write(&routes, ROUTES).unwrap();
    let (authz, reloader, recorder) =
        start(sources(RbacSource::File(rbac.clone()), routes.clone())).await;
    assert!(can(&authz, "reader", "GET", "/api/nodes/n1"));
    assert!(!can(&authz, "reader", "DELETE", "/api/nodes/n1"));

    // A good change is applied.
    std::fs::write(
        &routes,
        format!("{ROUTES}\n[[rule]]\nname = \"delete\"\nmethods = [\"DELETE\"]\npath = \"/api/nodes/*\"\nall_of = [\"nodes:read\"]\n"),
    )
    .unwrap();
    let event = reloader.reload(Trigger::FileChange).await.unwrap();
    assert_eq!(event.outcome.as_ref().unwrap().rules, 2);
    assert!(can(&authz, "reader", "DELETE", "/api/nodes/n1"));

    // A bad RBAC file is refused with file, line and field; the current policy stays.
    std::fs::write(&rbac, RBAC.replace("\"nodes:read\"", "\"nodes:rea d\"")).unwrap();
    let event = reloader.reload(Trigger::Signal).await.unwrap();
    let error = event.outcome.unwrap_err();
    assert!(
        error.starts_with(&format!(
            "{}:2:41: roleMappings.reader.permissions[0]: unknown permission syntax",
            rbac.display()
        )),
        "{error}"
    );
    assert!(can(&authz, "reader", "DELETE", "/api/nodes/n1"));

    // A duplicate role and bad routes are reported together.
    std::fs::write(
        &rbac,
        RBAC.replace(
            "\"reader\":{",
            "\"reader\":{\"permissions\":[]},\n  \"reader\":{",
        ),
    )
    .unwrap();
    std::fs::write(
        &routes,
        "[[rule]]\nname = \"x\"\npath = \"/a\"\nall_of = [\"bad perm\"]\n",
    )
    .unwrap();
    let error = reloader
        .reload(Trigger::FileChange)
        .await
        .unwrap()
        .outcome
        .unwrap_err();
    let lines: Vec<&str> = error.lines().collect();
    assert_eq!(lines.len(), 2, "{error}");
    assert!(
        lines[0].contains("roleMappings: duplicate key \"reader\""),
        "{error}"
    );
    assert!(
        lines[1].contains(
            "routes.toml:4:11: rule[0].all_of[0]: unknown permission syntax \"bad perm\""
        ),
        "{error}"
    );
    assert!(can(&authz, "reader", "DELETE", "/api/nodes/n1"));

    // Invalid JSON.
    std::fs::write(&rbac, "{\"version\": \"1\",\n").unwrap();
    std::fs::write(&routes, ROUTES).unwrap();
    let error = reloader
        .reload(Trigger::FileChange)
        .await
        .unwrap()
        .outcome
        .unwrap_err();
    assert!(
        error.starts_with(&format!(
            "{}:2:0: EOF while parsing a value",
            rbac.display()
        )),
        "{error}"
    );

    // Every attempt reached the audit hook.
    let events = recorder.0.lock().unwrap();
    let outcomes: Vec<bool> = events.iter().map(|e| e.outcome.is_ok()).collect();
    assert_eq!(outcomes, [true, false, false, false]);
    assert_eq!(events[1].trigger, Trigger::Signal);
}

/// (Authorization, If-None-Match) headers of one request.
type Seen = (Option<String>, Option<String>);

#[derive(Clone, Default)]
struct Remote {
    body: Arc<Mutex<String>>,
    /// Headers of every request.
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn serve_rbac(State(remote): State<Remote>, headers: HeaderMap) -> axum::response::Response {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    remote
        .seen
        .lock()
        .unwrap()
        .push((header("authorization"), header("if-none-match")));
    let body = remote.body.lock().unwrap().clone();
    let etag = format!("\"{}\"", body.len());
    if header("if-none-match").as_deref() == Some(etag.as_str()) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    ([("etag", etag)], body).into_response()
}

#[tokio::test]
async fn remote_rbac_with_auth_header_and_etag() {
    let remote = Remote::default();
    *remote.body.lock().unwrap() = RBAC.to_owned();
    let app = Router::new()
        .route("/rbac.json", get(serve_rbac))
        .with_state(remote.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/rbac.json?token=secret",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let routes = dir.path().join("routes.toml");
    std::fs::write(&routes, ROUTES).unwrap();
    let mut src = sources(RbacSource::Url(url.clone()), routes);
    src.auth_header = Some("Bearer rbac-fetch-token".into());

    // https only, unless allowed.
    let refused = loader::load(&src, &Fetcher::new(&src).unwrap())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(refused.contains("rbac.json?redacted"), "{refused}");
    assert!(!refused.contains("secret"), "{refused}");
    src.allow_http = true;

    let (authz, reloader, recorder) = start(src).await;
    assert!(can(&authz, "reader", "GET", "/api/nodes/n1"));
    // Unchanged: 304, no event.
    assert!(reloader.reload(Trigger::RemotePoll).await.is_none());
    // Changed: applied.
    *remote.body.lock().unwrap() = RBAC.replace("reader", "auditor");
    let event = reloader.reload(Trigger::RemotePoll).await.unwrap();
    assert!(event.outcome.is_ok());
    assert_eq!(event.rbac_source, url.replace("token=secret", "redacted"));
    assert!(!can(&authz, "reader", "GET", "/api/nodes/n1"));
    assert!(can(&authz, "auditor", "GET", "/api/nodes/n1"));
    // A bad version is refused once, then not fetched again until it changes.
    *remote.body.lock().unwrap() = "{\"version\": 1}".into();
    assert!(reloader
        .reload(Trigger::RemotePoll)
        .await
        .unwrap()
        .outcome
        .is_err());
    assert!(reloader.reload(Trigger::RemotePoll).await.is_none());
    assert!(can(&authz, "auditor", "GET", "/api/nodes/n1"));

    let seen = remote.seen.lock().unwrap();
    assert!(seen
        .iter()
        .all(|(auth, _)| auth.as_deref() == Some("Bearer rbac-fetch-token")));
    let conditional: Vec<bool> = seen.iter().map(|(_, etag)| etag.is_some()).collect();
    // Startup load, then four polls, all conditional.
    assert_eq!(conditional, [false, true, true, true, true]);
    assert_eq!(recorder.0.lock().unwrap().len(), 2);
}

#[test]
fn environment_overrides_the_rbac_source() {
    let env: HashMap<String, String> = [(
        "MIMIR_RBAC_CONFIG".to_owned(),
        "https://policy.example/rbac.json".to_owned(),
    )]
    .into();
    let s = Sources::from_config(&AuthzConfig::default(), &env).unwrap();
    assert_eq!(
        s.rbac,
        RbacSource::Url("https://policy.example/rbac.json".into())
    );
    assert!(!s.allow_http);
}
