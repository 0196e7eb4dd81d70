//! Connection settings and schema of the embedded store.

use anyhow::bail;
use rusqlite::Connection;
use std::time::Duration;

/// Bumped whenever the schema changes; a file from a newer release is refused, not guessed at.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS nodes (
    id          TEXT PRIMARY KEY NOT NULL,
    type        TEXT NOT NULL,
    properties  TEXT NOT NULL DEFAULT '{}',   -- flat JSON object
    embedding   BLOB,                         -- f32 little-endian, embedding::DIMENSIONS values
    created     TEXT NOT NULL,                -- RFC 3339 UTC, fixed width so text order = time order
    updated     TEXT NOT NULL,
    created_by  TEXT,
    updated_by  TEXT
);
-- Listings in (created, id) order, of some types or all. Each index ends with the type and the
-- classification label (the expression of `rows::label`), so what a caller may not see is
-- skipped, and counted, within the index (`rows::visible`). They replace the plain
-- `nodes_by_type` and `nodes_by_created` of files written before classification; neither
-- change touches a table, so earlier releases still read the file (and recreate their own).
DROP INDEX IF EXISTS nodes_by_type;
DROP INDEX IF EXISTS nodes_by_created;
CREATE INDEX IF NOT EXISTS nodes_by_type_label ON nodes (type, created, id,
    (CASE WHEN json_valid(properties) THEN json_extract(properties, '$.sensitivity') END));
CREATE INDEX IF NOT EXISTS nodes_by_created_label ON nodes (created, id, type,
    (CASE WHEN json_valid(properties) THEN json_extract(properties, '$.sensitivity') END));

CREATE TABLE IF NOT EXISTS edges (
    id          TEXT PRIMARY KEY NOT NULL,
    source      TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    target      TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    properties  TEXT NOT NULL DEFAULT '{}',
    created     TEXT NOT NULL,
    created_by  TEXT
);
CREATE INDEX IF NOT EXISTS edges_by_source ON edges (source, type);
CREATE INDEX IF NOT EXISTS edges_by_target ON edges (target, type);
";

/// Sets the connection up and creates the schema when missing.
pub(super) fn prepare(conn: &Connection) -> anyhow::Result<()> {
    // WAL: readers of other processes (backups, sqlite3 shell) do not block the writer, and a
    // commit appends to the log instead of rewriting pages.
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("the file system does not support WAL (journal mode is {mode})");
    }
    // FULL: with WAL, NORMAL may lose the last commits on power failure. An acknowledged write
    // (a 201 to an agent, an erasure request answered) must survive, so every commit is synced;
    // batches via `apply` keep the fsync count low.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Off by default in SQLite; edges must never point at missing nodes.
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Another process holding the write lock (e.g. a backup) makes us wait, not fail at once.
    conn.busy_timeout(Duration::from_secs(5))?;

    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        bail!("schema version {version} is newer than this release supports ({SCHEMA_VERSION})");
    }
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
    ))?;
    Ok(())
}
