//! Audit records of the core: one flat ECS-style JSON object per line (as the proxy's audit
//! trail, docs/audit.md), logged through `tracing` with target `audit` so that the log pipeline
//! or a SIEM can route them apart from the rest of the log.

use serde_json::{Map, Value};

/// Logs one record of `action` with `fields` (dotted keys) added.
pub fn record(action: &str, fields: Map<String, Value>) {
    let mut line = Map::new();
    line.insert("@timestamp".into(), crate::store::records::now().into());
    line.insert("event.kind".into(), "event".into());
    line.insert("event.category".into(), "database".into());
    line.insert("event.action".into(), action.into());
    line.insert("event.outcome".into(), "success".into());
    line.extend(fields);
    let line = Value::Object(line).to_string();
    tracing::info!(target: "audit", "{line}");
}
