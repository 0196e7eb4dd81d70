//! The gateway authorizes an MCP body by its own reading (`request::mcp::parse`); the core runs
//! it by another (`mimir_core::mcp::read_body`). For any bytes the gateway accepts, every message
//! the core runs must be the one the gateway authorized: same method, tool and `operation`.
//! The core may refuse or skip a message the gateway let through (an unknown tool, a
//! notification), never run something else.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimir_core::mcp::read_body;
use mimir_proxy::request::mcp::{parse, MessageKind};

/// The gateway's default batch limit (`mcp.max_batch`), above the core's own.
const MAX_BATCH: usize = 128;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = parse(data, 1 << 20, MAX_BATCH) else {
        return;
    };
    let Some(core) = read_body(data) else {
        return;
    };
    assert_eq!(core.len(), request.messages.len(), "message count");
    for (proxy, core) in request.messages.iter().zip(core) {
        let Some(core) = core else { continue };
        let MessageKind::Call { method, tool } = &proxy.kind else {
            panic!("the core runs {core:?}, the gateway saw a response");
        };
        assert_eq!(&core.method, method);
        match tool {
            Some(tool) => {
                assert_eq!(core.tool.as_deref(), Some(tool.name.as_str()));
                assert_eq!(core.operation, tool.operation);
            }
            None => assert_eq!(
                core.tool, None,
                "the core calls a tool the gateway did not see"
            ),
        }
    }
});
