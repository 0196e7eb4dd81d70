//! `memory_lock`: advisory node locks for multi-agent coordination. Locks live in node
//! properties (`lockedBy`, `lockExpiresAt`, …: upstream's layout, kept by every backend).

use super::{
    node_summary, success, unknown_operation, Args, ToolCtx, ToolDef, ToolResult, MAX_LIMIT,
};
use crate::mcp::schema::{free_object, integer, object, one_of, string};
use crate::store::{LockOutcome, Node, NodeQuery};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

const DEFAULT_TIMEOUT_MS: u64 = 300_000;
/// One day: a longer advisory lock is almost certainly a mistake.
const MAX_TIMEOUT_MS: i64 = 86_400_000;

pub fn definitions() -> Vec<ToolDef> {
    let properties = json!({
        "operation": one_of(&["acquire", "release", "query_available", "cleanup"], "Lock operation to perform"),
        "node_id": string("Node id (required for acquire, release)"),
        "agent_id": string("Agent id (required for acquire, release)"),
        "timeout_ms": integer(1, MAX_TIMEOUT_MS, "Lock timeout in milliseconds (default 300000 = 5 min)"),
        "type": string("Node type filter for query_available"),
        "filters": free_object("Property equality filters for query_available"),
        "limit": integer(1, MAX_LIMIT as i64, "Maximum nodes for query_available (default 100)"),
    });
    vec![ToolDef {
        name: "memory_lock",
        description: "Locks for multi-agent coordination. Operations: acquire, release, query_available, cleanup. \
acquire succeeds when the node is unlocked, its lock expired, or the same agent holds it.\n\
Examples: acquire(node_id='todo-1', agent_id='worker-1'); query_available(type='todo', filters={status:'pending'}).",
        input_schema: object(properties, &["operation"]),
        handler: |ctx, args| Box::pin(call(ctx, args)),
    }]
}

async fn call(ctx: ToolCtx, args: Args) -> ToolResult {
    let op = args.operation();
    match op {
        "acquire" => {
            let (node_id, agent_id) = (args.require("node_id", op)?, args.require("agent_id", op)?);
            let timeout = args.u64("timeout_ms").unwrap_or(DEFAULT_TIMEOUT_MS);
            let outcome = ctx.store().acquire_lock(node_id, agent_id, timeout).await?;
            lock_result(
                node_id,
                matches!(outcome, LockOutcome::Acquired { .. }),
                outcome,
            )
        }
        "release" => {
            let (node_id, agent_id) = (args.require("node_id", op)?, args.require("agent_id", op)?);
            let outcome = ctx.store().release_lock(node_id, agent_id).await?;
            lock_result(node_id, outcome == LockOutcome::Released, outcome)
        }
        "query_available" => {
            let query = NodeQuery {
                node_types: args
                    .str("type")
                    .map(|t| vec![t.to_string()])
                    .unwrap_or_default(),
                filters: args.object("filters"),
                limit: 0,
                offset: 0,
            };
            let limit = args.u64("limit").unwrap_or(100) as usize;
            let now = Utc::now();
            let nodes: Vec<Value> = ctx
                .store()
                .query_nodes(&query)
                .await?
                .iter()
                .filter(|n| !is_locked(n, now))
                .take(limit)
                .map(node_summary)
                .collect();
            success(json!({ "count": nodes.len(), "nodes": nodes }))
        }
        "cleanup" => success(json!({ "cleaned": ctx.store().cleanup_locks().await? })),
        other => Err(unknown_operation(other)),
    }
}

/// `success` says whether the caller got what it asked for; a lock held by another agent is a
/// normal answer, not an error.
fn lock_result(node_id: &str, succeeded: bool, outcome: LockOutcome) -> ToolResult {
    let mut value = json!({ "nodeId": node_id, "lock": outcome });
    value["success"] = Value::Bool(succeeded);
    Ok(value)
}

/// Whether another agent holds a live lock; an unparsable expiry counts as expired, like the store.
fn is_locked(node: &Node, now: DateTime<Utc>) -> bool {
    let props = &node.properties;
    props.get("lockedBy").and_then(Value::as_str).is_some()
        && props
            .get("lockExpiresAt")
            .and_then(Value::as_str)
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .is_some_and(|at| at > now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(props: Value) -> Node {
        Node {
            id: "n".into(),
            node_type: "todo".into(),
            properties: props.as_object().unwrap().clone(),
            created: String::new(),
            updated: String::new(),
            created_by: None,
            updated_by: None,
            sensitivity: None,
            pii: Vec::new(),
        }
    }

    #[test]
    fn only_live_locks_count() {
        let now = Utc::now();
        let future = (now + chrono::TimeDelta::minutes(5)).to_rfc3339();
        let past = (now - chrono::TimeDelta::minutes(5)).to_rfc3339();
        assert!(is_locked(
            &node(json!({"lockedBy":"a","lockExpiresAt":future})),
            now
        ));
        assert!(!is_locked(
            &node(json!({"lockedBy":"a","lockExpiresAt":past})),
            now
        ));
        assert!(!is_locked(
            &node(json!({"lockedBy":"a","lockExpiresAt":"soon"})),
            now
        ));
        assert!(!is_locked(&node(json!({"title":"free"})), now));
    }
}
