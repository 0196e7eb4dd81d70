//! `todo` and `todo_list`: tasks (`todo` nodes) and lists (`todoList` nodes) that hold them
//! through `contains` edges (list → todo). Deletes need two-step confirmation.

use super::{
    properties, success, unknown_operation, written_node, Args, ToolCtx, ToolDef, ToolError,
    ToolResult,
};
use crate::mcp::schema::{boolean, confirmation_properties, free_object, object, one_of, string};
use crate::store::{Direction, NewEdge, NewNode, Node, NodeQuery, Properties, WriteOp};
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

const TODO: &str = "todo";
const LIST: &str = "todoList";
const CONTAINS: &str = "contains";
const STATUSES: &[&str] = &["pending", "in_progress", "completed"];
const PRIORITIES: &[&str] = &["low", "medium", "high"];
const NOTHING_TO_UPDATE: &str = "update needs at least one field or property to change";

pub fn definitions() -> Vec<ToolDef> {
    let mut todo = json!({
        "operation": one_of(&["create", "get", "update", "complete", "delete", "list"], "Operation to perform on todos"),
        "todo_id": string("Todo id (required for get, update, complete, delete)"),
        "list_id": string("List to put a new todo in (create) or to list (list)"),
        "title": string("Title (required for create)"),
        "description": string("Description"),
        "status": one_of(STATUSES, "Status (default pending)"),
        "priority": one_of(PRIORITIES, "Priority (default medium)"),
        "filters": free_object("Property equality filters for list, e.g. {status: 'pending'}"),
        "properties": free_object("Additional custom properties"),
    });
    confirmation_properties(&mut todo);
    let mut list = json!({
        "operation": one_of(
            &["create", "get", "update", "archive", "delete", "list", "add_todo", "remove_todo", "get_stats"],
            "Operation to perform on todo lists",
        ),
        "list_id": string("List id (required for every operation except create and list)"),
        "todo_id": string("Todo id (required for add_todo, remove_todo)"),
        "title": string("Title (required for create)"),
        "description": string("Description"),
        "priority": one_of(PRIORITIES, "Priority (default medium)"),
        "filters": free_object("Property equality filters for list, e.g. {archived: false}"),
        "properties": free_object("Additional custom properties"),
        "remove_completed": boolean("archive: also delete the list's completed todos (default false)"),
    });
    confirmation_properties(&mut list);
    vec![
        ToolDef {
            name: "todo",
            description: "Manage individual todos. Operations: create, get, update, complete, delete, list. \
delete needs two-step confirmation.\n\
Examples: create(title='Fix bug', priority='high', list_id='todoList-1'); complete(todo_id='todo-1'); \
list(filters={status:'pending'}).",
            input_schema: object(todo, &["operation"]),
            handler: |ctx, args| Box::pin(call_todo(ctx, args)),
        },
        ToolDef {
            name: "todo_list",
            description: "Manage todo lists (collections of todos linked by 'contains' edges). Operations: create, get, \
update, archive, delete, list, add_todo, remove_todo, get_stats. delete needs two-step confirmation and keeps the todos.\n\
Examples: create(title='Sprint 1'); add_todo(list_id='todoList-1', todo_id='todo-2'); get_stats(list_id='todoList-1').",
            input_schema: object(list, &["operation"]),
            handler: |ctx, args| Box::pin(call_list(ctx, args)),
        },
    ]
}

async fn call_todo(ctx: ToolCtx, args: Args) -> ToolResult {
    let op = args.operation();
    match op {
        "create" => {
            args.require("title", op)?;
            let mut props = fields(&args, &["title", "description", "status", "priority"]);
            props.entry("status").or_insert_with(|| json!("pending"));
            props.entry("priority").or_insert_with(|| json!("medium"));
            // Chosen here so the list link can be written in the same transaction.
            let id = format!("{TODO}-{}", uuid::Uuid::new_v4().simple());
            let mut ops = vec![WriteOp::AddNode(NewNode {
                id: Some(id.clone()),
                node_type: TODO.into(),
                properties: props,
            })];
            if let Some(list_id) = args.str("list_id") {
                ctx.node_of_type(list_id, LIST, "Todo list").await?;
                ops.push(contains(list_id, &id));
            }
            let todo = written_node(ctx.apply(ops).await?)?;
            success(json!({ "todo": todo, "listId": args.str("list_id") }))
        }
        "get" => success(
            json!({ "todo": ctx.node_of_type(args.require("todo_id", op)?, TODO, "Todo").await? }),
        ),
        "update" | "complete" => {
            let id = args.require("todo_id", op)?;
            ctx.node_of_type(id, TODO, "Todo").await?;
            let mut changes = fields(&args, &["title", "description", "status", "priority"]);
            if op == "complete" {
                changes.insert("status".into(), json!("completed"));
                changes.insert("completedAt".into(), json!(now()));
            } else if changes.is_empty() {
                return Err(ToolError::Invalid(NOTHING_TO_UPDATE.into()));
            }
            let todo = update(&ctx, id, changes).await?;
            success(json!({ "todo": todo }))
        }
        "delete" => {
            let id = args.require("todo_id", op)?;
            let todo = ctx.node_of_type(id, TODO, "Todo").await?;
            delete_confirmed(
                &ctx,
                "todo",
                &args,
                todo,
                "Deleting this todo removes it from its lists.",
            )
            .await
        }
        "list" => {
            let mut filters = args.object("filters");
            for key in ["status", "priority"] {
                if let Some(value) = args.str(key) {
                    filters.insert(key.into(), json!(value));
                }
            }
            let todos = match args.str("list_id") {
                Some(list_id) => {
                    ctx.node_of_type(list_id, LIST, "Todo list").await?;
                    todos_of(&ctx, list_id)
                        .await?
                        .into_iter()
                        .filter(|t| matches(t, &filters))
                        .collect()
                }
                None => query(&ctx, TODO, filters).await?,
            };
            success(json!({ "count": todos.len(), "todos": todos }))
        }
        other => Err(unknown_operation(other)),
    }
}

async fn call_list(ctx: ToolCtx, args: Args) -> ToolResult {
    match args.operation() {
        "create" => {
            args.require("title", "create")?;
            let mut props = fields(&args, &["title", "description", "priority"]);
            props.entry("priority").or_insert_with(|| json!("medium"));
            props.insert("archived".into(), json!(false));
            let new = NewNode {
                id: None,
                node_type: LIST.into(),
                properties: props,
            };
            success(json!({ "list": written_node(ctx.apply(vec![WriteOp::AddNode(new)]).await?)? }))
        }
        "list" => {
            let lists = query(&ctx, LIST, args.object("filters")).await?;
            success(json!({ "count": lists.len(), "lists": lists }))
        }
        op => call_on_list(&ctx, &args, op).await,
    }
}

/// The operations on one existing list.
async fn call_on_list(ctx: &ToolCtx, args: &Args, op: &str) -> ToolResult {
    let list_id = args.require("list_id", op)?;
    let list = ctx.node_of_type(list_id, LIST, "Todo list").await?;
    match op {
        "get" => {
            let todos = todos_of(ctx, list_id).await?;
            success(json!({ "list": list, "todos": todos, "stats": stats(&todos) }))
        }
        "update" => {
            let changes = fields(args, &["title", "description", "priority"]);
            if changes.is_empty() {
                return Err(ToolError::Invalid(NOTHING_TO_UPDATE.into()));
            }
            success(json!({ "list": update(ctx, list_id, changes).await? }))
        }
        "archive" => {
            let changes: Properties = [
                ("archived".to_string(), json!(true)),
                ("archivedAt".to_string(), json!(now())),
            ]
            .into_iter()
            .collect();
            let mut ops = vec![WriteOp::UpdateNode {
                id: list_id.to_string(),
                properties: changes,
            }];
            let mut removed = Vec::new();
            if args.bool("remove_completed") == Some(true) {
                for todo in todos_of(ctx, list_id).await? {
                    if todo.properties.get("status") == Some(&json!("completed")) {
                        removed.push(todo.id.clone());
                        ops.push(WriteOp::DeleteNode { id: todo.id });
                    }
                }
            }
            let list = written_node(ctx.apply(ops).await?)?;
            success(json!({ "list": list, "removedTodos": removed }))
        }
        "delete" => {
            let count = todos_of(ctx, list_id).await?.len();
            let message = format!(
                "Deleting this list unlinks its {count} todo(s); the todos themselves are kept."
            );
            delete_confirmed(ctx, "todo_list", args, list, &message).await
        }
        "add_todo" | "remove_todo" => {
            let todo_id = args.require("todo_id", op)?;
            ctx.node_of_type(todo_id, TODO, "Todo").await?;
            let links: Vec<String> = ctx
                .store()
                .edges_of(list_id, Direction::Out, Some(CONTAINS))
                .await?
                .into_iter()
                .filter(|e| e.target == todo_id)
                .map(|e| e.id)
                .collect();
            let ops: Vec<WriteOp> = match (op, links.is_empty()) {
                ("add_todo", true) => vec![contains(list_id, todo_id)],
                ("add_todo", false) => vec![],
                _ => links
                    .into_iter()
                    .map(|id| WriteOp::DeleteEdge { id })
                    .collect(),
            };
            let changed = !ops.is_empty();
            if changed {
                ctx.apply(ops).await?;
            }
            success(json!({ "listId": list_id, "todoId": todo_id, "changed": changed }))
        }
        "get_stats" => {
            success(json!({ "listId": list_id, "stats": stats(&todos_of(ctx, list_id).await?) }))
        }
        other => Err(unknown_operation(other)),
    }
}

/// The named top-level fields that are present, plus the flattened custom `properties`
/// (named fields win over custom ones of the same name).
fn fields(args: &Args, names: &[&str]) -> Properties {
    let mut props = properties(args, "properties");
    for name in names {
        if let Some(value) = args.str(name) {
            props.insert((*name).to_string(), json!(value));
        }
    }
    props
}

fn contains(list_id: &str, todo_id: &str) -> WriteOp {
    WriteOp::AddEdge(NewEdge {
        source: list_id.to_string(),
        target: todo_id.to_string(),
        edge_type: CONTAINS.into(),
        properties: Properties::new(),
    })
}

async fn update(ctx: &ToolCtx, id: &str, changes: Properties) -> Result<Node, ToolError> {
    written_node(
        ctx.apply(vec![WriteOp::UpdateNode {
            id: id.to_string(),
            properties: changes,
        }])
        .await?,
    )
}

async fn query(
    ctx: &ToolCtx,
    node_type: &str,
    filters: Properties,
) -> Result<Vec<Node>, ToolError> {
    let query = NodeQuery {
        node_types: vec![node_type.into()],
        filters,
        limit: 0,
        offset: 0,
    };
    Ok(ctx.store().query_nodes(&query).await?)
}

async fn todos_of(ctx: &ToolCtx, list_id: &str) -> Result<Vec<Node>, ToolError> {
    let graph = ctx
        .store()
        .neighborhood(list_id, Direction::Out, Some(CONTAINS), 1)
        .await?;
    Ok(graph
        .nodes
        .into_iter()
        .filter(|n| n.node_type == TODO)
        .collect())
}

fn matches(node: &Node, filters: &Properties) -> bool {
    filters
        .iter()
        .all(|(k, v)| node.properties.get(k) == Some(v))
}

fn stats(todos: &[Node]) -> Value {
    let count = |status: &str| {
        todos
            .iter()
            .filter(|t| t.properties.get("status") == Some(&json!(status)))
            .count()
    };
    let completed = count("completed");
    let rate = if todos.is_empty() {
        0.0
    } else {
        completed as f64 / todos.len() as f64
    };
    json!({
        "total": todos.len(),
        "pending": count("pending"),
        "in_progress": count("in_progress"),
        "completed": completed,
        "completionRate": rate,
    })
}

async fn delete_confirmed(
    ctx: &ToolCtx,
    tool: &str,
    args: &Args,
    node: Node,
    message: &str,
) -> ToolResult {
    if !ctx.confirmed(tool, args)? {
        return ctx.ask_confirmation(tool, args, json!({ "node": node }), message.to_string());
    }
    ctx.apply(vec![WriteOp::DeleteNode {
        id: node.id.clone(),
    }])
    .await?;
    success(json!({ "deleted": node.id }))
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use crate::mcp::testing::{call, state};
    use serde_json::json;

    #[tokio::test]
    async fn lists_hold_todos_through_contains_edges() {
        let t = state(vec![]);
        let list = call(
            &t.state,
            None,
            "todo_list",
            json!({"operation":"create","title":"Sprint"}),
        )
        .await;
        let list_id = list["list"]["id"].as_str().unwrap().to_string();
        let todo = call(
            &t.state,
            None,
            "todo",
            json!({"operation":"create","title":"A","list_id":list_id,"priority":"high"}),
        )
        .await;
        assert_eq!(todo["todo"]["properties"]["status"], "pending");
        let a = todo["todo"]["id"].as_str().unwrap().to_string();
        let b = call(
            &t.state,
            None,
            "todo",
            json!({"operation":"create","title":"B"}),
        )
        .await["todo"]["id"]
            .clone();
        let added = call(
            &t.state,
            None,
            "todo_list",
            json!({"operation":"add_todo","list_id":list_id,"todo_id":b}),
        )
        .await;
        assert_eq!(added["changed"], true);
        let again = call(
            &t.state,
            None,
            "todo_list",
            json!({"operation":"add_todo","list_id":list_id,"todo_id":b}),
        )
        .await;
        assert_eq!(
            again["changed"], false,
            "adding twice does not duplicate the link"
        );

        call(
            &t.state,
            None,
            "todo",
            json!({"operation":"complete","todo_id":a}),
        )
        .await;
        let stats = call(
            &t.state,
            None,
            "todo_list",
            json!({"operation":"get_stats","list_id":list_id}),
        )
        .await;
        assert_eq!(
            stats["stats"],
            json!({"total":2,"pending":1,"in_progress":0,"completed":1,"completionRate":0.5})
        );
        let pending = call(
            &t.state,
            None,
            "todo",
            json!({"operation":"list","list_id":list_id,"status":"pending"}),
        )
        .await;
        assert_eq!(pending["todos"][0]["id"], b);

        call(
            &t.state,
            None,
            "todo_list",
            json!({"operation":"remove_todo","list_id":list_id,"todo_id":b}),
        )
        .await;
        let archived = call(
            &t.state,
            None,
            "todo_list",
            json!({"operation":"archive","list_id":list_id,"remove_completed":true}),
        )
        .await;
        assert_eq!(
            (
                archived["list"]["properties"]["archived"].clone(),
                archived["removedTodos"].clone()
            ),
            (json!(true), json!([a]))
        );
        let got = call(
            &t.state,
            None,
            "todo_list",
            json!({"operation":"get","list_id":list_id}),
        )
        .await;
        assert_eq!(got["todos"], json!([]));
        assert_eq!(
            call(
                &t.state,
                None,
                "todo",
                json!({"operation":"get","todo_id":b})
            )
            .await["isError"],
            false
        );
        let wrong_type = call(
            &t.state,
            None,
            "todo",
            json!({"operation":"get","todo_id":list_id}),
        )
        .await;
        assert_eq!(wrong_type["error"], format!("Todo not found: {list_id}"));
    }
}
