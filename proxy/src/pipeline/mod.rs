//! Gateway stages that handle bodies (the `POST /mcp` request body authorization needs, and the
//! `tools/list` answer it filters) and traffic controls (IP lists and rate limits).

pub mod mcp_body;
pub mod tools_filter;
pub mod traffic;
