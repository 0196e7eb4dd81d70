//! How write ops become stored nodes and edges, the same on every backend.

use super::properties::flatten;
use super::rules::check_name;
use super::{Edge, NewEdge, NewNode, Node, Properties, StoreResult};
use chrono::{SecondsFormat, Utc};
use uuid::Uuid;

/// Current time as RFC 3339 UTC with milliseconds (fixed width, so it sorts as text).
pub(crate) fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Flattened properties without `null` values: a missing key and `null` mean the same.
fn stored_properties(props: Properties) -> Properties {
    flatten(props)
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .collect()
}

/// The node `new` describes, created by `actor` at `now`; its id is `<type>-<uuid>` when absent.
pub(crate) fn new_node(new: NewNode, actor: Option<&str>, now: &str) -> StoreResult<Node> {
    check_name("node type", &new.node_type)?;
    let id = match new.id {
        Some(id) => {
            check_name("node id", &id)?;
            id
        }
        None => format!("{}-{}", new.node_type, Uuid::new_v4().simple()),
    };
    Ok(Node {
        id,
        properties: stored_properties(new.properties),
        node_type: new.node_type,
        created: now.to_owned(),
        updated: now.to_owned(),
        created_by: actor.map(str::to_owned),
        updated_by: actor.map(str::to_owned),
        sensitivity: None,
        pii: Vec::new(),
    })
}

/// Merges `changes` into `node` (a `null` value removes the key) as an update by `actor` at `now`.
pub(crate) fn update_node(node: &mut Node, changes: Properties, actor: Option<&str>, now: &str) {
    for (key, value) in flatten(changes) {
        if value.is_null() {
            node.properties.remove(&key);
        } else {
            node.properties.insert(key, value);
        }
    }
    node.updated = now.to_owned();
    node.updated_by = actor.map(str::to_owned);
}

/// The edge `new` describes, created by `actor` at `now`, with a fresh `edge-<uuid>` id.
pub(crate) fn new_edge(new: NewEdge, actor: Option<&str>, now: &str) -> StoreResult<Edge> {
    check_name("edge type", &new.edge_type)?;
    Ok(Edge {
        id: format!("edge-{}", Uuid::new_v4().simple()),
        source: new.source,
        target: new.target,
        edge_type: new.edge_type,
        properties: stored_properties(new.properties),
        created: now.to_owned(),
        created_by: actor.map(str::to_owned),
    })
}
