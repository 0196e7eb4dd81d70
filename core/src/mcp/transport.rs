//! Streamable HTTP: JSON-RPC over `POST /mcp` answered with plain JSON (never SSE), sessions by
//! `Mcp-Session-Id`, `DELETE /mcp` to end one. HTTP-level refusals carry a JSON-RPC error body
//! with a null id.

use super::dispatch::{self, Caller, SUPPORTED_VERSIONS};
use super::jsonrpc::{
    self, Message, RpcError, INVALID_REQUEST, PARSE_ERROR, SERVER_BUSY, SESSION_NOT_FOUND,
};
use super::quota::Full;
use crate::identity;
use crate::state::{AppState, Scoped};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

const SESSION_HEADER: &str = "mcp-session-id";
const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
/// Most messages in one batch; each may be a tool call.
const MAX_BATCH: usize = 100;

pub async fn post(
    Scoped(state): Scoped,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Some(refusal) = check_headers(&state, &headers) {
        return refusal.into_response();
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                INVALID_REQUEST,
                "Request body too large",
            );
        }
        Err(_) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                INVALID_REQUEST,
                "Could not read the request body",
            )
        }
    };
    let body = match read(&body) {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    let actor = identity::actor(&headers);
    match body {
        Body::Batch(items) => batch(state, &headers, actor, items).await,
        Body::One(single) => one(state, &headers, actor, single).await,
    }
}

/// The JSON-RPC messages of a POST body, before any of them is classified.
pub(super) enum Body {
    One(Value),
    /// At least one and at most [`MAX_BATCH`] messages.
    Batch(Vec<Value>),
}

/// The body as JSON: one message, or a batch of a size the core serves.
pub(super) fn read(body: &[u8]) -> Result<Body, Refusal> {
    let Ok(message) = serde_json::from_slice::<Value>(body) else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            PARSE_ERROR,
            "Parse error: the body is not valid JSON",
        ));
    };
    match message {
        Value::Array(items) if items.is_empty() => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            INVALID_REQUEST,
            "Invalid Request: empty batch",
        )),
        Value::Array(items) if items.len() > MAX_BATCH => {
            let message = format!("Invalid Request: a batch may hold at most {MAX_BATCH} messages");
            Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                INVALID_REQUEST,
                message,
            ))
        }
        Value::Array(items) => Ok(Body::Batch(items)),
        single => Ok(Body::One(single)),
    }
}

pub async fn delete(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refusal) = check_origin(&state, &headers) {
        return refusal.into_response();
    }
    let Some(id) = headers.get(SESSION_HEADER) else {
        return missing_session().into_response();
    };
    let actor = identity::actor(&headers);
    let id = id.to_str().unwrap_or_default();
    if state.mcp.sessions.remove(id, actor.as_deref()) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        session_not_found().into_response()
    }
}

/// We never push server-initiated messages, so there is no SSE stream to open.
pub async fn get() -> Response {
    let body = jsonrpc::failure(
        Value::Null,
        RpcError::new(
            INVALID_REQUEST,
            "GET is not supported: POST JSON-RPC messages",
        ),
    );
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "POST, DELETE")],
        Json(body),
    )
        .into_response()
}

async fn one(
    state: AppState,
    headers: &HeaderMap,
    actor: Option<String>,
    value: Value,
) -> Response {
    let message = match jsonrpc::classify(value) {
        Message::Invalid(error) => return (StatusCode::BAD_REQUEST, Json(error)).into_response(),
        Message::Request(request) if request.method == "initialize" => {
            return match dispatch::initialize(&request) {
                Ok((result, version)) => match state.mcp.sessions.create(version, actor) {
                    Ok(id) => {
                        let body = jsonrpc::success(request.id, result);
                        (StatusCode::OK, [(SESSION_HEADER, id)], Json(body)).into_response()
                    }
                    Err(Full) => {
                        let message = "Too many open MCP sessions on this server: try again later";
                        let error = RpcError::new(SERVER_BUSY, message);
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            Json(jsonrpc::failure(request.id, error)),
                        )
                            .into_response()
                    }
                },
                Err(error) => (
                    StatusCode::BAD_REQUEST,
                    Json(jsonrpc::failure(request.id, error)),
                )
                    .into_response(),
            };
        }
        message => message,
    };
    let protocol_version = match session(&state, headers, actor.as_deref()) {
        Ok(version) => version,
        Err(refusal) => return refusal.into_response(),
    };
    match message {
        Message::Request(request) => {
            let caller = Caller {
                state,
                actor,
                protocol_version,
            };
            Json(dispatch::handle(request, &caller).await).into_response()
        }
        _ => StatusCode::ACCEPTED.into_response(),
    }
}

/// Messages run in order; notifications and responses get no entry in the reply.
async fn batch(
    state: AppState,
    headers: &HeaderMap,
    actor: Option<String>,
    items: Vec<Value>,
) -> Response {
    let protocol_version = match session(&state, headers, actor.as_deref()) {
        Ok(version) => version,
        Err(refusal) => return refusal.into_response(),
    };
    let caller = Caller {
        state,
        actor,
        protocol_version,
    };
    let mut replies = Vec::new();
    for item in items {
        match jsonrpc::classify(item) {
            Message::Invalid(error) => replies.push(error),
            Message::Request(request) => replies.push(dispatch::handle(request, &caller).await),
            Message::NoReply => {}
        }
    }
    if replies.is_empty() {
        StatusCode::ACCEPTED.into_response()
    } else {
        Json(Value::Array(replies)).into_response()
    }
}

/// The negotiated protocol version of the caller's live session.
fn session(
    state: &AppState,
    headers: &HeaderMap,
    actor: Option<&str>,
) -> Result<&'static str, Refusal> {
    if let Some(version) = headers.get(PROTOCOL_VERSION_HEADER) {
        let version = version.to_str().unwrap_or_default();
        if !SUPPORTED_VERSIONS.contains(&version) {
            let message = format!("Unsupported MCP-Protocol-Version: {version}");
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                INVALID_REQUEST,
                message,
            ));
        }
    }
    let id = headers.get(SESSION_HEADER).ok_or_else(missing_session)?;
    let id = id.to_str().unwrap_or_default();
    state
        .mcp
        .sessions
        .touch(id, actor)
        .ok_or_else(session_not_found)
}

/// Origin, Content-Type and Accept of a POST.
fn check_headers(state: &AppState, headers: &HeaderMap) -> Option<Refusal> {
    if let Some(refusal) = check_origin(state, headers) {
        return Some(refusal);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !media_type(content_type).eq_ignore_ascii_case("application/json") {
        let message = "Content-Type must be application/json";
        return Some(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            INVALID_REQUEST,
            message,
        ));
    }
    if let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        let json_ok = accept.split(',').map(media_type).any(|m| {
            ["application/json", "application/*", "*/*"]
                .iter()
                .any(|ok| m.eq_ignore_ascii_case(ok))
        });
        if !json_ok {
            let message = "Accept must allow application/json";
            return Some(Refusal::new(
                StatusCode::NOT_ACCEPTABLE,
                INVALID_REQUEST,
                message,
            ));
        }
    }
    None
}

fn check_origin(state: &AppState, headers: &HeaderMap) -> Option<Refusal> {
    let origin = headers.get(header::ORIGIN)?;
    let allowed = origin.to_str().is_ok_and(|o| state.mcp.origins.allows(o));
    (!allowed).then(|| {
        Refusal::new(
            StatusCode::FORBIDDEN,
            INVALID_REQUEST,
            "Forbidden: origin not allowed",
        )
    })
}

/// `type/subtype` without parameters.
fn media_type(value: &str) -> &str {
    value.split(';').next().unwrap_or_default().trim()
}

fn missing_session() -> Refusal {
    let message = "Bad Request: Mcp-Session-Id header is required (send initialize first)";
    Refusal::new(StatusCode::BAD_REQUEST, INVALID_REQUEST, message)
}

fn session_not_found() -> Refusal {
    let message = "Session not found or expired: send initialize to start a new one";
    Refusal::new(StatusCode::NOT_FOUND, SESSION_NOT_FOUND, message)
}

fn refuse(status: StatusCode, code: i64, message: &str) -> Response {
    Refusal::new(status, code, message).into_response()
}

/// An HTTP-level refusal: its status and a JSON-RPC error with a null id.
pub(super) struct Refusal {
    status: StatusCode,
    error: RpcError,
}

impl Refusal {
    fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        Self {
            status,
            error: RpcError::new(code, message),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, Json(jsonrpc::failure(Value::Null, self.error))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::testing;
    use axum::http::{HeaderName, HeaderValue};
    use serde_json::json;

    struct Reply {
        status: StatusCode,
        headers: HeaderMap,
        body: Value,
    }

    async fn reply(response: Response) -> Reply {
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    fn header_map(headers: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in headers {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    async fn send(state: &AppState, headers: &[(&str, &str)], body: &str) -> Reply {
        reply(
            post(
                Scoped(state.clone()),
                header_map(headers),
                Ok(Bytes::from(body.to_string())),
            )
            .await,
        )
        .await
    }

    async fn initialize(state: &AppState, headers: &[(&str, &str)]) -> String {
        let body = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        let r = send(state, headers, body).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["result"]["protocolVersion"], "2025-03-26");
        r.headers[SESSION_HEADER].to_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn initialize_opens_distinct_sessions_that_requests_must_name() {
        let t = testing::state(vec![]);
        let (a, b) = (
            initialize(&t.state, &[]).await,
            initialize(&t.state, &[]).await,
        );
        assert_ne!(a, b);
        let ping = r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#;
        let r = send(&t.state, &[(SESSION_HEADER, &a)], ping).await;
        assert_eq!(
            (r.status, r.body["id"].clone(), r.body["result"].clone()),
            (StatusCode::OK, json!("p"), json!({}))
        );
        assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");

        let r = send(&t.state, &[], ping).await;
        assert_eq!(
            (r.status, r.body["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!(INVALID_REQUEST))
        );
        let r = send(&t.state, &[(SESSION_HEADER, "feedface")], ping).await;
        assert_eq!(
            (r.status, r.body["error"]["code"].clone()),
            (StatusCode::NOT_FOUND, json!(SESSION_NOT_FOUND))
        );
        let r = send(
            &t.state,
            &[
                (SESSION_HEADER, &a),
                (PROTOCOL_VERSION_HEADER, "1999-01-01"),
            ],
            ping,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn sessions_belong_to_the_identity_that_opened_them() {
        let t = testing::state(vec![]);
        let id = initialize(&t.state, &[("x-user-id", "alice")]).await;
        let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        assert_eq!(
            send(
                &t.state,
                &[(SESSION_HEADER, &id), ("x-user-id", "alice")],
                ping
            )
            .await
            .status,
            StatusCode::OK
        );
        assert_eq!(
            send(
                &t.state,
                &[(SESSION_HEADER, &id), ("x-user-id", "bob")],
                ping
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn notifications_get_202_and_no_body() {
        let t = testing::state(vec![]);
        let id = initialize(&t.state, &[]).await;
        let r = send(
            &t.state,
            &[(SESSION_HEADER, &id)],
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        )
        .await;
        assert_eq!((r.status, r.body), (StatusCode::ACCEPTED, Value::Null));
        let r = send(
            &t.state,
            &[(SESSION_HEADER, &id)],
            r#"[{"jsonrpc":"2.0","id":5,"result":{}}]"#,
        )
        .await;
        assert_eq!((r.status, r.body), (StatusCode::ACCEPTED, Value::Null));
    }

    #[tokio::test]
    async fn batches_answer_each_request_in_order() {
        let t = testing::state(vec![]);
        let id = initialize(&t.state, &[]).await;
        let batch = json!([
            {"jsonrpc":"2.0","id":1,"method":"ping"},
            {"jsonrpc":"2.0","method":"notifications/initialized"},
            {"jsonrpc":"2.0","id":2,"method":"tools/list"},
            5,
            {"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-03-26"}},
            {"jsonrpc":"2.0","id":4,"method":"nope"},
            {"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"memory_node","arguments":{"operation":"add","type":"memory","properties":{"title":"t"}}}}
        ]);
        let r = send(&t.state, &[(SESSION_HEADER, &id)], &batch.to_string()).await;
        assert_eq!(r.status, StatusCode::OK);
        let replies = r.body.as_array().unwrap();
        let ids: Vec<&Value> = replies.iter().map(|r| &r["id"]).collect();
        assert_eq!(
            ids,
            [
                &json!(1),
                &json!(2),
                &Value::Null,
                &json!(3),
                &json!(4),
                &json!(5)
            ]
        );
        assert_eq!(
            replies[1]["result"]["tools"].as_array().unwrap().len(),
            crate::mcp::TOOL_NAMES.len()
        );
        assert_eq!(replies[2]["error"]["code"], INVALID_REQUEST);
        assert_eq!(replies[3]["error"]["code"], INVALID_REQUEST);
        assert_eq!(replies[4]["error"]["code"], jsonrpc::METHOD_NOT_FOUND);
        // 2025-03-26 session: text content only.
        assert!(replies[5]["result"].get("structuredContent").is_none());
        assert!(replies[5]["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("\"title\": \"t\""));
    }

    #[tokio::test]
    async fn malformed_bodies_and_batches_are_refused() {
        let t = testing::state(vec![]);
        let id = initialize(&t.state, &[]).await;
        let r = send(&t.state, &[(SESSION_HEADER, &id)], "{not json").await;
        assert_eq!(
            (
                r.status,
                r.body["error"]["code"].clone(),
                r.body["id"].clone()
            ),
            (StatusCode::BAD_REQUEST, json!(PARSE_ERROR), Value::Null)
        );
        let r = send(&t.state, &[(SESSION_HEADER, &id)], "[]").await;
        assert_eq!(
            (r.status, r.body["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!(INVALID_REQUEST))
        );
        let too_many = Value::Array(vec![
            json!({"jsonrpc":"2.0","id":1,"method":"ping"});
            MAX_BATCH + 1
        ]);
        assert_eq!(
            send(&t.state, &[(SESSION_HEADER, &id)], &too_many.to_string())
                .await
                .status,
            StatusCode::BAD_REQUEST
        );
        let r = send(
            &t.state,
            &[(SESSION_HEADER, &id)],
            r#"{"jsonrpc":"2.0","id":1}"#,
        )
        .await;
        assert_eq!(
            (r.status, r.body["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!(INVALID_REQUEST))
        );
    }

    #[tokio::test]
    async fn headers_are_checked() {
        let t = testing::state(vec![]);
        let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        assert_eq!(
            send(&t.state, &[("content-type", "text/plain")], ping)
                .await
                .status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            send(&t.state, &[("accept", "text/html")], ping)
                .await
                .status,
            StatusCode::NOT_ACCEPTABLE
        );
        let r = send(&t.state, &[("origin", "http://evil.example")], ping).await;
        assert_eq!(
            (r.status, r.body["error"]["code"].clone()),
            (StatusCode::FORBIDDEN, json!(INVALID_REQUEST))
        );
        let id = initialize(
            &t.state,
            &[
                ("origin", "http://localhost:5173"),
                ("accept", "application/json, text/event-stream"),
            ],
        )
        .await;
        assert_eq!(
            send(
                &t.state,
                &[
                    (SESSION_HEADER, &id),
                    ("content-type", "application/json; charset=utf-8")
                ],
                ping
            )
            .await
            .status,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn delete_ends_a_session_and_get_is_not_allowed() {
        let t = testing::state(vec![]);
        let id = initialize(&t.state, &[]).await;
        let delete_with = |headers: HeaderMap| delete(State(t.state.clone()), headers);
        assert_eq!(
            delete_with(header_map(&[])).await.status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            delete_with(header_map(&[(SESSION_HEADER, &id)]))
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            delete_with(header_map(&[(SESSION_HEADER, &id)]))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        assert_eq!(
            send(&t.state, &[(SESSION_HEADER, &id)], ping).await.status,
            StatusCode::NOT_FOUND
        );
        let r = reply(get().await).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers[header::ALLOW], "POST, DELETE");
    }
}
