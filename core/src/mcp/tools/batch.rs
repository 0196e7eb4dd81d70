//! `memory_batch`: many node or edge writes as ONE transaction (all or nothing). Deletes need
//! two-step confirmation.

use super::{
    node_summary, success, unknown_operation, Args, ToolCtx, ToolDef, ToolError, ToolResult,
};
use crate::mcp::schema::{array, confirmation_properties, free_object, object, one_of, string};
use crate::store::properties::flatten;
use crate::store::{NewEdge, NewNode, WriteOp};
use serde_json::{json, Value};

const NAME: &str = "memory_batch";
/// Most items per call: one transaction should stay short.
const MAX_ITEMS: usize = 1000;

pub fn definitions() -> Vec<ToolDef> {
    let node = object(
        json!({
            "type": string("Node type"),
            "id": string("Optional node id"),
            "properties": free_object("Node properties (nested objects are flattened)"),
        }),
        &["type"],
    );
    let update = object(
        json!({ "id": string("Node id"), "properties": free_object("Properties to merge") }),
        &["id", "properties"],
    );
    let edge = object(
        json!({
            "source": string("Source node id"),
            "target": string("Target node id"),
            "type": string("Edge type"),
            "properties": free_object("Edge properties"),
        }),
        &["source", "target", "type"],
    );
    let mut properties = json!({
        "operation": one_of(&["add_nodes", "update_nodes", "delete_nodes", "add_edges", "delete_edges"], "Batch operation to perform"),
        "nodes": array(node, MAX_ITEMS, "Nodes for add_nodes: [{type, properties, id?}]"),
        "updates": array(update, MAX_ITEMS, "Updates for update_nodes: [{id, properties}]"),
        "ids": array(string("id"), MAX_ITEMS, "Node ids for delete_nodes, edge ids for delete_edges"),
        "edges": array(edge, MAX_ITEMS, "Edges for add_edges: [{source, target, type, properties}]"),
    });
    confirmation_properties(&mut properties);
    vec![ToolDef {
        name: NAME,
        description: "Bulk node/edge writes in one transaction (all succeed or none is written). Operations: add_nodes, \
update_nodes, delete_nodes, add_edges, delete_edges. Deletes need two-step confirmation.\n\
Example: add_nodes(nodes=[{type:'todo', properties:{title:'A'}}, {type:'todo', properties:{title:'B'}}]).",
        input_schema: object(properties, &["operation"]),
        handler: |ctx, args| Box::pin(call(ctx, args)),
    }]
}

async fn call(ctx: ToolCtx, args: Args) -> ToolResult {
    let op = args.operation();
    let list = |key: &str| -> Result<Vec<Args>, ToolError> {
        let items = args.items(key);
        if items.is_empty() {
            return Err(ToolError::Invalid(format!(
                "'{key}' must list at least one item for operation '{op}'"
            )));
        }
        Ok(items.iter().map(Args::of).collect())
    };
    let ops: Vec<WriteOp> = match op {
        "add_nodes" => list("nodes")?
            .iter()
            .map(|n| {
                WriteOp::AddNode(NewNode {
                    id: n.str("id").map(str::to_string),
                    node_type: n.str("type").unwrap_or_default().to_string(),
                    properties: flatten(n.object("properties")),
                })
            })
            .collect(),
        "update_nodes" => list("updates")?
            .iter()
            .map(|u| WriteOp::UpdateNode {
                id: u.str("id").unwrap_or_default().to_string(),
                properties: flatten(u.object("properties")),
            })
            .collect(),
        "add_edges" => list("edges")?
            .iter()
            .map(|e| {
                WriteOp::AddEdge(NewEdge {
                    source: e.str("source").unwrap_or_default().to_string(),
                    target: e.str("target").unwrap_or_default().to_string(),
                    edge_type: e.str("type").unwrap_or_default().to_string(),
                    properties: flatten(e.object("properties")),
                })
            })
            .collect(),
        "delete_nodes" | "delete_edges" => return delete(&ctx, &args, op).await,
        other => return Err(unknown_operation(other)),
    };
    let results = ctx.apply(ops).await?;
    success(json!({ "operation": op, "count": results.len(), "results": results }))
}

async fn delete(ctx: &ToolCtx, args: &Args, op: &str) -> ToolResult {
    let ids = args.strings("ids");
    if ids.is_empty() {
        return Err(ToolError::Invalid(format!(
            "'ids' must list at least one id for operation '{op}'"
        )));
    }
    let nodes = op == "delete_nodes";
    if !ctx.confirmed(NAME, args)? {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for id in &ids {
            let item = if nodes {
                ctx.store().get_node(id).await?.map(|n| node_summary(&n))
            } else {
                ctx.store().get_edge(id).await?.map(|e| json!(e))
            };
            match item {
                Some(item) => found.push(item),
                None => missing.push(Value::String(id.clone())),
            }
        }
        if !missing.is_empty() {
            return Err(ToolError::NotFound(format!(
                "Not found: {}",
                Value::Array(missing)
            )));
        }
        let what = if nodes {
            "node(s) and their edges"
        } else {
            "edge(s)"
        };
        let message = format!("This deletes {} {what} in one transaction.", found.len());
        return ctx.ask_confirmation(NAME, args, json!({ "items": found }), message);
    }
    let ops: Vec<WriteOp> = ids
        .into_iter()
        .map(|id| {
            if nodes {
                WriteOp::DeleteNode { id }
            } else {
                WriteOp::DeleteEdge { id }
            }
        })
        .collect();
    let results = ctx.apply(ops).await?;
    success(json!({ "operation": op, "count": results.len(), "results": results }))
}

#[cfg(test)]
mod tests {
    use crate::mcp::testing::{call, state};
    use serde_json::json;

    #[tokio::test]
    async fn a_batch_is_one_transaction() {
        let t = state(vec![]);
        let added = call(
            &t.state,
            None,
            "memory_batch",
            json!({"operation":"add_nodes","nodes":[
                {"type":"todo","id":"t1","properties":{"title":"A"}},
                {"type":"todo","id":"t2","properties":{"title":"B"}}
            ]}),
        )
        .await;
        assert_eq!(added["count"], 2);
        let failed = call(
            &t.state,
            None,
            "memory_batch",
            json!({"operation":"add_edges","edges":[
                {"source":"t1","target":"t2","type":"blocks"},
                {"source":"t1","target":"missing","type":"blocks"}
            ]}),
        )
        .await;
        assert_eq!(failed["isError"], true);
        let edges = call(
            &t.state,
            None,
            "memory_edge",
            json!({"operation":"get","node_id":"t1"}),
        )
        .await;
        assert_eq!(
            edges["count"], 0,
            "the valid edge of the failed batch was not written"
        );

        let delete = json!({"operation":"delete_nodes","ids":["t1","t2"]});
        let preview = call(&t.state, None, "memory_batch", delete.clone()).await;
        assert_eq!(preview["preview"]["items"].as_array().unwrap().len(), 2);
        let mut confirmed = delete;
        confirmed["confirm"] = json!(true);
        confirmed["confirmationId"] = preview["confirmationId"].clone();
        assert_eq!(
            call(&t.state, None, "memory_batch", confirmed).await["count"],
            2
        );
        let missing = call(
            &t.state,
            None,
            "memory_batch",
            json!({"operation":"delete_nodes","ids":["t1"]}),
        )
        .await;
        assert_eq!(missing["isError"], true);
    }
}
