//! `tools/list` answers show only the tools the caller may call.
//!
//! The gateway buffers the core's JSON answer when the request contained a `tools/list` call
//! ([`McpRequest::lists_tools`]) and passes it here; answers to other messages of a batch are
//! left as they are. An answer that cannot be read is an error: the gateway must not forward
//! an unfiltered list (502).

use crate::request::mcp::{McpRequest, MessageKind};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the MCP tools/list answer is not JSON-RPC JSON")]
pub struct FilterError;

impl McpRequest {
    /// Whether the answer needs [`filter_tools_list`].
    pub fn lists_tools(&self) -> bool {
        self.messages.iter().any(|m| {
            m.id.is_some()
                && matches!(&m.kind, MessageKind::Call { method, .. } if method == "tools/list")
        })
    }
}

/// Removes from every `tools/list` result the tools `may_call` refuses. Returns the new body.
pub fn filter_tools_list(
    request: &McpRequest,
    body: &[u8],
    may_call: impl Fn(&str) -> bool,
) -> Result<Vec<u8>, FilterError> {
    let list_ids: Vec<&Value> = request
        .messages
        .iter()
        .filter(|m| m.method() == Some("tools/list"))
        .filter_map(|m| m.id.as_ref())
        .collect();
    let mut answer: Value = serde_json::from_slice(body).map_err(|_| FilterError)?;
    let responses: Vec<&mut Value> = match &mut answer {
        Value::Array(items) => items.iter_mut().collect(),
        object @ Value::Object(_) => vec![object],
        _ => return Err(FilterError),
    };
    for response in responses {
        let is_list = response.get("id").is_some_and(|id| list_ids.contains(&id));
        if !is_list {
            continue;
        }
        if let Some(tools) = response.get_mut("result").and_then(|r| r.get_mut("tools")) {
            let Value::Array(tools) = tools else {
                return Err(FilterError);
            };
            tools.retain(|t| t.get("name").and_then(Value::as_str).is_some_and(&may_call));
        }
    }
    serde_json::to_vec(&answer).map_err(|_| FilterError)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::mcp;
    use serde_json::json;

    fn request(body: &str) -> McpRequest {
        mcp::parse(body.as_bytes(), 1 << 20, 100).unwrap()
    }

    #[test]
    fn filters_only_tools_list_answers() {
        let req = request(
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#,
        );
        assert!(req.lists_tools());
        let answer = json!([
            {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"memory_node"},{"name":"memory_clear"},{"nameless":true}]}},
            {"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"memory_clear"}]}}
        ]);
        let out =
            filter_tools_list(&req, answer.to_string().as_bytes(), |t| t == "memory_node").unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out[0]["result"]["tools"], json!([{"name":"memory_node"}]));
        assert_eq!(out[1]["result"]["tools"], json!([{"name":"memory_clear"}]));
    }

    #[test]
    fn errors_and_ids_by_type() {
        let req = request(r#"{"jsonrpc":"2.0","id":"1","method":"tools/list"}"#);
        // id 1 (number) is not the request's id "1" (string).
        let other = json!({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x"}]}});
        let out = filter_tools_list(&req, other.to_string().as_bytes(), |_| false).unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), other);
        let error = json!({"jsonrpc":"2.0","id":"1","error":{"code":-32601,"message":"x"}});
        assert!(filter_tools_list(&req, error.to_string().as_bytes(), |_| false).is_ok());
        assert_eq!(
            filter_tools_list(&req, b"event: x", |_| true),
            Err(FilterError)
        );
        let bad = json!({"jsonrpc":"2.0","id":"1","result":{"tools":"all"}});
        assert_eq!(
            filter_tools_list(&req, bad.to_string().as_bytes(), |_| true),
            Err(FilterError)
        );
        let notification = request(r#"{"jsonrpc":"2.0","method":"tools/list"}"#);
        assert!(!notification.lists_tools());
    }
}
