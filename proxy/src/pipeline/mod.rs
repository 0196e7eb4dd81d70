//! Gateway stages that handle bodies: the `POST /mcp` request body authorization needs, and the
//! `tools/list` answer it filters.

pub mod mcp_body;
pub mod tools_filter;
