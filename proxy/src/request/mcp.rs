//! Reading a `POST /mcp` body just far enough to authorize it: each JSON-RPC message's method
//! and, for `tools/call`, the tool name and its `operation` argument.
//!
//! The body is parsed with `serde_json::Value`, as the core does, so both see the same message
//! (for duplicate keys, both keep the last). Anything the core would not run as a valid message
//! is refused here (fail closed) rather than passed through unchecked.

use serde_json::Value;

/// What the authorizer needs to know about one MCP body.
#[derive(Debug, Clone, PartialEq)]
pub struct McpRequest {
    /// The body was a JSON array (a batch), even of one message.
    pub batch: bool,
    pub messages: Vec<McpMessage>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct McpMessage {
    /// The JSON-RPC id; `None` for notifications.
    pub id: Option<Value>,
    pub kind: MessageKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MessageKind {
    /// A request or notification.
    Call {
        method: String,
        /// Set for `tools/call`.
        tool: Option<ToolCall>,
    },
    /// A JSON-RPC response (has `result` or `error`, no `method`).
    Response,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub name: String,
    /// `arguments.operation` when it is a string.
    pub operation: Option<String>,
}

impl McpMessage {
    pub fn method(&self) -> Option<&str> {
        match &self.kind {
            MessageKind::Call { method, .. } => Some(method),
            MessageKind::Response => None,
        }
    }

    pub fn tool(&self) -> Option<&ToolCall> {
        match &self.kind {
            MessageKind::Call { tool, .. } => tool.as_ref(),
            MessageKind::Response => None,
        }
    }
}

/// Why a body was refused; the gateway answers 413 for `TooLarge`, 400 otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum McpParseError {
    #[error("the MCP request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the MCP request body is not valid JSON")]
    NotJson,
    #[error("the MCP request body must be a JSON-RPC object or a non-empty array of them")]
    NotJsonRpc,
    #[error("the MCP batch has more than {limit} messages")]
    BatchTooLarge { limit: usize },
    #[error("MCP message {index}: {reason}")]
    InvalidMessage { index: usize, reason: &'static str },
}

impl McpParseError {
    /// The JSON-RPC error code for the response body.
    pub fn rpc_code(&self) -> i64 {
        match self {
            Self::NotJson => -32700,
            _ => -32600,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 413,
            _ => 400,
        }
    }
}

/// Parses a body of at most `max_bytes` holding one message or a batch of at most `max_batch`.
pub fn parse(body: &[u8], max_bytes: usize, max_batch: usize) -> Result<McpRequest, McpParseError> {
    if body.len() > max_bytes {
        return Err(McpParseError::TooLarge { limit: max_bytes });
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| McpParseError::NotJson)?;
    let (batch, items) = match value {
        Value::Array(items) if items.is_empty() => return Err(McpParseError::NotJsonRpc),
        Value::Array(items) if items.len() > max_batch => {
            return Err(McpParseError::BatchTooLarge { limit: max_batch })
        }
        Value::Array(items) => (true, items),
        object @ Value::Object(_) => (false, vec![object]),
        _ => return Err(McpParseError::NotJsonRpc),
    };
    let messages = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            message(item).map_err(|reason| McpParseError::InvalidMessage { index, reason })
        })
        .collect::<Result<_, _>>()?;
    Ok(McpRequest { batch, messages })
}

fn message(item: Value) -> Result<McpMessage, &'static str> {
    let Value::Object(mut object) = item else {
        return Err("expected a JSON object");
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err("jsonrpc must be \"2.0\"");
    }
    let id = object.remove("id");
    match &id {
        None | Some(Value::String(_)) => {}
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        Some(_) => return Err("id must be a string or an integer"),
    }
    let method = match object.remove("method") {
        Some(Value::String(m)) => m,
        Some(_) => return Err("method must be a string"),
        None if id.is_some() && (object.contains_key("result") || object.contains_key("error")) => {
            return Ok(McpMessage {
                id,
                kind: MessageKind::Response,
            })
        }
        None => return Err("missing method"),
    };
    let params = object.remove("params");
    let tool = if method == "tools/call" {
        Some(tool_call(params)?)
    } else {
        match params {
            None | Some(Value::Null | Value::Object(_) | Value::Array(_)) => None,
            Some(_) => return Err("params must be an object or an array"),
        }
    };
    Ok(McpMessage {
        id,
        kind: MessageKind::Call { method, tool },
    })
}

fn tool_call(params: Option<Value>) -> Result<ToolCall, &'static str> {
    let Some(Value::Object(mut params)) = params else {
        return Err("tools/call params must be an object");
    };
    let Some(Value::String(name)) = params.remove("name") else {
        return Err("tools/call needs a string name");
    };
    let operation = match params.remove("arguments") {
        None | Some(Value::Null) => None,
        Some(Value::Object(mut args)) => match args.remove("operation") {
            Some(Value::String(op)) => Some(op),
            _ => None,
        },
        Some(_) => return Err("tools/call arguments must be an object"),
    };
    Ok(ToolCall { name, operation })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(body: &str) -> Result<McpRequest, McpParseError> {
        parse(body.as_bytes(), 4096, 3)
    }

    #[test]
    fn single_call() {
        let r = one(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"memory_node","arguments":{"operation":"delete","id":"n1"}}}"#).unwrap();
        assert!(!r.batch);
        assert_eq!(r.messages[0].id, Some(json!(1)));
        assert_eq!(r.messages[0].method(), Some("tools/call"));
        assert_eq!(
            r.messages[0].tool(),
            Some(&ToolCall {
                name: "memory_node".into(),
                operation: Some("delete".into())
            })
        );
    }

    #[test]
    fn batch_with_notification_and_response() {
        let r = one(r#"[{"jsonrpc":"2.0","method":"notifications/initialized"},
                       {"jsonrpc":"2.0","id":"a","method":"tools/list"},
                       {"jsonrpc":"2.0","id":3,"result":{}}]"#)
        .unwrap();
        assert!(r.batch);
        assert_eq!(r.messages[0].id, None);
        assert_eq!(r.messages[1].method(), Some("tools/list"));
        assert_eq!(r.messages[2].kind, MessageKind::Response);
    }

    #[test]
    fn duplicate_keys_resolve_like_the_core() {
        // serde_json keeps the last value, in the core and here alike.
        let r = one(r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"todo","name":"memory_clear"}}"#).unwrap();
        assert_eq!(r.messages[0].tool().unwrap().name, "memory_clear");
    }

    #[test]
    fn bounded_and_strict() {
        assert_eq!(
            parse(&[b' '; 5000], 4096, 3),
            Err(McpParseError::TooLarge { limit: 4096 })
        );
        assert_eq!(one("{"), Err(McpParseError::NotJson));
        assert_eq!(one("[]"), Err(McpParseError::NotJsonRpc));
        assert_eq!(one("\"x\""), Err(McpParseError::NotJsonRpc));
        let four = r#"[{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method":"ping"}]"#;
        assert_eq!(one(four), Err(McpParseError::BatchTooLarge { limit: 3 }));
        for (body, reason) in [
            (r#"[1]"#, "expected a JSON object"),
            (r#"{"id":1,"method":"ping"}"#, "jsonrpc must be \"2.0\""),
            (
                r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
                "id must be a string or an integer",
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                "id must be a string or an integer",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":["tools/call"]}"#,
                "method must be a string",
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#, "missing method"),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
                "tools/call params must be an object",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#,
                "tools/call needs a string name",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":[1]}}"#,
                "tools/call arguments must be an object",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":5}"#,
                "params must be an object or an array",
            ),
        ] {
            assert_eq!(
                one(body),
                Err(McpParseError::InvalidMessage { index: 0, reason }),
                "{body}"
            );
        }
        // Deep nesting stops at serde_json's recursion limit instead of overflowing the stack.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            parse(deep.as_bytes(), 1 << 20, 3),
            Err(McpParseError::NotJson)
        );
    }

    #[test]
    fn operation_is_read_only_when_a_string() {
        let r = one(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"memory_node","arguments":{"operation":7}}}"#).unwrap();
        assert_eq!(r.messages[0].tool().unwrap().operation, None);
    }
}
