//! `memory_clear`: deletes every node (`type: "ALL"`) or every node of one type, with their
//! edges. Always needs two-step confirmation.

use super::{success, Args, ToolCtx, ToolDef, ToolResult, NODE_TYPES};
use crate::mcp::schema::{confirmation_properties, object, one_of};
use serde_json::json;

const NAME: &str = "memory_clear";
const ALL: &str = "ALL";

pub fn definitions() -> Vec<ToolDef> {
    let types: Vec<&str> = std::iter::once(ALL)
        .chain(NODE_TYPES.iter().copied())
        .collect();
    let mut properties = json!({
        "type": one_of(&types, "Node type to clear, or 'ALL' to clear the whole graph"),
    });
    confirmation_properties(&mut properties);
    vec![ToolDef {
        name: NAME,
        description: "Delete data from the graph: type='ALL' clears everything, a node type clears only that type \
(edges of deleted nodes go too). Needs confirmation: call without confirm for a preview and a confirmationId, \
then again with confirm=true and that id.",
        input_schema: object(properties, &["type"]),
        handler: |ctx, args| Box::pin(call(ctx, args)),
    }]
}

async fn call(ctx: ToolCtx, args: Args) -> ToolResult {
    let requested = args.require("type", NAME)?;
    let node_type = (requested != ALL).then_some(requested);
    if !ctx.confirmed(NAME, &args)? {
        let types: Vec<String> = node_type.map(str::to_string).into_iter().collect();
        let count = ctx.store().count_nodes(&types).await?;
        let what = node_type.map_or("nodes of every type".to_string(), |t| {
            format!("'{t}' nodes")
        });
        let preview = json!({ "type": requested, "nodesToDelete": count });
        let message = format!("This permanently deletes {count} {what} and their edges.");
        return ctx.ask_confirmation(NAME, &args, preview, message);
    }
    let deleted = ctx.store().clear(node_type).await?;
    success(json!({ "type": requested, "deletedNodes": deleted }))
}
