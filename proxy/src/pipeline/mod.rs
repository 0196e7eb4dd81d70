//! Gateway stages that handle bodies (the `POST /mcp` request body authorization needs, and the
//! `tools/list` answer it filters), traffic controls (IP lists, concurrency, rate and body
//! limits), the deadline on the request head and the answer to heads pingora refuses.

pub mod malformed_head;
pub mod mcp_body;
pub mod request_head;
pub mod tools_filter;
pub mod traffic;
