//! Shared state of the core's handlers.

use crate::config::CoreConfig;
use crate::mcp::McpState;
use crate::store::GraphStore;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn GraphStore>,
    pub config: Arc<CoreConfig>,
    pub mcp: Arc<McpState>,
}

impl AppState {
    pub fn new(store: Arc<dyn GraphStore>, config: CoreConfig) -> Self {
        Self {
            store,
            config: Arc::new(config),
            mcp: Arc::new(McpState::default()),
        }
    }
}
