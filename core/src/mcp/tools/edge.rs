//! `memory_edge`: add and delete relationships, list a node's edges, walk its neighbourhood.

use super::{
    node_summary, properties, success, unknown_operation, Args, ToolCtx, ToolDef, ToolError,
    ToolResult, EDGE_TYPES,
};
use crate::mcp::schema::{free_object, integer, object, one_of, string};
use crate::store::{Direction, NewEdge, WriteOp, WriteResult};
use serde_json::{json, Value};

/// Deepest walk allowed: neighbourhoods grow fast and every hop is a query.
const MAX_DEPTH: i64 = 5;

pub fn definitions() -> Vec<ToolDef> {
    let properties = json!({
        "operation": one_of(&["add", "delete", "get", "neighbors", "subgraph"], "Operation to perform on edges"),
        "source": string("Source node id (required for add)"),
        "target": string("Target node id (required for add)"),
        "type": one_of(EDGE_TYPES, "Edge type (required for add)"),
        "edge_id": string("Edge id (required for delete)"),
        "node_id": string("Node id (required for get, neighbors, subgraph)"),
        "edge_type": string("Only follow edges of this type (get, neighbors, subgraph)"),
        "direction": one_of(&["in", "out", "both"], "Edge direction (default both)"),
        "depth": integer(1, MAX_DEPTH, "Traversal depth (default 1 for neighbors, 2 for subgraph)"),
        "properties": free_object("Edge properties for add; nested objects are flattened"),
    });
    vec![ToolDef {
        name: "memory_edge",
        description: "Manage relationships between nodes. Operations: add, delete, get, neighbors, subgraph.\n\
Examples: add(source='todo-1', target='project-2', type='depends_on'); get(node_id='todo-1', direction='out'); \
neighbors(node_id='todo-1', edge_type='depends_on'); subgraph(node_id='project-1', depth=2).",
        input_schema: object(properties, &["operation"]),
        handler: |ctx, args| Box::pin(call(ctx, args)),
    }]
}

async fn call(ctx: ToolCtx, args: Args) -> ToolResult {
    let op = args.operation();
    let direction = match args.str("direction") {
        Some("in") => Direction::In,
        Some("out") => Direction::Out,
        _ => Direction::Both,
    };
    let edge_type = args.str("edge_type");
    match op {
        "add" => {
            let new = NewEdge {
                source: args.require("source", op)?.to_string(),
                target: args.require("target", op)?.to_string(),
                edge_type: args.require("type", op)?.to_string(),
                properties: properties(&args, "properties"),
            };
            match ctx.apply(vec![WriteOp::AddEdge(new)]).await?.pop() {
                Some(WriteResult::Edge(edge)) => success(json!({ "edge": edge })),
                other => Err(ToolError::Internal(format!(
                    "store returned {other:?} for an edge write"
                ))),
            }
        }
        "delete" => {
            let id = args.require("edge_id", op)?;
            if ctx.store().get_edge(id).await?.is_none() {
                return Err(ToolError::NotFound(format!("Edge not found: {id}")));
            }
            ctx.apply(vec![WriteOp::DeleteEdge { id: id.to_string() }])
                .await?;
            success(json!({ "deleted": id }))
        }
        "get" => {
            let node_id = args.require("node_id", op)?;
            ctx.node(node_id).await?; // an empty list would hide a typo
            let edges = ctx.store().edges_of(node_id, direction, edge_type).await?;
            success(json!({ "nodeId": node_id, "count": edges.len(), "edges": edges }))
        }
        "neighbors" | "subgraph" => {
            let node_id = args.require("node_id", op)?;
            let start = ctx.node(node_id).await?;
            let default_depth = if op == "neighbors" { 1 } else { 2 };
            let depth = args.u64("depth").unwrap_or(default_depth) as usize;
            let graph = ctx
                .store()
                .neighborhood(node_id, direction, edge_type, depth)
                .await?;
            let nodes: Vec<Value> = graph.nodes.iter().map(node_summary).collect();
            if op == "neighbors" {
                return success(
                    json!({ "nodeId": node_id, "count": nodes.len(), "neighbors": nodes, "edges": graph.edges }),
                );
            }
            let all: Vec<Value> = std::iter::once(node_summary(&start)).chain(nodes).collect();
            success(
                json!({ "nodeId": node_id, "depth": depth, "nodes": all, "edges": graph.edges }),
            )
        }
        other => Err(unknown_operation(other)),
    }
}
