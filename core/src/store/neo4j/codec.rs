//! How nodes and edges map onto Neo4j properties (docs/storage.md, "Neo4j store").
//!
//! User properties are stored as properties of the node or relationship, as upstream Mimir does.
//! Two rules keep this lossless: a user property whose name the store uses itself (`id`, `type`,
//! …) or that starts with `~` is stored under `~name`; a value Neo4j cannot store exactly
//! (mixed or nested arrays, integers beyond `i64`) is stored as its JSON text and its key is
//! listed in [`JSON_KEYS`], so filters and search can tell it from a string.

use crate::store::{Edge, Node, Properties, StoreError, StoreResult};
use neo4rs::BoltType;
use serde_json::{Map, Value};

pub(super) const JSON_KEYS: &str = "mimir_json";
pub(super) const EMBEDDING: &str = "embedding";
/// Written and removed again to take a node's write lock (see `write::lock_node`).
pub(super) const LOCK_PROBE: &str = "mimir_lock";

/// Keys the store sets on `(:Node)`.
pub(super) const NODE_KEYS: &[&str] = &[
    "id",
    "type",
    "created",
    "updated",
    "created_by",
    "updated_by",
    EMBEDDING,
    JSON_KEYS,
    LOCK_PROBE,
];
/// Keys the store sets on `[:EDGE]`.
pub(super) const EDGE_KEYS: &[&str] = &["id", "type", "created", "created_by", JSON_KEYS];

const ESCAPE: char = '~';

/// The stored key of user property `key`.
pub(super) fn stored_key(key: &str, system: &[&str]) -> String {
    if system.contains(&key) || key.starts_with(ESCAPE) {
        format!("{ESCAPE}{key}")
    } else {
        key.to_owned()
    }
}

/// Whether Neo4j stores `value` as a property and gives back the same JSON value: scalars
/// (integers within `i64`) and homogeneous lists of one scalar type.
pub(super) fn is_native(value: &Value) -> bool {
    fn kind(value: &Value) -> Option<u8> {
        match value {
            Value::Bool(_) => Some(0),
            Value::String(_) => Some(1),
            Value::Number(n) if n.is_i64() => Some(2),
            Value::Number(n) if n.is_f64() => Some(3),
            _ => None,
        }
    }
    match value {
        Value::Array(items) => {
            let first = items.first().map(kind);
            first.is_none_or(|k| k.is_some() && items.iter().all(|v| kind(v) == k))
        }
        other => kind(other).is_some(),
    }
}

/// User properties in stored form: native values as they are, the rest as JSON text.
pub(super) struct Encoded {
    pub values: Map<String, Value>,
    pub json_keys: Vec<String>,
}

pub(super) fn encode(props: &Properties, system: &[&str]) -> Encoded {
    let mut encoded = Encoded {
        values: Map::new(),
        json_keys: Vec::new(),
    };
    for (key, value) in props {
        let key = stored_key(key, system);
        let value = if is_native(value) {
            value.clone()
        } else {
            encoded.json_keys.push(key.clone());
            Value::String(value.to_string())
        };
        encoded.values.insert(key, value);
    }
    encoded
}

/// The `SET x += $changes` map that turns stored properties `old` into `new` (a `null` value
/// removes a key in Cypher).
pub(super) fn changes(old: &Properties, new: &Properties, system: &[&str]) -> Map<String, Value> {
    let Encoded {
        mut values,
        json_keys,
    } = encode(new, system);
    for key in old.keys() {
        values.entry(stored_key(key, system)).or_insert(Value::Null);
    }
    values.insert(JSON_KEYS.into(), json_list(json_keys));
    values
}

/// The list of JSON-encoded keys, or `null` (no property) when there is none.
pub(super) fn json_list(keys: Vec<String>) -> Value {
    if keys.is_empty() {
        Value::Null
    } else {
        keys.into()
    }
}

/// Every property of a new node, embedding included.
pub(super) fn node_record(node: &Node, embedding: Option<&[f32]>) -> Map<String, Value> {
    let Encoded {
        mut values,
        json_keys,
    } = encode(&node.properties, NODE_KEYS);
    values.insert("id".into(), node.id.clone().into());
    values.insert("type".into(), node.node_type.clone().into());
    values.insert("created".into(), node.created.clone().into());
    values.insert("updated".into(), node.updated.clone().into());
    values.insert("created_by".into(), node.created_by.clone().into());
    values.insert("updated_by".into(), node.updated_by.clone().into());
    values.insert(
        EMBEDDING.into(),
        embedding.map_or(Value::Null, embedding_value),
    );
    values.insert(JSON_KEYS.into(), json_list(json_keys));
    values.retain(|_, v| !v.is_null());
    values
}

/// Every property of a new edge.
pub(super) fn edge_record(edge: &Edge) -> Map<String, Value> {
    let Encoded {
        mut values,
        json_keys,
    } = encode(&edge.properties, EDGE_KEYS);
    values.insert("id".into(), edge.id.clone().into());
    values.insert("type".into(), edge.edge_type.clone().into());
    values.insert("created".into(), edge.created.clone().into());
    values.insert("created_by".into(), edge.created_by.clone().into());
    values.insert(JSON_KEYS.into(), json_list(json_keys));
    values.retain(|_, v| !v.is_null());
    values
}

pub(super) fn embedding_value(vector: &[f32]) -> Value {
    vector.iter().map(|x| Value::from(f64::from(*x))).collect()
}

/// A JSON value as a Cypher parameter.
pub(super) fn bolt(value: Value) -> StoreResult<BoltType> {
    BoltType::try_from(value)
        .map_err(|e| StoreError::Backend(format!("encoding a query parameter: {e}")))
}

fn damaged(what: &str) -> StoreError {
    StoreError::Backend(format!("damaged record in Neo4j: {what}"))
}

fn take_string(map: &mut Map<String, Value>, key: &str) -> StoreResult<String> {
    match map.remove(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(damaged(&format!("{key} is missing or not a string"))),
    }
}

fn take_optional_string(map: &mut Map<String, Value>, key: &str) -> StoreResult<Option<String>> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(damaged(&format!("{key} is not a string"))),
    }
}

/// User properties from what remains of a stored map once the store's own keys are taken out.
fn user_properties(map: Map<String, Value>, system: &[&str]) -> StoreResult<Properties> {
    let json_keys: Vec<String> = match map.get(JSON_KEYS) {
        None | Some(Value::Null) => Vec::new(),
        Some(keys) => serde_json::from_value(keys.clone())
            .map_err(|_| damaged("the list of JSON-encoded keys"))?,
    };
    let mut props = Properties::new();
    for (stored, value) in map {
        if system.contains(&stored.as_str()) {
            continue;
        }
        let value = if json_keys.contains(&stored) {
            let text = value.as_str().ok_or_else(|| damaged(&stored))?;
            serde_json::from_str(text).map_err(|_| damaged(&stored))?
        } else {
            value
        };
        let key = match stored.strip_prefix(ESCAPE) {
            Some(key) => key.to_owned(),
            None => stored,
        };
        props.insert(key, value);
    }
    Ok(props)
}

fn into_map(value: Value) -> StoreResult<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(damaged("expected a property map")),
    }
}

/// A node from the property map of a `(:Node)`.
pub(super) fn node_from(value: Value) -> StoreResult<Node> {
    let mut map = into_map(value)?;
    Ok(Node {
        id: take_string(&mut map, "id")?,
        node_type: take_string(&mut map, "type")?,
        created: take_string(&mut map, "created")?,
        updated: take_string(&mut map, "updated")?,
        created_by: take_optional_string(&mut map, "created_by")?,
        updated_by: take_optional_string(&mut map, "updated_by")?,
        sensitivity: None,
        pii: Vec::new(),
        properties: user_properties(map, NODE_KEYS)?,
    })
}

/// An edge from the property map of an `[:EDGE]` and the ids of its ends.
pub(super) fn edge_from(value: Value, source: String, target: String) -> StoreResult<Edge> {
    let mut map = into_map(value)?;
    Ok(Edge {
        id: take_string(&mut map, "id")?,
        edge_type: take_string(&mut map, "type")?,
        created: take_string(&mut map, "created")?,
        created_by: take_optional_string(&mut map, "created_by")?,
        source,
        target,
        properties: user_properties(map, EDGE_KEYS)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(value: Value) -> Properties {
        into_map(value).expect("object")
    }

    #[test]
    fn native_values_are_scalars_and_homogeneous_lists() {
        for native in [
            json!(true),
            json!("x"),
            json!(-3),
            json!(1.5),
            json!([]),
            json!(["a", "b"]),
            json!([1, 2]),
            json!([1.0, 2.5]),
        ] {
            assert!(is_native(&native), "{native}");
        }
        for other in [
            json!(null),
            json!(u64::MAX),
            json!([1, 1.5]),
            json!([1, "a"]),
            json!([[1]]),
            json!([{"a": 1}]),
            json!([null]),
            json!({"a": 1}),
        ] {
            assert!(!is_native(&other), "{other}");
        }
    }

    #[test]
    fn nodes_round_trip_through_their_stored_form() {
        let node = Node {
            id: "n1".into(),
            node_type: "note".into(),
            properties: props(json!({
                "title": "t", "id": "shadow", "~x": 1, "mixed": [1, "a"], "big": u64::MAX,
                "list": [1, 2], "embedding": "user's", "mimir_json": ["fake"]
            })),
            created: "2024-01-01T00:00:00.000Z".into(),
            updated: "2024-01-02T00:00:00.000Z".into(),
            created_by: Some("alice".into()),
            updated_by: None,
            sensitivity: None,
            pii: Vec::new(),
        };
        let mut stored = node_record(&node, Some(&[0.5, -0.25]));
        assert_eq!(stored["~id"], json!("shadow"));
        assert_eq!(stored["~~x"], json!(1));
        assert_eq!(stored["mixed"], json!("[1,\"a\"]"));
        assert_eq!(stored[EMBEDDING], json!([0.5, -0.25]));
        assert!(!stored.contains_key("updated_by"));
        stored.remove(EMBEDDING);
        assert_eq!(node_from(Value::Object(stored)).expect("decode"), node);
    }

    #[test]
    fn changes_remove_dropped_keys_and_escape_names() {
        let old = props(json!({"a": 1, "type": "x", "m": [1, "a"]}));
        let new = props(json!({"a": 2}));
        assert_eq!(
            Value::Object(changes(&old, &new, NODE_KEYS)),
            json!({"a": 2, "~type": null, "m": null, "mimir_json": null})
        );
    }

    #[test]
    fn damaged_maps_are_errors() {
        assert!(node_from(json!({"id": "x"})).is_err());
        assert!(node_from(json!("text")).is_err());
        let bad_json = json!({"id": "x", "type": "t", "created": "c", "updated": "u",
                              "p": "{not json", "mimir_json": ["p"]});
        assert!(node_from(bad_json).is_err());
    }
}
