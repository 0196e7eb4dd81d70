//! Property normalisation shared by every backend and entry point (REST, MCP).

use super::Properties;
use serde_json::Value;

/// Flattens nested objects into `parent_child` keys, as upstream Mimir does, because graph
/// backends (Neo4j) store only scalars and arrays as property values. Arrays are kept as they
/// are, `null` is kept (an update uses it to remove a key), and an empty object yields no key.
/// Depth is bounded by `serde_json`'s parse recursion limit, so the recursion is safe.
pub fn flatten(props: Properties) -> Properties {
    let mut flat = Properties::new();
    for (key, value) in props {
        insert_flat(&mut flat, key, value);
    }
    flat
}

fn insert_flat(flat: &mut Properties, key: String, value: Value) {
    match value {
        Value::Object(inner) => {
            for (child, value) in inner {
                insert_flat(flat, format!("{key}_{child}"), value);
            }
        }
        scalar_or_array => {
            flat.insert(key, scalar_or_array);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(value: Value) -> Properties {
        match value {
            Value::Object(map) => map,
            _ => Properties::new(),
        }
    }

    #[test]
    fn flattens_nested_objects_and_keeps_the_rest() {
        let nested = props(json!({
            "name": "x",
            "meta": {"author": {"id": 7}, "tags": ["a", {"b": 1}]},
            "gone": null,
            "empty": {}
        }));
        let expected = props(json!({
            "name": "x",
            "meta_author_id": 7,
            "meta_tags": ["a", {"b": 1}],
            "gone": null
        }));
        assert_eq!(flatten(nested), expected);
    }

    #[test]
    fn flat_input_is_unchanged() {
        let flat = props(json!({"a": 1, "b_c": "d"}));
        assert_eq!(flatten(flat.clone()), flat);
    }
}
