//! Retention: nodes of a type with a time to live are deleted, with their edges, once that
//! long has passed since they were created. A scheduler sweeps at a fixed interval; each
//! deletion batch leaves one audit record.

use super::clock::Clock;
use crate::store::{GraphStore, NodeQuery, StoreResult, WriteOp};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Nodes deleted per transaction (and per audit record).
const BATCH: usize = 500;

/// Time to live per node type (`session=30d,log=7d`); types not listed are kept forever.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionPolicy {
    ttl: BTreeMap<String, Duration>,
}

impl RetentionPolicy {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut ttl = BTreeMap::new();
        for (node_type, duration) in super::pairs(text)? {
            let duration = super::parse_duration(duration)?;
            if ttl.insert(node_type.to_owned(), duration).is_some() {
                return Err(format!("node type {node_type:?} is listed twice"));
            }
        }
        Ok(Self { ttl })
    }

    pub fn is_empty(&self) -> bool {
        self.ttl.is_empty()
    }
}

/// Deletes every node whose type's time to live has passed at `now`; returns how many.
pub async fn sweep(
    store: &dyn GraphStore,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let mut deleted = 0;
    for (node_type, ttl) in &policy.ttl {
        let Ok(ttl) = chrono::Duration::from_std(*ttl) else {
            continue;
        };
        let Some(cutoff) = now.checked_sub_signed(ttl) else {
            continue;
        };
        // Stored timestamps have this fixed-width form, so text order is time order.
        let cutoff = cutoff.to_rfc3339_opts(SecondsFormat::Millis, true);
        loop {
            let ids = expired(store, node_type, &cutoff).await?;
            if ids.is_empty() {
                break;
            }
            let ops = ids
                .iter()
                .map(|id| WriteOp::DeleteNode { id: id.clone() })
                .collect();
            store.apply(ops, None).await?;
            deleted += ids.len();
            let mut fields = Map::new();
            fields.insert("node.type".into(), json!(node_type));
            fields.insert("node.count".into(), json!(ids.len()));
            fields.insert("node.ids".into(), json!(ids));
            super::audit::record("retention.delete", fields);
        }
    }
    Ok(deleted)
}

/// Up to one batch of ids of `node_type` created before `cutoff`, oldest first.
async fn expired(
    store: &dyn GraphStore,
    node_type: &str,
    cutoff: &str,
) -> StoreResult<Vec<String>> {
    let query = NodeQuery {
        node_types: vec![node_type.to_owned()],
        limit: BATCH,
        ..NodeQuery::default()
    };
    Ok(store
        .query_nodes(&query)
        .await?
        .into_iter()
        .take_while(|node| node.created.as_str() < cutoff)
        .map(|node| node.id)
        .collect())
}

/// Runs [`sweep`] now and then every `interval` until the task is aborted. Failures are
/// logged and retried at the next tick.
pub fn spawn(
    store: Arc<dyn GraphStore>,
    policy: RetentionPolicy,
    interval: Duration,
    clock: Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = sweep(store.as_ref(), &policy, clock.now()).await {
                tracing::error!(error = %e, "retention sweep failed; retrying at the next interval");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ttls() {
        let policy = RetentionPolicy::parse("session=30d, log=7d").unwrap();
        assert_eq!(policy.ttl["log"], Duration::from_secs(7 * 86_400));
        assert!(RetentionPolicy::parse("").unwrap().is_empty());
        assert!(RetentionPolicy::parse("log=7").is_err());
        assert!(RetentionPolicy::parse("log=1d,log=2d").is_err());
    }
}
