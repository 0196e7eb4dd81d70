//! Conformance: advisory node locks.

use super::{add, assert_invalid, assert_not_found, assert_rfc3339, node, unique};
use mimir_core::store::{GraphStore, LockOutcome};
use serde_json::{json, Value};
use std::time::Duration;

// ---- locks ----

fn acquired_version(outcome: &LockOutcome) -> i64 {
    match outcome {
        LockOutcome::Acquired {
            version,
            expires_at,
        } => {
            assert_rfc3339(expires_at);
            *version
        }
        other => panic!("expected Acquired, got {other:?}"),
    }
}

/// Acquire, contention, re-entry by the holder, release; fields stored on the node.
pub async fn lock_lifecycle(store: &dyn GraphStore) {
    let t = unique("lock");
    let id = add(store, &t, None, json!({"title": "task"})).await.id;

    let first = store
        .acquire_lock(&id, "agent-1", 60_000)
        .await
        .expect("acquire");
    assert_eq!(acquired_version(&first), 1);
    let LockOutcome::Acquired { expires_at, .. } = first else {
        unreachable!()
    };
    let locked = node(store, &id).await.properties;
    assert_eq!(locked.get("lockedBy"), Some(&json!("agent-1")));
    assert_eq!(locked.get("lockExpiresAt"), Some(&json!(expires_at)));
    assert_rfc3339(
        locked
            .get("lockedAt")
            .and_then(Value::as_str)
            .expect("lockedAt"),
    );
    assert_eq!(locked.get("version"), Some(&json!(1)));
    assert_eq!(
        locked.get("title"),
        Some(&json!("task")),
        "other properties kept"
    );

    let contended = store
        .acquire_lock(&id, "agent-2", 60_000)
        .await
        .expect("acquire");
    assert_eq!(
        contended,
        LockOutcome::HeldBy {
            agent_id: "agent-1".into(),
            expires_at
        }
    );
    let again = store
        .acquire_lock(&id, "agent-1", 60_000)
        .await
        .expect("re-acquire");
    assert_eq!(acquired_version(&again), 2, "the holder may re-acquire");

    assert_eq!(
        store.release_lock(&id, "agent-2").await.expect("release"),
        LockOutcome::NotHeld
    );
    assert_eq!(
        store.release_lock(&id, "agent-1").await.expect("release"),
        LockOutcome::Released
    );
    let released = node(store, &id).await.properties;
    assert!(
        !released.contains_key("lockedBy") && !released.contains_key("lockExpiresAt"),
        "{released:?}"
    );
    assert_eq!(
        released.get("version"),
        Some(&json!(2)),
        "version survives release"
    );
    assert_eq!(
        store.release_lock(&id, "agent-1").await.expect("release"),
        LockOutcome::NotHeld
    );
    assert_eq!(
        acquired_version(
            &store
                .acquire_lock(&id, "agent-2", 60_000)
                .await
                .expect("acquire")
        ),
        3
    );

    let missing = format!("{t}-missing");
    assert_not_found(
        store.acquire_lock(&missing, "agent-1", 1000).await,
        "lock of a missing node",
    );
    assert_not_found(
        store.release_lock(&missing, "agent-1").await,
        "release of a missing node",
    );
    assert_invalid(store.acquire_lock(&id, "", 1000).await, "empty agent id");
    assert_invalid(store.acquire_lock(&id, "agent-2", 0).await, "zero timeout");
}

/// An expired lock can be taken by anyone; cleanup removes expired locks only.
pub async fn lock_expiry_and_cleanup(store: &dyn GraphStore) {
    let t = unique("expiry");
    let taken = add(store, &t, None, json!({})).await.id;
    let stale = add(store, &t, None, json!({})).await.id;
    let live = add(store, &t, None, json!({})).await.id;

    store
        .acquire_lock(&taken, "agent-1", 1)
        .await
        .expect("acquire");
    store
        .acquire_lock(&stale, "agent-1", 1)
        .await
        .expect("acquire");
    store
        .acquire_lock(&live, "agent-1", 60_000)
        .await
        .expect("acquire");
    tokio::time::sleep(Duration::from_millis(30)).await;

    let outcome = store
        .acquire_lock(&taken, "agent-2", 60_000)
        .await
        .expect("acquire");
    assert_eq!(acquired_version(&outcome), 2, "an expired lock is free");

    assert!(store.cleanup_locks().await.expect("cleanup") >= 1);
    let stale_props = node(store, &stale).await.properties;
    assert!(
        !stale_props.contains_key("lockedBy") && !stale_props.contains_key("lockExpiresAt"),
        "{stale_props:?}"
    );
    assert_eq!(
        node(store, &live).await.properties.get("lockedBy"),
        Some(&json!("agent-1"))
    );
    assert_eq!(
        node(store, &taken).await.properties.get("lockedBy"),
        Some(&json!("agent-2"))
    );
}
