//! Per-user caps on the MCP sessions and pending confirmations every user shares (docs/mcp.md):
//! one user opening sessions or asking for previews without end only ever gives up their own
//! oldest entries, never another user's; a store full of other users' entries refuses.

mod governance_support;

use governance_support::{read, As, Core, DEVELOPER};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// More than the process-wide number of sessions (1024) and of pending confirmations (4096).
const FLOOD_SESSIONS: usize = 1100;
const FLOOD_CONFIRMATIONS: usize = 4200;

const MALLORY: As = As {
    user: "idp|mallory",
    roles: &["developer"],
    clearance: "confidential",
};

/// `initialize` as `user` (signed per request, like the proxy does).
async fn initialize(core: &Core, user: &str) -> (StatusCode, Option<String>, Value) {
    let body = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let token = core.keys.sign(
        "POST",
        "/mcp",
        json!({"sub": user, "roles": ["developer"], "clearance": "confidential"}),
    );
    let response = core
        .client
        .post(format!("{}/mcp", core.base))
        .header(governance_support::HEADER, token)
        .json(&body)
        .send()
        .await
        .expect("send");
    let session = response
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().expect("session").to_owned());
    let (status, body) = read(response).await;
    (status, session, body)
}

async fn ping(core: &Core, who: &As, session: &str) -> StatusCode {
    core.mcp_send(
        who,
        session,
        &json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
    )
    .await
    .0
}

/// `memory_node` arguments deleting node `id`, with `extra` (the confirmation) merged in.
fn delete_args(id: &str, extra: Value) -> Value {
    let mut arguments = json!({"operation": "delete", "id": id});
    for (key, value) in extra.as_object().expect("object") {
        arguments[key] = value.clone();
    }
    arguments
}

#[tokio::test]
async fn one_user_opening_sessions_never_evicts_another_users_session() {
    let core = governance_support::embedded(|_| {}).await;
    let bob = core.mcp_session(&DEVELOPER).await;
    let mut first = None;
    for _ in 0..FLOOD_SESSIONS {
        let (status, session, body) = initialize(&core, MALLORY.user).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        first.get_or_insert(session.expect("session id"));
    }
    assert_eq!(ping(&core, &DEVELOPER, &bob).await, StatusCode::OK);
    let first = first.expect("first");
    assert_eq!(
        ping(&core, &MALLORY, &first).await,
        StatusCode::NOT_FOUND,
        "mallory's own oldest sessions made room"
    );
}

#[tokio::test]
async fn a_user_at_the_session_cap_loses_their_least_recently_used_session() {
    let core =
        governance_support::embedded(|c| c.mcp_sessions_per_user = 2.try_into().expect("non-zero"))
            .await;
    let (a, b) = (
        core.mcp_session(&MALLORY).await,
        core.mcp_session(&MALLORY).await,
    );
    assert_eq!(ping(&core, &MALLORY, &a).await, StatusCode::OK);
    let c = core.mcp_session(&MALLORY).await;
    assert_eq!(ping(&core, &MALLORY, &b).await, StatusCode::NOT_FOUND);
    assert_eq!(ping(&core, &MALLORY, &a).await, StatusCode::OK);
    assert_eq!(ping(&core, &MALLORY, &c).await, StatusCode::OK);
}

#[tokio::test]
async fn a_full_session_store_refuses_new_users_with_503() {
    let core = governance_support::embedded(|c| {
        c.mcp_sessions_per_user = 64.try_into().expect("non-zero")
    })
    .await;
    let bob = core.mcp_session(&DEVELOPER).await;
    // 16 users × 64 sessions fill the 1024 slots (bob holds one, so the last user gets 63).
    for user in 0..16 {
        for _ in 0..64 {
            let (status, _, body) = initialize(&core, &format!("idp|user-{user}")).await;
            if status != StatusCode::OK {
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
                assert_eq!(user, 15, "only the last slot is missing");
            }
        }
    }
    let (status, session, body) = initialize(&core, "idp|carol").await;
    assert_eq!(
        (
            status,
            session,
            body["error"]["code"].clone(),
            body["id"].clone()
        ),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            json!(-32002),
            json!(0)
        ),
        "{body}"
    );
    assert!(body["error"]["message"]
        .as_str()
        .expect("message")
        .contains("Too many open MCP sessions"));
    assert_eq!(ping(&core, &DEVELOPER, &bob).await, StatusCode::OK);
}

#[tokio::test]
async fn one_user_asking_for_previews_never_evicts_another_users_confirmation() {
    let core = governance_support::embedded(|_| {}).await;
    let bobs = core
        .create(&DEVELOPER, "memory", "bobs-node", json!({"title": "b"}))
        .await;
    let mallorys = core
        .create(&MALLORY, "memory", "mallorys-node", json!({"title": "m"}))
        .await;
    let preview = core
        .tool(&DEVELOPER, "memory_node", delete_args(&bobs, json!({})))
        .await;
    let confirmation = preview["confirmationId"].as_str().expect("id").to_owned();

    let session = core.mcp_session(&MALLORY).await;
    let previews: Vec<Value> = (0..100)
        .map(|i| {
            json!({"jsonrpc":"2.0","id":i,"method":"tools/call",
                   "params": {"name": "memory_node", "arguments": delete_args(&mallorys, json!({}))}})
        })
        .collect();
    for _ in 0..FLOOD_CONFIRMATIONS / 100 {
        let (status, replies) = core
            .mcp_send(&MALLORY, &session, &Value::Array(previews.clone()))
            .await;
        assert_eq!(status, StatusCode::OK, "{replies}");
        assert_eq!(
            replies[99]["result"]["structuredContent"]["needsConfirmation"], true,
            "{}",
            replies[99]
        );
    }

    let confirmed = core
        .tool(
            &DEVELOPER,
            "memory_node",
            delete_args(
                &bobs,
                json!({"confirm": true, "confirmationId": confirmation}),
            ),
        )
        .await;
    assert_eq!(confirmed["isError"], false, "{confirmed}");
    let (status, _) = core.get(&format!("/api/nodes/{bobs}"), &DEVELOPER).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "bob's confirmed delete ran");
}
