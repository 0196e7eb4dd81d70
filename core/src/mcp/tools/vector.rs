//! `vector_search_nodes` and `get_embedding_stats`. Embeddings are the store's local hashing
//! embedding (`crate::embedding`): no model download, but similarities run lower than a neural
//! model's, hence the low default threshold.

use super::node::DEFAULT_MIN_SIMILARITY;
use super::{node_summary, success, Args, ToolCtx, ToolDef, ToolResult};
use crate::embedding::{self, DIMENSIONS};
use crate::mcp::schema::{array, integer, number, object, string};
use crate::store::Direction;
use serde_json::{json, Map, Value};

const MAX_RESULTS: i64 = 100;

pub fn definitions() -> Vec<ToolDef> {
    let search = json!({
        "query": string("Natural-language search text"),
        "types": array(string("Node type"), 50, "Only these node types (default all)"),
        "limit": integer(1, MAX_RESULTS, "Maximum results (default 10)"),
        "min_similarity": number(0.0, 1.0, "Minimum cosine similarity 0-1 (default 0.1; the local embedding scores lower than neural models)"),
        "depth": integer(1, 3, "1 = matches only; 2-3 also return the nodes within depth-1 hops of each match"),
    });
    vec![
        ToolDef {
            name: "vector_search_nodes",
            description:
                "Semantic search over all nodes by meaning (local embedding of their text). \
Returns the best matches with their similarity; depth 2-3 adds connected nodes.",
            input_schema: object(search, &["query"]),
            handler: |ctx, args| Box::pin(search_nodes(ctx, args)),
        },
        ToolDef {
            name: "get_embedding_stats",
            description:
                "Statistics about node embeddings: model, dimensions, and node counts by type.",
            input_schema: object(json!({}), &[]),
            handler: |ctx, _| Box::pin(stats(ctx)),
        },
    ]
}

async fn search_nodes(ctx: ToolCtx, args: Args) -> ToolResult {
    let query = args.require("query", "search")?;
    let types = args.strings("types");
    let limit = args.u64("limit").unwrap_or(10) as usize;
    let min_similarity = args.f64("min_similarity").unwrap_or(DEFAULT_MIN_SIMILARITY) as f32;
    let depth = args.u64("depth").unwrap_or(1) as usize;
    let scored = ctx
        .store()
        .vector_search(&embedding::embed(query), &types, limit, min_similarity)
        .await?;
    let mut results = Vec::with_capacity(scored.len());
    for hit in &scored {
        let mut result = json!({ "similarity": hit.similarity, "node": node_summary(&hit.node) });
        if depth > 1 {
            let graph = ctx
                .store()
                .neighborhood(&hit.node.id, Direction::Both, None, depth - 1)
                .await?;
            let related: Vec<Value> = graph.nodes.iter().map(node_summary).collect();
            result["related"] = Value::Array(related);
        }
        results.push(result);
    }
    success(json!({
        "query": query,
        "searchMethod": "vector",
        "minSimilarity": min_similarity,
        "count": results.len(),
        "results": results,
    }))
}

async fn stats(ctx: ToolCtx) -> ToolResult {
    let by_type: Map<String, Value> = ctx
        .store()
        .count_by_type()
        .await?
        .into_iter()
        .map(|(t, n)| (t, json!(n)))
        .collect();
    let total: u64 = by_type.values().filter_map(Value::as_u64).sum();
    success(json!({
        "model": "local-feature-hashing",
        "dimensions": DIMENSIONS,
        "totalNodes": total,
        "nodesWithEmbeddings": total,
        "byType": by_type,
        "note": "Every node is embedded locally when written; no external model is used.",
    }))
}
