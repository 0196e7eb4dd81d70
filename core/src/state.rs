//! Shared state of the core's handlers.

use crate::config::CoreConfig;
use crate::governance::view::{Classification, GovernedStore};
use crate::identity::assertion::Verifier;
use crate::identity::Caller;
use crate::mcp::McpState;
use crate::store::GraphStore;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    /// The whole graph; handlers of callers use [`Scoped`] instead.
    pub store: Arc<dyn GraphStore>,
    pub config: Arc<CoreConfig>,
    pub mcp: Arc<McpState>,
    /// Checks the proxy's identity assertions (`None`: no key configured).
    pub verifier: Option<Arc<Verifier>>,
    pub classification: Arc<Classification>,
}

impl AppState {
    /// Fails on settings the core cannot run with (see `CoreConfig::check_index_roots` and
    /// `CoreConfig::identity_verifier`).
    pub fn new(store: Arc<dyn GraphStore>, config: CoreConfig) -> anyhow::Result<Self> {
        config.check_index_roots()?;
        let verifier = config.identity_verifier()?.map(Arc::new);
        let classification = Arc::new(Classification {
            defaults: config.sensitivity_defaults.clone(),
            pii_mode: config.pii_mode,
        });
        Ok(Self {
            store,
            mcp: Arc::new(McpState::new(&config)),
            config: Arc::new(config),
            verifier,
            classification,
        })
    }

    /// This state with the graph as `caller` may see and change it.
    pub fn scoped(&self, caller: &Caller) -> Self {
        let view = GovernedStore::new(
            Arc::clone(&self.store),
            Arc::clone(&self.classification),
            caller.clearance,
        );
        Self {
            store: Arc::new(view),
            ..self.clone()
        }
    }
}

/// Extracts the app state scoped to the caller established by `identity::gate`.
pub struct Scoped(pub AppState);

impl FromRequestParts<AppState> for Scoped {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Self(state.scoped(&caller)))
    }
}
