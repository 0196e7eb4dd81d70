//! Gateway stages that handle bodies (the `POST /mcp` request body authorization needs, and the
//! `tools/list` answer it filters), traffic controls (IP lists, concurrency, rate and body
//! limits) and the deadline on the request head.

pub mod mcp_body;
pub mod request_head;
pub mod tools_filter;
pub mod traffic;
