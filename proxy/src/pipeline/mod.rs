//! The request path, one module per stage, in the order the gateway ([`crate::gateway`]) runs
//! them:
//!
//! 1. request id ([`request_id`]);
//! 2. client address and header hygiene ([`identity`]: proxy-owned and hop-by-hop headers go);
//! 3. framing and size limits ([`framing`]);
//! 4. `Host` and 5. path normalization (parsers in [`crate::request`]);
//! 6. forwarding headers ([`identity`]);
//! 7. traffic before authentication: IP lists, requests in flight, per-IP rate, body limit
//!    ([`limits`]);
//! 8. authentication ([`authn_guarded`], failures answered by [`unauthenticated`]), then the
//!    verified identity injected and the client's credentials removed ([`identity`]);
//! 9. authorization, with the `POST /mcp` body collected and checked ([`mcp_body`]), and a
//!    shadow policy's decision beside it ([`shadow`]);
//! 10. the caller's rates ([`limits`]);
//!
//! then, on the way back, `tools/list` answers reduced to the caller's tools
//! ([`tools_filter`]). Before any of these: the deadline on the request head
//! ([`request_head`]) and the answer to heads pingora's parser refuses ([`malformed_head`]).
//!
//! Uses everything below it (authn, authz, audit, traffic, keys, request, reply, config);
//! nothing but the gateway and the server use it.

pub mod admit;
pub mod audit_viewer;
pub mod authenticate;
pub mod authn_guarded;
pub mod authorize;
pub mod framing;
pub mod identity;
pub mod limits;
pub mod malformed_head;
pub mod mcp_body;
pub mod record;
pub mod request_head;
pub mod request_id;
pub mod respond;
pub mod shadow;
pub mod state;
pub mod throttle;
pub mod tools_filter;
pub mod unauthenticated;
