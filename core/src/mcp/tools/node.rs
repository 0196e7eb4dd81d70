//! `memory_node`: add, get, update, delete (confirmed), query and search single nodes.

use super::{
    node_summary, properties, success, unknown_operation, written_node, Args, ToolCtx, ToolDef,
    ToolError, ToolResult,
};
use super::{MAX_LIMIT, NODE_TYPES};
use crate::embedding;
use crate::mcp::schema::{
    array, confirmation_properties, free_object, integer, object, one_of, string,
};
use crate::store::{Direction, NewNode, NodeQuery, WriteOp, WriteResult};
use serde_json::{json, Value};

const NAME: &str = "memory_node";
/// Similarity floor of `search`; low because the local hashing embedding scores lower than a
/// neural model would (see `docs/mcp.md`).
pub const DEFAULT_MIN_SIMILARITY: f64 = 0.1;

pub fn definitions() -> Vec<ToolDef> {
    let mut properties = json!({
        "operation": one_of(&["add", "get", "update", "delete", "query", "search"], "Operation to perform on nodes"),
        "id": string("Node id (required for get, update, delete; optional for add to choose the id)"),
        "type": one_of(NODE_TYPES, "Node type (required for add, optional for query)"),
        "properties": free_object("Node properties for add/update; nested objects are flattened ({a:{b:1}} becomes {a_b:1}); for update a null value removes the key"),
        "filters": free_object("Property equality filters for query, e.g. {status: 'pending'}"),
        "query": string("Search text for search (semantic, with keyword fallback)"),
        "options": object(json!({
            "limit": integer(1, MAX_LIMIT as i64, "Maximum results (default 100 for query, 10 for search)"),
            "offset": integer(0, i64::from(u32::MAX), "Results to skip (query)"),
            "types": array(string("Node type"), 50, "Node types to search (search)"),
        }), &[]),
    });
    confirmation_properties(&mut properties);
    vec![ToolDef {
        name: NAME,
        description: "Manage memory nodes (knowledge entries). Operations: add, get, update, delete, query, search. \
Every node gets a local embedding for vector_search_nodes. delete needs two-step confirmation.\n\
Examples: add(type='memory', properties={title, content}); get(id); query(type='todo', filters={status:'pending'}); \
search(query='authentication code').",
        input_schema: object(properties, &["operation"]),
        handler: |ctx, args| Box::pin(call(ctx, args)),
    }]
}

async fn call(ctx: ToolCtx, args: Args) -> ToolResult {
    let op = args.operation();
    match op {
        "add" => {
            let node_type = args.require("type", op)?.to_string();
            let new = NewNode {
                id: args.str("id").map(str::to_string),
                node_type,
                properties: properties(&args, "properties"),
            };
            let node = written_node(ctx.apply(vec![WriteOp::AddNode(new)]).await?)?;
            success(json!({ "node": node }))
        }
        "get" => {
            let id = args.require("id", op)?;
            success(json!({ "node": ctx.node(id).await? }))
        }
        "update" => {
            let id = args.require("id", op)?.to_string();
            if args.object("properties").is_empty() {
                return Err(ToolError::Invalid(
                    "'properties' is required for operation 'update'".into(),
                ));
            }
            let update = WriteOp::UpdateNode {
                id,
                properties: properties(&args, "properties"),
            };
            let node = written_node(ctx.apply(vec![update]).await?)?;
            success(json!({ "node": node }))
        }
        "delete" => delete(&ctx, &args).await,
        "query" => {
            let options = Args::new(args.object("options"));
            let query = NodeQuery {
                node_types: args
                    .str("type")
                    .map(|t| vec![t.to_string()])
                    .unwrap_or_default(),
                filters: args.object("filters"),
                limit: options.u64("limit").unwrap_or(100) as usize,
                offset: options.u64("offset").unwrap_or(0) as usize,
            };
            let nodes = ctx.store().query_nodes(&query).await?;
            success(json!({ "count": nodes.len(), "nodes": nodes }))
        }
        "search" => {
            let text = args.require("query", op)?;
            let options = Args::new(args.object("options"));
            let types = options.strings("types");
            let limit = options.u64("limit").unwrap_or(10) as usize;
            let min = DEFAULT_MIN_SIMILARITY as f32;
            let scored = ctx
                .store()
                .vector_search(&embedding::embed(text), &types, limit, min)
                .await?;
            if !scored.is_empty() {
                let results: Vec<Value> = scored
                    .iter()
                    .map(|s| json!({ "similarity": s.similarity, "node": node_summary(&s.node) }))
                    .collect();
                return success(
                    json!({ "method": "semantic", "count": results.len(), "results": results }),
                );
            }
            let nodes = ctx.store().search_nodes(text, &types, limit).await?;
            let results: Vec<Value> = nodes
                .iter()
                .map(|n| json!({ "node": node_summary(n) }))
                .collect();
            success(json!({ "method": "keyword", "count": results.len(), "results": results }))
        }
        other => Err(unknown_operation(other)),
    }
}

async fn delete(ctx: &ToolCtx, args: &Args) -> ToolResult {
    let id = args.require("id", "delete")?;
    let node = ctx.node(id).await?;
    if !ctx.confirmed(NAME, args)? {
        let edges = ctx.store().edges_of(id, Direction::Both, None).await?.len();
        let preview = json!({ "node": node_summary(&node), "edgesToRemove": edges });
        let message = format!("Deleting node {id} also removes its {edges} edge(s).");
        return ctx.ask_confirmation(NAME, args, preview, message);
    }
    match ctx
        .apply(vec![WriteOp::DeleteNode { id: id.to_string() }])
        .await?
        .pop()
    {
        Some(WriteResult::Deleted { id, edges_removed }) => {
            success(json!({ "deleted": id, "edgesRemoved": edges_removed }))
        }
        other => Err(ToolError::Internal(format!(
            "store returned {other:?} for a delete"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use crate::mcp::testing::{call, state};
    use serde_json::{json, Value};

    #[tokio::test]
    async fn nodes_round_trip_with_flattened_properties_and_attribution() {
        let t = state(vec![]);
        let added = call(
            &t.state,
            Some("alice"),
            "memory_node",
            json!({
                "operation": "add", "type": "memory",
                "properties": {"title": "Rust", "meta": {"lang": "en"}, "tags": ["a", "b"]}
            }),
        )
        .await;
        assert_eq!(added["success"], true);
        let id = added["node"]["id"].as_str().unwrap().to_string();
        let got = call(
            &t.state,
            None,
            "memory_node",
            json!({"operation":"get","id":id}),
        )
        .await;
        assert_eq!(
            got["node"]["properties"],
            json!({"title":"Rust","meta_lang":"en","tags":["a","b"]})
        );
        assert_eq!(got["node"]["created_by"], "alice");

        let updated = call(
            &t.state,
            Some("bob"),
            "memory_node",
            json!({
                "operation":"update","id":id,"properties":{"title":"Rust 2","meta_lang":null}
            }),
        )
        .await;
        assert_eq!(
            updated["node"]["properties"],
            json!({"title":"Rust 2","tags":["a","b"]})
        );
        assert_eq!(updated["node"]["updated_by"], "bob");

        let queried = call(
            &t.state,
            None,
            "memory_node",
            json!({"operation":"query","type":"memory","filters":{"title":"Rust 2"}}),
        )
        .await;
        assert_eq!(queried["count"], 1);
        let found = call(
            &t.state,
            None,
            "memory_node",
            json!({"operation":"search","query":"rust"}),
        )
        .await;
        assert_eq!(found["results"][0]["node"]["id"], Value::String(id));
    }

    #[tokio::test]
    async fn delete_needs_a_matching_single_use_confirmation() {
        let t = state(vec![]);
        let add =
            |title: &str| json!({"operation":"add","type":"memory","properties":{"title":title}});
        let id = call(&t.state, None, "memory_node", add("a")).await["node"]["id"].clone();
        let other = call(&t.state, None, "memory_node", add("b")).await["node"]["id"].clone();
        let delete = json!({"operation":"delete","id":id});

        let preview = call(&t.state, Some("alice"), "memory_node", delete.clone()).await;
        assert_eq!(preview["needsConfirmation"], true);
        assert_eq!(preview["preview"]["node"]["id"], id);
        let token = preview["confirmationId"].as_str().unwrap().to_string();
        assert_eq!(token.len(), 32);
        assert!(call(
            &t.state,
            None,
            "memory_node",
            json!({"operation":"get","id":id})
        )
        .await["node"]
            .is_object());

        // Other parameters, another caller, or a reused id are all refused.
        let swapped =
            json!({"operation":"delete","id":other,"confirm":true,"confirmationId":token});
        assert_eq!(
            call(&t.state, Some("alice"), "memory_node", swapped).await["isError"],
            true
        );
        let token = call(&t.state, Some("alice"), "memory_node", delete.clone()).await
            ["confirmationId"]
            .clone();
        let confirmed = json!({"operation":"delete","id":id,"confirm":true,"confirmationId":token});
        assert_eq!(
            call(&t.state, Some("mallory"), "memory_node", confirmed.clone()).await["isError"],
            true
        );
        let token =
            call(&t.state, Some("alice"), "memory_node", delete).await["confirmationId"].clone();
        let confirmed = json!({"operation":"delete","id":id,"confirm":true,"confirmationId":token});
        let done = call(&t.state, Some("alice"), "memory_node", confirmed.clone()).await;
        assert_eq!(
            (done["success"].clone(), done["deleted"].clone()),
            (json!(true), id.clone())
        );
        assert_eq!(
            call(&t.state, Some("alice"), "memory_node", confirmed).await["isError"],
            true
        );
        assert_eq!(
            call(
                &t.state,
                None,
                "memory_node",
                json!({"operation":"get","id":id})
            )
            .await["isError"],
            true
        );
        assert_eq!(
            call(
                &t.state,
                None,
                "memory_node",
                json!({"operation":"get","id":other})
            )
            .await["isError"],
            false
        );
    }
}
