//! Row decoding and the small helpers every statement of the embedded store shares.

use crate::store::{Edge, Node, Properties, StoreError, StoreResult, Visibility};
use rusqlite::types::Type;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Params, Row};

pub(super) const NODE_COLUMNS: &str =
    "id, type, properties, created, updated, created_by, updated_by";
pub(super) const EDGE_COLUMNS: &str = "id, source, target, type, properties, created, created_by";

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            // Checked explicitly before every insert; this only catches a race with another process.
            Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(e.to_string()),
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

pub(super) fn to_json(props: &Properties) -> StoreResult<String> {
    serde_json::to_string(props)
        .map_err(|e| StoreError::Backend(format!("encoding properties: {e}")))
}

/// JSON array of `types` for `json_each`, or NULL (no filter) when empty.
pub(super) fn types_param(types: &[String]) -> StoreResult<Option<String>> {
    if types.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(types)
        .map(Some)
        .map_err(|e| StoreError::Backend(format!("encoding types: {e}")))
}

/// The classification label of node row `alias` (its `sensitivity` property; NULL when absent
/// or `null`), exactly as the `schema` indexes hold it. Unparsable properties count as
/// unlabelled, so that reading such a row reports the damage (as for any caller) instead of
/// making the index, and every write, fail.
fn label(alias: &str) -> String {
    format!(
        "(CASE WHEN json_valid({alias}.properties)
            THEN json_extract({alias}.properties, '$.sensitivity') END)"
    )
}

/// Whether node row `alias` is shown by the [`Visibility`] bound at `?param` as JSON (see
/// `Visibility::to_json`), or by none (NULL: every node is shown).
pub(super) fn visible(alias: &str, param: usize) -> String {
    let label = label(alias);
    format!(
        "(?{param} IS NULL OR CASE WHEN {label} IS NULL
            THEN ({alias}.type IN (SELECT value FROM json_each(?{param}, '$.types')))
                 <> json_extract(?{param}, '$.allBut')
            ELSE {label} IN (SELECT value FROM json_each(?{param}, '$.labels'))
          END)"
    )
}

/// The parameter [`visible`] reads.
pub(super) fn visibility_param(visibility: Option<&Visibility>) -> Option<String> {
    visibility.map(|v| v.to_json().to_string())
}

/// SQLite's "no limit" is a negative LIMIT; ours is 0.
pub(super) fn sql_limit(limit: usize) -> i64 {
    if limit == 0 {
        -1
    } else {
        i64::try_from(limit).unwrap_or(i64::MAX)
    }
}

/// Damaged JSON in a row becomes a backend error, never a panic.
fn properties_at(row: &Row<'_>, index: usize) -> rusqlite::Result<Properties> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e)))
}

/// Reads a row selected with [`NODE_COLUMNS`].
pub(super) fn node_from_row(row: &Row<'_>) -> rusqlite::Result<Node> {
    Ok(Node {
        id: row.get(0)?,
        node_type: row.get(1)?,
        properties: properties_at(row, 2)?,
        created: row.get(3)?,
        updated: row.get(4)?,
        created_by: row.get(5)?,
        updated_by: row.get(6)?,
        sensitivity: None,
        pii: Vec::new(),
    })
}

/// Reads a row selected with [`EDGE_COLUMNS`].
fn edge_from_row(row: &Row<'_>) -> rusqlite::Result<Edge> {
    Ok(Edge {
        id: row.get(0)?,
        source: row.get(1)?,
        target: row.get(2)?,
        edge_type: row.get(3)?,
        properties: properties_at(row, 4)?,
        created: row.get(5)?,
        created_by: row.get(6)?,
    })
}

pub(super) fn select_nodes(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> StoreResult<Vec<Node>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let nodes = stmt
        .query_map(params, node_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(nodes)
}

pub(super) fn select_edges(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> StoreResult<Vec<Edge>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let edges = stmt
        .query_map(params, edge_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(edges)
}

pub(super) fn load_node(conn: &Connection, id: &str) -> StoreResult<Option<Node>> {
    let sql = format!("SELECT {NODE_COLUMNS} FROM nodes WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], node_from_row)
        .optional()?)
}

/// The node, or `NotFound` naming it.
pub(super) fn require_node(conn: &Connection, id: &str) -> StoreResult<Node> {
    load_node(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("node {id}")))
}

pub(super) fn node_exists(conn: &Connection, id: &str) -> StoreResult<bool> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM nodes WHERE id = ?1")?;
    Ok(stmt.exists([id])?)
}

/// Inserts `edge` with its properties as `properties_json`; the callers check its ends first.
pub(crate) fn insert_edge(
    conn: &Connection,
    edge: &Edge,
    properties_json: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO edges (id, source, target, type, properties, created, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute((
        &edge.id,
        &edge.source,
        &edge.target,
        &edge.edge_type,
        properties_json,
        &edge.created,
        &edge.created_by,
    ))?;
    Ok(())
}

/// Stores new properties of a node without touching its embedding or timestamps (locks).
pub(super) fn save_properties(conn: &Connection, id: &str, props: &Properties) -> StoreResult<()> {
    conn.prepare_cached("UPDATE nodes SET properties = ?2 WHERE id = ?1")?
        .execute((id, to_json(props)?))?;
    Ok(())
}
