//! What a request says, read without side effects: the client chain of forwarding headers and
//! the `Host` ([`forwarded`]), the target normalized once ([`normalize`]), route patterns matched
//! against it ([`matcher`]), the JSON-RPC messages of an MCP body ([`mcp`]) and which values may
//! be written into a header ([`header_value`]). Pure functions
//! over bytes, using nothing else of the crate: the stages of [`crate::pipeline`], authorization,
//! the traffic controls and the audit trail all read requests through them.

pub mod forwarded;
pub mod header_value;
pub mod matcher;
pub mod mcp;
pub mod normalize;
