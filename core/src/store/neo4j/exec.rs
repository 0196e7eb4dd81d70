//! Running Cypher: reads on the pool, writes inside explicit transactions.

use crate::store::StoreResult;
use neo4rs::{Graph, Query, Row, Txn};

/// All rows of a read-only auto-commit query.
pub(super) async fn read_rows(graph: &Graph, query: Query) -> StoreResult<Vec<Row>> {
    let mut stream = graph.execute_read(query).await?;
    let mut rows = Vec::new();
    while let Some(row) = stream.next().await? {
        rows.push(row);
    }
    Ok(rows)
}

/// All rows of a query inside `txn`.
pub(super) async fn txn_rows(txn: &mut Txn, query: Query) -> StoreResult<Vec<Row>> {
    let mut stream = txn.execute(query).await?;
    let mut rows = Vec::new();
    while let Some(row) = stream.next(txn.handle()).await? {
        rows.push(row);
    }
    Ok(rows)
}

/// The integer `column` of the single row of a query inside `txn` (0 without a row).
pub(super) async fn txn_count(txn: &mut Txn, query: Query, column: &str) -> StoreResult<usize> {
    let rows = txn_rows(txn, query).await?;
    count_of(rows.first(), column)
}

/// The integer `column` of `row` as a count (0 without a row).
pub(super) fn count_of(row: Option<&Row>, column: &str) -> StoreResult<usize> {
    match row {
        Some(row) => Ok(usize::try_from(row.get::<i64>(column)?).unwrap_or_default()),
        None => Ok(0),
    }
}

/// Commits `txn` when `result` is a success, rolls it back otherwise. Should the rollback fail
/// (connection lost), the server drops the transaction with the connection, and a pooled
/// connection is reset before reuse, so nothing of the batch can be committed later.
pub(super) async fn finish<T>(txn: Txn, result: StoreResult<T>) -> StoreResult<T> {
    match result {
        Ok(value) => {
            txn.commit().await?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = txn.rollback().await {
                tracing::warn!(error = %rollback, "rolling back a Neo4j transaction failed");
            }
            Err(e)
        }
    }
}
