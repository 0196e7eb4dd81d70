//! Queries of the Neo4j store. Cypher text is built only from constants; every value taken from
//! a caller (types, property names and values, search text) is a parameter.

use super::codec::{self, bolt, stored_key, NODE_KEYS};
use super::exec::{count_of, read_rows};
use crate::embedding::{similarity, DIMENSIONS};
use crate::store::rules::check_filters;
use crate::store::{Node, NodeQuery, ScoredNode, StoreResult, Visibility};
use neo4rs::{query, BoltType, Graph, Query, Row};
use serde_json::{json, Value};
use std::collections::HashMap;

const NODE_RESULT: &str = "RETURN n {.*, embedding: null} AS n";

/// Whether node `alias` is shown by the [`Visibility`] in parameter `$vis` (see
/// [`vis_param`]), or by none (`null`: every node is shown). The label is the user property
/// `sensitivity`, stored under its own name (`codec::stored_key`). No index serves it: it
/// hides few nodes, and listings start from the type index either way.
pub(super) fn visible(alias: &str) -> String {
    format!(
        "($vis IS NULL OR CASE WHEN {alias}.sensitivity IS NULL
            THEN ({alias}.type IN $vis.types) <> $vis.allBut
            ELSE {alias}.sensitivity IN $vis.labels END)"
    )
}

/// The `$vis` parameter [`visible`] reads.
pub(super) fn vis_param(visibility: Option<&Visibility>) -> BoltType {
    BoltType::from(visibility.map(|v| {
        BoltType::from(HashMap::from([
            ("labels", BoltType::from(v.labels.clone())),
            ("allBut", BoltType::from(v.unlabelled.all_but)),
            ("types", BoltType::from(v.unlabelled.types.clone())),
        ]))
    }))
}

/// `MATCH` of the shown nodes of `types`, or of all shown nodes when empty; continues with
/// `AND …`. Two texts rather than one `$types = [] OR …`, so the type index can be used.
fn match_nodes(types: &[String]) -> String {
    let shown = visible("n");
    if types.is_empty() {
        format!("MATCH (n:Node) WHERE {shown}")
    } else {
        format!("MATCH (n:Node) WHERE n.type IN $types AND {shown}")
    }
}

/// `cypher` with the parameters `match_nodes` reads.
fn with_types(cypher: String, types: &[String], vis: &BoltType) -> Query {
    query(&cypher)
        .param("types", types.to_vec())
        .param("vis", vis.clone())
}

/// Cypher's "no limit" is none at all; ours is 0.
fn cypher_limit(limit: usize) -> i64 {
    if limit == 0 {
        i64::MAX
    } else {
        i64::try_from(limit).unwrap_or(i64::MAX)
    }
}

pub(super) fn nodes_of(rows: &[Row]) -> StoreResult<Vec<Node>> {
    rows.iter()
        .map(|row| codec::node_from(row.get("n")?))
        .collect()
}

/// The nodes of `ids`, in the order of `ids` (ids without a node are left out).
pub(super) async fn nodes_by_id(graph: &Graph, ids: &[String]) -> StoreResult<Vec<Node>> {
    let q = query(&format!("MATCH (n:Node) WHERE n.id IN $ids {NODE_RESULT}"))
        .param("ids", ids.to_vec());
    let mut found: HashMap<String, Node> = nodes_of(&read_rows(graph, q).await?)?
        .into_iter()
        .map(|n| (n.id.clone(), n))
        .collect();
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// The node `id` when it is shown.
pub(super) async fn get_node(graph: &Graph, id: &str, vis: &BoltType) -> StoreResult<Option<Node>> {
    let q = query(&format!(
        "MATCH (n:Node {{id: $id}}) WHERE {} {NODE_RESULT}",
        visible("n")
    ))
    .param("id", id)
    .param("vis", vis.clone());
    Ok(nodes_of(&read_rows(graph, q).await?)?.pop())
}

/// One filter as the parameter the query's `all(f IN $filters …)` reads: how to compare
/// (`absent`, `native` with the same Cypher type, or `json` text) and the stored key.
fn filter_param(name: &str, value: &Value) -> Value {
    let key = stored_key(name, NODE_KEYS);
    if value.is_null() {
        json!({"key": key, "kind": "absent"})
    } else if codec::is_native(value) {
        json!({"key": key, "kind": "native", "value": value})
    } else {
        json!({"key": key, "kind": "json", "value": value.to_string()})
    }
}

pub(super) async fn query_nodes(
    graph: &Graph,
    query: &NodeQuery,
    vis: &BoltType,
) -> StoreResult<Vec<Node>> {
    check_filters(&query.filters)?;
    let filters = query
        .filters
        .iter()
        .map(|(name, value)| filter_param(name, value))
        .collect();
    // Same Cypher type (so `true` never equals `1`, nor `1` equal `1.0`) and same value; values
    // stored as JSON text compare as text, and only with keys stored that way.
    let cypher = format!(
        "{} AND all(f IN $filters WHERE CASE f.kind
            WHEN 'absent' THEN n[f.key] IS NULL
            WHEN 'json' THEN f.key IN coalesce(n.mimir_json, []) AND n[f.key] = f.value
            ELSE NOT f.key IN coalesce(n.mimir_json, []) AND n[f.key] = f.value
                 AND valueType(n[f.key]) = valueType(f.value)
          END)
         {NODE_RESULT} ORDER BY n.created, n.id SKIP $offset LIMIT $limit",
        match_nodes(&query.node_types)
    );
    let q = with_types(cypher, &query.node_types, vis)
        .param("filters", bolt(Value::Array(filters))?)
        .param("offset", i64::try_from(query.offset).unwrap_or(i64::MAX))
        .param("limit", cypher_limit(query.limit));
    nodes_of(&read_rows(graph, q).await?)
}

pub(super) async fn count_nodes(
    graph: &Graph,
    types: &[String],
    vis: &BoltType,
) -> StoreResult<usize> {
    let cypher = format!("{} RETURN count(n) AS count", match_nodes(types));
    count_of(
        read_rows(graph, with_types(cypher, types, vis))
            .await?
            .first(),
        "count",
    )
}

pub(super) async fn count_by_type(
    graph: &Graph,
    vis: &BoltType,
) -> StoreResult<Vec<(String, usize)>> {
    let cypher = format!(
        "{} RETURN n.type AS type, count(*) AS count",
        match_nodes(&[])
    );
    let q = with_types(cypher, &[], vis);
    let mut counts = read_rows(graph, q)
        .await?
        .iter()
        .map(|row| Ok((row.get::<String>("type")?, count_of(Some(row), "count")?)))
        .collect::<StoreResult<Vec<_>>>()?;
    counts.sort();
    Ok(counts)
}

/// Case-insensitive substring match over ids and string properties. `CONTAINS` has no
/// wildcards, so the text is always a literal.
pub(super) async fn search_nodes(
    graph: &Graph,
    text: &str,
    types: &[String],
    limit: usize,
    vis: &BoltType,
) -> StoreResult<Vec<Node>> {
    let cypher = format!(
        "{} WITH n, toLower($text) AS needle
         WHERE toLower(n.id) CONTAINS needle
            OR any(k IN keys(n) WHERE NOT k IN $system AND NOT k IN coalesce(n.mimir_json, [])
                   AND n[k] IS :: STRING AND toLower(n[k]) CONTAINS needle)
         {NODE_RESULT} ORDER BY n.created, n.id LIMIT $limit",
        match_nodes(types)
    );
    // The classification label is not content (as in `embedding::node_text`).
    let system: Vec<String> = NODE_KEYS
        .iter()
        .chain([&crate::governance::SENSITIVITY_KEY])
        .map(|k| k.to_string())
        .collect();
    let q = with_types(cypher, types, vis)
        .param("text", text)
        .param("system", system)
        .param("limit", cypher_limit(limit));
    nodes_of(&read_rows(graph, q).await?)
}

/// Brute-force cosine similarity computed here, on the stored `f32` values, so scores equal
/// the embedded store's; then loads only the best nodes.
pub(super) async fn vector_search(
    graph: &Graph,
    query_vector: &[f32],
    types: &[String],
    limit: usize,
    min_similarity: f32,
    vis: &BoltType,
) -> StoreResult<Vec<ScoredNode>> {
    let cypher = format!(
        "{} AND n.embedding IS NOT NULL RETURN n.id AS id, n.embedding AS embedding",
        match_nodes(types)
    );
    let mut scored = Vec::new();
    for row in read_rows(graph, with_types(cypher, types, vis)).await? {
        let id: String = row.get("id")?;
        match row.get::<Vec<f64>>("embedding") {
            Ok(vector) if vector.len() == DIMENSIONS => {
                // Stored from `f32` values, so the conversion back is exact.
                let vector: Vec<f32> = vector.into_iter().map(|x| x as f32).collect();
                let score = similarity(query_vector, &vector);
                if score >= min_similarity {
                    scored.push((id, score));
                }
            }
            _ => tracing::warn!(node = %id, "skipping a node whose stored embedding is malformed"),
        }
    }
    // Best first; ties by id so results are deterministic.
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if limit > 0 {
        scored.truncate(limit);
    }
    let ids: Vec<String> = scored.iter().map(|(id, _)| id.clone()).collect();
    let mut nodes: HashMap<String, Node> = nodes_by_id(graph, &ids)
        .await?
        .into_iter()
        .map(|n| (n.id.clone(), n))
        .collect();
    Ok(scored
        .into_iter()
        .filter_map(|(id, similarity)| {
            nodes
                .remove(&id)
                .map(|node| ScoredNode { node, similarity })
        })
        .collect())
}
