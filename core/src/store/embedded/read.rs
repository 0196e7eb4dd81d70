//! Queries of the embedded store. SQL text is built only from constants; every value taken from
//! a caller (types, property names and values, search text) is a bound parameter.

use super::rows::{
    require_node, select_edges, select_nodes, sql_limit, types_param, visible, EDGE_COLUMNS,
    NODE_COLUMNS,
};
use crate::embedding::similarity;
use crate::store::codec::decode_embedding;
use crate::store::rules::check_filters;
use crate::store::walk::Walk;
use crate::store::{
    Direction, Edge, Node, NodeQuery, ScoredNode, StoreError, StoreResult, Subgraph,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection};

/// Nodes of the bound type list `?1` (`json_each` of a JSON array; NULL: every type) that the
/// visibility bound at `?2` shows.
fn shown_nodes() -> String {
    format!(
        "(?1 IS NULL OR type IN (SELECT value FROM json_each(?1))) AND {}",
        visible("nodes", 2)
    )
}

/// The node `id` when it is shown.
pub(super) fn get_node(
    conn: &Connection,
    id: &str,
    vis: Option<&str>,
) -> StoreResult<Option<Node>> {
    let sql = format!(
        "SELECT {NODE_COLUMNS} FROM nodes WHERE id = ?1 AND {}",
        visible("nodes", 2)
    );
    Ok(select_nodes(conn, &sql, (id, vis))?.pop())
}

/// The node `id` when it is shown, or `NotFound` naming it.
fn require_shown(conn: &Connection, id: &str, vis: Option<&str>) -> StoreResult<Node> {
    get_node(conn, id, vis)?.ok_or_else(|| StoreError::NotFound(format!("node {id}")))
}

pub(super) fn query_nodes(
    conn: &Connection,
    query: &NodeQuery,
    vis: Option<&str>,
) -> StoreResult<Vec<Node>> {
    // Checked names are safe inside the JSON path built below.
    check_filters(&query.filters)?;
    let mut params = vec![
        SqlValue::from(types_param(&query.node_types)?),
        SqlValue::from(vis.map(str::to_owned)),
    ];
    let mut sql = format!("SELECT {NODE_COLUMNS} FROM nodes WHERE {}", shown_nodes());
    for (name, value) in &query.filters {
        let (path, json) = (params.len() + 1, params.len() + 2);
        // Same JSON type (so `true` never equals `1`) and same value; objects and arrays compare
        // as SQLite's minified JSON. A `null` filter matches nodes without the property.
        sql.push_str(&format!(
            " AND CASE json_type(?{json})
                 WHEN 'null' THEN json_type(properties, ?{path}) IS NULL
                 ELSE json_type(properties, ?{path}) IS json_type(?{json})
                      AND json_extract(properties, ?{path}) IS json_extract(?{json}, '$')
               END"
        ));
        params.push(SqlValue::Text(format!("$.\"{name}\"")));
        params.push(SqlValue::Text(value.to_string()));
    }
    sql.push_str(&format!(
        " ORDER BY created, id LIMIT ?{} OFFSET ?{}",
        params.len() + 1,
        params.len() + 2
    ));
    params.push(SqlValue::Integer(sql_limit(query.limit)));
    params.push(SqlValue::Integer(
        i64::try_from(query.offset).unwrap_or(i64::MAX),
    ));
    select_nodes(conn, &sql, params_from_iter(params))
}

pub(super) fn count_nodes(
    conn: &Connection,
    types: &[String],
    vis: Option<&str>,
) -> StoreResult<usize> {
    let sql = format!("SELECT count(*) FROM nodes WHERE {}", shown_nodes());
    let count: i64 = conn
        .prepare_cached(&sql)?
        .query_row((types_param(types)?, vis), |r| r.get(0))?;
    Ok(usize::try_from(count).unwrap_or_default())
}

pub(super) fn count_by_type(
    conn: &Connection,
    vis: Option<&str>,
) -> StoreResult<Vec<(String, usize)>> {
    let sql = format!(
        "SELECT type, count(*) FROM nodes WHERE {} GROUP BY type ORDER BY type",
        shown_nodes()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let counts = stmt
        .query_map((None::<String>, vis), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?
        .map(|row| row.map(|(t, n)| (t, usize::try_from(n).unwrap_or_default())))
        .collect::<rusqlite::Result<_>>()?;
    Ok(counts)
}

/// `text` as a LIKE pattern matching it anywhere, with `%`, `_` and the escape itself escaped.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Case-insensitive (ASCII, as SQLite's LIKE) substring match over ids and string properties
/// (the classification label excepted, as in `embedding::node_text`).
pub(super) fn search_nodes(
    conn: &Connection,
    text: &str,
    types: &[String],
    limit: usize,
    vis: Option<&str>,
) -> StoreResult<Vec<Node>> {
    let sql = format!(
        r"SELECT {NODE_COLUMNS} FROM nodes WHERE {}
          AND (id LIKE ?3 ESCAPE '\'
               OR EXISTS (SELECT 1 FROM json_each(nodes.properties) AS p
                          WHERE p.type = 'text' AND p.key <> 'sensitivity'
                                AND p.value LIKE ?3 ESCAPE '\'))
          ORDER BY created, id LIMIT ?4",
        shown_nodes()
    );
    let params = (
        types_param(types)?,
        vis,
        contains_pattern(text),
        sql_limit(limit),
    );
    select_nodes(conn, &sql, params)
}

/// Brute-force cosine similarity: scores every embedding, then loads only the best nodes.
pub(super) fn vector_search(
    conn: &Connection,
    query: &[f32],
    types: &[String],
    limit: usize,
    min_similarity: f32,
    vis: Option<&str>,
) -> StoreResult<Vec<ScoredNode>> {
    let sql = format!(
        "SELECT id, embedding FROM nodes WHERE {} AND embedding IS NOT NULL",
        shown_nodes()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query((types_param(types)?, vis))?;
    let mut scored = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let blob: Vec<u8> = row.get(1)?;
        match decode_embedding(&blob) {
            Some(vector) => {
                let score = similarity(query, &vector);
                if score >= min_similarity {
                    scored.push((id, score));
                }
            }
            None => {
                tracing::warn!(node = %id, "skipping a node whose stored embedding is malformed")
            }
        }
    }
    // Best first; ties by id so results are deterministic.
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if limit > 0 {
        scored.truncate(limit);
    }
    scored
        .into_iter()
        .map(|(id, similarity)| {
            Ok(ScoredNode {
                node: require_node(conn, &id)?,
                similarity,
            })
        })
        .collect()
}

fn direction_param(direction: Direction) -> &'static str {
    match direction {
        Direction::In => "in",
        Direction::Out => "out",
        Direction::Both => "both",
    }
}

/// Whether both ends of edge row `edges` are shown by the visibility bound at `?param`.
fn ends_shown(param: usize) -> String {
    format!(
        "(?{param} IS NULL OR (
            EXISTS (SELECT 1 FROM nodes AS s WHERE s.id = edges.source AND {})
            AND EXISTS (SELECT 1 FROM nodes AS t WHERE t.id = edges.target AND {})))",
        visible("s", param),
        visible("t", param)
    )
}

/// The edge `id` when both its ends are shown.
pub(super) fn get_edge(
    conn: &Connection,
    id: &str,
    vis: Option<&str>,
) -> StoreResult<Option<Edge>> {
    let sql = format!(
        "SELECT {EDGE_COLUMNS} FROM edges WHERE id = ?1 AND {}",
        ends_shown(2)
    );
    Ok(select_edges(conn, &sql, (id, vis))?.pop())
}

/// Shown edges touching `id`, without checking that the node exists.
fn edges_touching(
    conn: &Connection,
    id: &str,
    direction: Direction,
    edge_type: Option<&str>,
    vis: Option<&str>,
) -> StoreResult<Vec<Edge>> {
    let sql = format!(
        "SELECT {EDGE_COLUMNS} FROM edges
         WHERE ((?2 <> 'in' AND source = ?1) OR (?2 <> 'out' AND target = ?1))
           AND (?3 IS NULL OR type = ?3) AND {}
         ORDER BY created, id",
        ends_shown(4)
    );
    select_edges(conn, &sql, (id, direction_param(direction), edge_type, vis))
}

pub(super) fn edges_of(
    conn: &Connection,
    id: &str,
    direction: Direction,
    edge_type: Option<&str>,
    vis: Option<&str>,
) -> StoreResult<Vec<Edge>> {
    require_shown(conn, id, vis)?;
    edges_touching(conn, id, direction, edge_type, vis)
}

/// Breadth-first walk up to `depth` hops over shown nodes; nodes in discovery order, the start
/// node excluded.
pub(super) fn neighborhood(
    conn: &Connection,
    start: &str,
    direction: Direction,
    edge_type: Option<&str>,
    depth: usize,
    vis: Option<&str>,
) -> StoreResult<Subgraph> {
    require_shown(conn, start, vis)?;
    let mut walk = Walk::new(start);
    for _ in 0..depth {
        if !walk.hop(|id| edges_touching(conn, id, direction, edge_type, vis))? {
            break;
        }
    }
    let (found, edges) = walk.into_parts();
    let nodes = found
        .iter()
        .map(|id| require_node(conn, id))
        .collect::<StoreResult<_>>()?;
    Ok(Subgraph { nodes, edges })
}
