//! JSON-RPC 2.0 message classification and response objects.

use serde_json::{json, Map, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// Implementation-defined server error used for unknown or expired sessions.
pub const SESSION_NOT_FOUND: i64 = -32001;
/// Implementation-defined server error: every session slot is held by other users.
pub const SERVER_BUSY: i64 = -32002;

#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    /// Never carries details: those go to the log only.
    pub fn internal() -> Self {
        Self::new(INTERNAL_ERROR, "Internal error")
    }
}

#[derive(Debug, PartialEq)]
pub struct Request {
    /// A string or an integer (MCP forbids `null` ids).
    pub id: Value,
    pub method: String,
    /// An object, an array, or `None` when absent or `null`.
    pub params: Option<Value>,
}

impl Request {
    /// The params as an object (absent means empty); arrays are not used by any MCP method.
    pub fn params_object(&self) -> Result<Map<String, Value>, RpcError> {
        match &self.params {
            None => Ok(Map::new()),
            Some(Value::Object(map)) => Ok(map.clone()),
            Some(_) => Err(RpcError::invalid_params("params must be an object")),
        }
    }
}

#[derive(Debug, PartialEq)]
pub enum Message {
    Request(Request),
    /// A notification or a response from the client: nothing to answer.
    NoReply,
    /// Not a valid JSON-RPC message: answer with this error response.
    Invalid(Value),
}

/// Classifies one JSON value of a request body (or one element of a batch).
pub fn classify(value: Value) -> Message {
    let Value::Object(mut object) = value else {
        return invalid(Value::Null, "Invalid Request: expected a JSON object");
    };
    let id = object.remove("id");
    let id_valid = match &id {
        None | Some(Value::String(_)) => true,
        Some(Value::Number(n)) => n.is_i64() || n.is_u64(),
        Some(_) => false,
    };
    let reply_id = match (&id, id_valid) {
        (Some(id), true) => id.clone(),
        _ => Value::Null,
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(reply_id, "Invalid Request: jsonrpc must be \"2.0\"");
    }
    if !id_valid {
        return invalid(
            reply_id,
            "Invalid Request: id must be a string or an integer",
        );
    }
    match object.remove("method") {
        Some(Value::String(method)) => {
            let params = match object.remove("params") {
                None | Some(Value::Null) => None,
                Some(p @ (Value::Object(_) | Value::Array(_))) => Some(p),
                Some(_) => {
                    return invalid(
                        reply_id,
                        "Invalid Request: params must be an object or an array",
                    )
                }
            };
            match id {
                Some(id) => Message::Request(Request { id, method, params }),
                None => Message::NoReply,
            }
        }
        Some(_) => invalid(reply_id, "Invalid Request: method must be a string"),
        None if id.is_some() && (object.contains_key("result") || object.contains_key("error")) => {
            Message::NoReply
        }
        None => invalid(reply_id, "Invalid Request: missing method"),
    }
}

fn invalid(id: Value, message: &str) -> Message {
    Message::Invalid(failure(id, RpcError::new(INVALID_REQUEST, message)))
}

pub fn success(id: Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

pub fn failure(id: Value, error: RpcError) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": error.code, "message": error.message } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(message: Message) -> (Value, i64) {
        match message {
            Message::Invalid(v) => (v["id"].clone(), v["error"]["code"].as_i64().unwrap()),
            other => panic!("expected an invalid message, got {other:?}"),
        }
    }

    #[test]
    fn requests_keep_id_method_and_params() {
        let m = classify(json!({"jsonrpc":"2.0","id":7,"method":"ping","params":{"a":1}}));
        assert_eq!(
            m,
            Message::Request(Request {
                id: json!(7),
                method: "ping".into(),
                params: Some(json!({"a":1}))
            })
        );
        let m = classify(json!({"jsonrpc":"2.0","id":"x","method":"ping","params":null}));
        assert!(matches!(m, Message::Request(Request { params: None, .. })));
    }

    #[test]
    fn notifications_and_responses_need_no_reply() {
        assert_eq!(
            classify(json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
            Message::NoReply
        );
        assert_eq!(
            classify(json!({"jsonrpc":"2.0","id":1,"result":{}})),
            Message::NoReply
        );
        assert_eq!(
            classify(json!({"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}})),
            Message::NoReply
        );
    }

    #[test]
    fn malformed_messages_are_invalid_requests() {
        assert_eq!(
            error_of(classify(json!([1]))),
            (Value::Null, INVALID_REQUEST)
        );
        assert_eq!(error_of(classify(json!(3))), (Value::Null, INVALID_REQUEST));
        assert_eq!(
            error_of(classify(json!({"id":1,"method":"ping"}))),
            (json!(1), INVALID_REQUEST)
        );
        assert_eq!(
            error_of(classify(json!({"jsonrpc":"1.0","id":1,"method":"ping"}))),
            (json!(1), INVALID_REQUEST)
        );
        assert_eq!(
            error_of(classify(json!({"jsonrpc":"2.0","id":1.5,"method":"ping"}))),
            (Value::Null, INVALID_REQUEST)
        );
        assert_eq!(
            error_of(classify(json!({"jsonrpc":"2.0","id":null,"method":"ping"}))),
            (Value::Null, INVALID_REQUEST)
        );
        assert_eq!(
            error_of(classify(json!({"jsonrpc":"2.0","id":2,"method":5}))),
            (json!(2), INVALID_REQUEST)
        );
        assert_eq!(
            error_of(classify(json!({"jsonrpc":"2.0","id":2}))),
            (json!(2), INVALID_REQUEST)
        );
        assert_eq!(
            error_of(classify(
                json!({"jsonrpc":"2.0","id":2,"method":"ping","params":"x"})
            )),
            (json!(2), INVALID_REQUEST)
        );
    }

    #[test]
    fn params_must_be_an_object_for_mcp_methods() {
        let request = |params| Request {
            id: json!(1),
            method: "m".into(),
            params,
        };
        assert!(request(None).params_object().unwrap().is_empty());
        assert_eq!(
            request(Some(json!({"a":1}))).params_object().unwrap()["a"],
            1
        );
        assert_eq!(
            request(Some(json!([1]))).params_object().unwrap_err().code,
            INVALID_PARAMS
        );
    }

    #[test]
    fn responses_are_well_formed() {
        assert_eq!(
            success(json!(1), json!({})),
            json!({"jsonrpc":"2.0","id":1,"result":{}})
        );
        assert_eq!(
            failure(Value::Null, RpcError::internal()),
            json!({"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error"}})
        );
    }
}
