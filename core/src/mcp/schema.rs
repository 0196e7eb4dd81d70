//! The tools' input schemas: builders for the JSON Schema subset we publish, and a validator for
//! that same subset, so the schema a client sees is exactly what a call is checked against.
//! Supported keywords: type, enum, properties, required, items, minimum, maximum, maxItems,
//! minLength. A `null` value counts as an absent optional argument.

use serde_json::{json, Map, Value};

pub fn object(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required })
}

pub fn string(description: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "description": description })
}

pub fn one_of(values: &[&str], description: &str) -> Value {
    json!({ "type": "string", "enum": values, "description": description })
}

pub fn integer(min: i64, max: i64, description: &str) -> Value {
    json!({ "type": "integer", "minimum": min, "maximum": max, "description": description })
}

pub fn number(min: f64, max: f64, description: &str) -> Value {
    json!({ "type": "number", "minimum": min, "maximum": max, "description": description })
}

pub fn boolean(description: &str) -> Value {
    json!({ "type": "boolean", "description": description })
}

/// An object with arbitrary keys (node properties, filters).
pub fn free_object(description: &str) -> Value {
    json!({ "type": "object", "additionalProperties": true, "description": description })
}

pub fn array(items: Value, max_items: usize, description: &str) -> Value {
    json!({ "type": "array", "items": items, "maxItems": max_items, "description": description })
}

/// The `confirm` / `confirmationId` pair of destructive tools.
pub fn confirmation_properties(properties: &mut Value) {
    if let Value::Object(map) = properties {
        map.insert(
            "confirm".into(),
            boolean(
                "Set to true, with confirmationId, to execute a previewed destructive operation",
            ),
        );
        map.insert(
            "confirmationId".into(),
            string("Confirmation id returned by the preview call (required when confirm is true)"),
        );
    }
}

/// Checks `arguments` against `schema`; the error names the offending argument.
pub fn validate(schema: &Value, arguments: &Map<String, Value>) -> Result<(), String> {
    check_object(schema, arguments, "")
}

fn check(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    let name = if path.is_empty() { "arguments" } else { path };
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        if !has_type(value, expected) {
            return Err(format!(
                "'{name}' must be {} {expected}, got {}",
                article(expected),
                type_name(value)
            ));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Err(format!("'{name}' must be one of {}", list.join(", ")));
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema
            .get("minimum")
            .and_then(Value::as_f64)
            .filter(|min| n < *min)
        {
            return Err(format!("'{name}' must be at least {min}"));
        }
        if let Some(max) = schema
            .get("maximum")
            .and_then(Value::as_f64)
            .filter(|max| n > *max)
        {
            return Err(format!("'{name}' must be at most {max}"));
        }
    }
    if let (Some(s), Some(min)) = (
        value.as_str(),
        schema.get("minLength").and_then(Value::as_u64),
    ) {
        if (s.chars().count() as u64) < min {
            return Err(format!("'{name}' must not be empty"));
        }
    }
    match value {
        Value::Object(map) => check_object(schema, map, path),
        Value::Array(items) => check_array(schema, items, name),
        _ => Ok(()),
    }
}

fn check_object(schema: &Value, map: &Map<String, Value>, path: &str) -> Result<(), String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    for key in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = key.as_str().unwrap_or_default();
        if map.get(key).is_none_or(Value::is_null) {
            return Err(format!("'{}' is required", join(key)));
        }
    }
    for (key, sub) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        match map.get(key) {
            None | Some(Value::Null) => {}
            Some(value) => check(sub, value, &join(key))?,
        }
    }
    Ok(())
}

fn check_array(schema: &Value, items: &[Value], name: &str) -> Result<(), String> {
    let len = items.len() as u64;
    if let Some(max) = schema
        .get("maxItems")
        .and_then(Value::as_u64)
        .filter(|max| len > *max)
    {
        return Err(format!("'{name}' must have at most {max} items"));
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{name}[{i}]"))?;
        }
    }
    Ok(())
}

fn has_type(value: &Value, expected: &str) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        // JSON Schema counts 2.0 as an integer too.
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn article(type_name: &str) -> &'static str {
    if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        object(
            json!({
                "operation": one_of(&["add", "get"], "op"),
                "id": string("id"),
                "depth": integer(1, 3, "depth"),
                "score": number(0.0, 1.0, "score"),
                "flag": boolean("flag"),
                "props": free_object("props"),
                "nodes": array(object(json!({"type": string("t")}), &["type"]), 2, "nodes"),
            }),
            &["operation"],
        )
    }

    fn run(args: Value) -> Result<(), String> {
        validate(&schema(), args.as_object().unwrap())
    }

    #[test]
    fn valid_arguments_pass() {
        assert_eq!(run(json!({"operation":"add"})), Ok(()));
        assert_eq!(
            run(
                json!({"operation":"get","id":"x","depth":2.0,"score":0.5,"flag":false,"props":{"a":{"b":1}},
                "nodes":[{"type":"memory"}],"unknown":1,"id2":null})
            ),
            Ok(())
        );
        assert_eq!(
            run(json!({"operation":"get","id":null})),
            Ok(()),
            "null is an absent optional argument"
        );
    }

    #[test]
    fn errors_name_the_argument() {
        assert_eq!(run(json!({})), Err("'operation' is required".into()));
        assert_eq!(
            run(json!({"operation":null})),
            Err("'operation' is required".into())
        );
        assert_eq!(
            run(json!({"operation":"drop"})),
            Err("'operation' must be one of \"add\", \"get\"".into())
        );
        assert_eq!(
            run(json!({"operation":"add","id":5})),
            Err("'id' must be a string, got number".into())
        );
        assert_eq!(
            run(json!({"operation":"add","id":""})),
            Err("'id' must not be empty".into())
        );
        assert_eq!(
            run(json!({"operation":"add","depth":"2"})),
            Err("'depth' must be an integer, got string".into())
        );
        assert_eq!(
            run(json!({"operation":"add","depth":1.5})),
            Err("'depth' must be an integer, got number".into())
        );
        assert_eq!(
            run(json!({"operation":"add","depth":9})),
            Err("'depth' must be at most 3".into())
        );
        assert_eq!(
            run(json!({"operation":"add","score":-1})),
            Err("'score' must be at least 0".into())
        );
        assert_eq!(
            run(json!({"operation":"add","flag":"yes"})),
            Err("'flag' must be a boolean, got string".into())
        );
        assert_eq!(
            run(json!({"operation":"add","props":[1]})),
            Err("'props' must be an object, got array".into())
        );
        assert_eq!(
            run(json!({"operation":"add","nodes":[{}]})),
            Err("'nodes[0].type' is required".into())
        );
        assert_eq!(
            run(json!({"operation":"add","nodes":[{"type":"a"},{"type":"b"},{"type":"c"}]})),
            Err("'nodes' must have at most 2 items".into())
        );
    }
}
