//! Typed access to tool arguments that already passed schema validation. Accessors still return
//! `Option`s instead of assuming types, so a schema mistake can never turn into a panic.

use super::ToolError;
use crate::store::Properties;
use serde_json::{Map, Value};

pub struct Args(Map<String, Value>);

impl Args {
    pub fn new(map: Map<String, Value>) -> Self {
        Self(map)
    }

    /// Arguments of a nested object, such as one element of `memory_batch`'s `nodes`.
    pub fn of(value: &Value) -> Self {
        Self(value.as_object().cloned().unwrap_or_default())
    }

    pub fn map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// `null` reads as absent.
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// The `operation` argument (its schema makes it required and enumerated).
    pub fn operation(&self) -> &str {
        self.str("operation").unwrap_or_default()
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// A string the given operation cannot do without.
    pub fn require(&self, key: &str, operation: &str) -> Result<&str, ToolError> {
        self.str(key).ok_or_else(|| {
            ToolError::Invalid(format!("'{key}' is required for operation '{operation}'"))
        })
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    pub fn u64(&self, key: &str) -> Option<u64> {
        let value = self.get(key)?;
        value.as_u64().or_else(|| {
            value
                .as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        })
    }

    pub fn f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    /// An object argument, empty when absent.
    pub fn object(&self, key: &str) -> Properties {
        self.get(key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// The strings of an array argument, empty when absent.
    pub fn strings(&self, key: &str) -> Vec<String> {
        self.items(key)
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    }

    /// The elements of an array argument, empty when absent.
    pub fn items(&self, key: &str) -> &[Value] {
        self.get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accessors_read_values_and_treat_null_and_wrong_types_as_absent() {
        let args = Args::of(
            &json!({"s":"x","n":3.0,"f":0.5,"b":true,"o":{"a":1},"l":["a",1,"b"],"z":null}),
        );
        assert_eq!(args.str("s"), Some("x"));
        assert_eq!(args.str("n"), None);
        assert_eq!(args.u64("n"), Some(3));
        assert_eq!(args.u64("f"), None);
        assert_eq!(args.f64("f"), Some(0.5));
        assert_eq!(args.bool("b"), Some(true));
        assert_eq!(args.object("o")["a"], 1);
        assert!(args.object("z").is_empty());
        assert_eq!(args.strings("l"), vec!["a", "b"]);
        assert!(args.items("missing").is_empty());
        assert_eq!(args.operation(), "");
        assert!(
            matches!(args.require("z", "get"), Err(ToolError::Invalid(m)) if m == "'z' is required for operation 'get'")
        );
    }
}
