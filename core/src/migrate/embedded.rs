//! Export and import of the embedded store's file, row by row, with embeddings and timestamps
//! as stored (`GraphStore` does not expose them). Columns as in docs/storage.md, "Schema".

use super::{Counts, Record, RecordReader};
use crate::store::codec::{decode_embedding, encode_embedding};
use crate::store::embedded::{self as store, EmbeddedStore};
use crate::store::{Edge, Node, Properties};
use anyhow::{bail, Context};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// Opens the file through the store first, so its schema is created or checked (a newer
/// release's file is refused), then directly.
fn open(db: &Path) -> anyhow::Result<Connection> {
    drop(EmbeddedStore::open(db)?);
    let conn = Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

fn properties(row: &Row<'_>, index: usize) -> anyhow::Result<Properties> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).context("damaged properties in the embedded store")
}

/// Hands every node, then every edge, to `sink`, from one read transaction (a consistent
/// snapshot even while the core keeps writing).
pub(super) fn export(
    db: &Path,
    sink: &mut dyn FnMut(Record) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut conn = open(db)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    {
        let mut stmt = tx.prepare(
            "SELECT id, type, properties, embedding, created, updated, created_by, updated_by
             FROM nodes ORDER BY created, id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let node = Node {
                id: row.get(0)?,
                node_type: row.get(1)?,
                properties: properties(row, 2)?,
                created: row.get(4)?,
                updated: row.get(5)?,
                created_by: row.get(6)?,
                updated_by: row.get(7)?,
                sensitivity: None,
                pii: Vec::new(),
            };
            let blob: Option<Vec<u8>> = row.get(3)?;
            let embedding = blob.as_deref().and_then(decode_embedding);
            sink(Record::Node { node, embedding })?;
        }
        let mut stmt = tx.prepare(
            "SELECT id, source, target, type, properties, created, created_by
             FROM edges ORDER BY created, id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let edge = Edge {
                id: row.get(0)?,
                source: row.get(1)?,
                target: row.get(2)?,
                edge_type: row.get(3)?,
                properties: properties(row, 4)?,
                created: row.get(5)?,
                created_by: row.get(6)?,
            };
            sink(Record::Edge { edge })?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Writes `records` into an empty store in one transaction: all or nothing.
pub(super) fn import(db: &Path, records: RecordReader) -> anyhow::Result<Counts> {
    let mut conn = open(db)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let existing: i64 = tx.query_row("SELECT count(*) FROM nodes", [], |r| r.get(0))?;
    if existing > 0 {
        bail!("the target store is not empty ({existing} nodes); import needs an empty store");
    }
    let mut counts = Counts::default();
    for item in records {
        let (line, record) = item?;
        match record {
            Record::Header { .. } => bail!("line {line}: a second header"),
            Record::Node { node, embedding } => {
                insert_node(&tx, &node, embedding.as_deref())
                    .with_context(|| format!("line {line}: node {}", node.id))?;
                counts.nodes += 1;
            }
            Record::Edge { edge } => {
                insert_edge(&tx, &edge)
                    .with_context(|| format!("line {line}: edge {}", edge.id))?;
                counts.edges += 1;
            }
        }
    }
    tx.commit()?;
    Ok(counts)
}

fn insert_node(conn: &Connection, node: &Node, embedding: Option<&[f32]>) -> anyhow::Result<()> {
    let taken = conn
        .query_row("SELECT 1 FROM nodes WHERE id = ?1", [&node.id], |_| Ok(()))
        .optional()?;
    if taken.is_some() {
        bail!("a node with this id already exists");
    }
    conn.prepare_cached(
        "INSERT INTO nodes (id, type, properties, embedding, created, updated, created_by, updated_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute((
        &node.id,
        &node.node_type,
        serde_json::to_string(&node.properties)?,
        embedding.map(encode_embedding),
        &node.created,
        &node.updated,
        &node.created_by,
        &node.updated_by,
    ))?;
    Ok(())
}

fn insert_edge(conn: &Connection, edge: &Edge) -> anyhow::Result<()> {
    for end in [&edge.source, &edge.target] {
        let found = conn
            .query_row("SELECT 1 FROM nodes WHERE id = ?1", [end], |_| Ok(()))
            .optional()?;
        if found.is_none() {
            bail!("node {end} does not exist (nodes must come before their edges)");
        }
    }
    store::insert_edge(conn, edge, &serde_json::to_string(&edge.properties)?)?;
    Ok(())
}
