//! `get_task_context`: a task's context filtered for the agent asking. The PM sees everything
//! (plus the task's 2-hop subgraph), a worker only what it needs to do the task, QC the worker's
//! view plus what it must verify against.

use super::{node_summary, success, Args, ToolCtx, ToolDef, ToolResult};
use crate::mcp::schema::{object, one_of, string};
use crate::store::{Direction, Node};
use serde_json::{json, Map, Value};

/// Task fields a worker receives, as upstream's context isolation.
const WORKER_FIELDS: &[&str] = &[
    "title",
    "requirements",
    "description",
    "status",
    "priority",
    "workerRole",
    "attemptNumber",
    "maxRetries",
    "errorContext",
];
/// Extra fields QC receives on top of the worker's.
const QC_FIELDS: &[&str] = &["workerOutput", "verificationCriteria", "qcRole"];
/// Lists are cut so a worker's context stays small.
const MAX_FILES: usize = 10;
const MAX_DEPENDENCIES: usize = 5;

pub fn definitions() -> Vec<ToolDef> {
    let properties = json!({
        "taskId": string("Task node id"),
        "agentType": one_of(&["pm", "worker", "qc"], "Agent asking: pm gets everything, worker the essentials, qc the essentials plus verification data"),
    });
    vec![ToolDef {
        name: "get_task_context",
        description: "Task context filtered by agent type (server-side context isolation for multi-agent work). \
pm: all task properties and its 2-hop subgraph; worker: title, requirements, description, status, priority, \
first 10 files, first 5 dependencies, error context; qc: the worker view plus workerOutput, verificationCriteria, qcRole.",
        input_schema: object(properties, &["taskId", "agentType"]),
        handler: |ctx, args| Box::pin(call(ctx, args)),
    }]
}

async fn call(ctx: ToolCtx, args: Args) -> ToolResult {
    let task_id = args.require("taskId", "get_task_context")?;
    let agent = args.str("agentType").unwrap_or("worker");
    let task = ctx.node(task_id).await?;
    let mut full = full_context(&task);
    let context = match agent {
        "pm" => {
            let graph = ctx
                .store()
                .neighborhood(task_id, Direction::Both, None, 2)
                .await?;
            let nodes: Vec<Value> = graph.nodes.iter().map(node_summary).collect();
            full.insert(
                "subgraph".into(),
                json!({ "nodes": nodes, "edges": graph.edges }),
            );
            full.clone()
        }
        "qc" => {
            let mut context = filtered(&full, WORKER_FIELDS.iter().chain(QC_FIELDS));
            if let Some(requirements) = full.get("requirements") {
                context.insert("originalRequirements".into(), requirements.clone());
            }
            context
        }
        _ => filtered(&full, WORKER_FIELDS.iter()),
    };
    let original = Value::Object(full.clone()).to_string().len();
    let size = Value::Object(context.clone()).to_string().len();
    let removed: Vec<&String> = full.keys().filter(|k| !context.contains_key(*k)).collect();
    let metrics = json!({
        "originalSize": original,
        "filteredSize": size,
        "reductionPercent": if original == 0 { 0.0 } else { 100.0 * (1.0 - size as f64 / original as f64) },
        "fieldsRemoved": removed,
    });
    success(
        json!({ "taskId": task_id, "agentType": agent, "context": context, "metrics": metrics }),
    )
}

/// Every property of the task plus its id and type.
fn full_context(task: &Node) -> Map<String, Value> {
    let mut full = task.properties.clone();
    full.insert("taskId".into(), json!(task.id));
    full.insert("type".into(), json!(task.node_type));
    full
}

/// `taskId`, the named fields that are present, and the capped file and dependency lists.
fn filtered<'a>(
    full: &Map<String, Value>,
    names: impl Iterator<Item = &'a &'a str>,
) -> Map<String, Value> {
    let mut context = Map::new();
    context.insert(
        "taskId".into(),
        full.get("taskId").cloned().unwrap_or_default(),
    );
    for name in names {
        if let Some(value) = full.get(*name).filter(|v| !v.is_null()) {
            context.insert((*name).to_string(), value.clone());
        }
    }
    for (name, max) in [("files", MAX_FILES), ("dependencies", MAX_DEPENDENCIES)] {
        if let Some(items) = full
            .get(name)
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        {
            context.insert(
                name.into(),
                Value::Array(items.iter().take(max).cloned().collect()),
            );
        }
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Map<String, Value> {
        let node = Node {
            id: "todo-1".into(),
            node_type: "todo".into(),
            properties: json!({
                "title": "T", "requirements": "R", "research": "long notes", "workerOutput": "done",
                "files": (0..20).map(|i| format!("f{i}")).collect::<Vec<_>>(), "qcRole": "checker",
            })
            .as_object()
            .unwrap()
            .clone(),
            created: String::new(),
            updated: String::new(),
            created_by: None,
            updated_by: None,
            sensitivity: None,
            pii: Vec::new(),
        };
        full_context(&node)
    }

    #[test]
    fn workers_get_the_essentials_only() {
        let context = filtered(&task(), WORKER_FIELDS.iter());
        assert_eq!(context["taskId"], "todo-1");
        assert_eq!(context["title"], "T");
        assert_eq!(context["files"].as_array().unwrap().len(), MAX_FILES);
        assert!(!context.contains_key("research"));
        assert!(!context.contains_key("workerOutput"));
    }

    #[test]
    fn qc_also_gets_verification_data() {
        let context = filtered(&task(), WORKER_FIELDS.iter().chain(QC_FIELDS));
        assert_eq!(context["workerOutput"], "done");
        assert_eq!(context["qcRole"], "checker");
        assert!(!context.contains_key("research"));
    }
}
