//! Mimir core: owns the knowledge graph and the MCP tools. It authenticates nobody; identity
//! arrives from the proxy as a signed assertion (docs/identity-assertion.md) and decides what
//! the caller sees (docs/governance.md) and whom writes are attributed to.

pub mod api;
pub mod config;
pub mod embedding;
pub mod governance;
pub mod identity;
pub mod mcp;
pub mod migrate;
pub mod state;
pub mod store;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use config::CoreConfig;
use config::StoreBackend;
use state::AppState;
use std::sync::Arc;
use store::embedded::EmbeddedStore;
use store::neo4j::Neo4jStore;

/// The core's HTTP surface: REST under `/api`, `/health`, and MCP at `/mcp`.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .merge(api::routes())
        .merge(mcp::routes())
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            identity::gate,
        ))
        .with_state(state)
}

/// Opens the embedded store under `config.data_dir` and builds the state.
pub fn embedded_state(config: CoreConfig) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&config.data_dir)?;
    let store = EmbeddedStore::open(&config.data_dir.join("mimir.sqlite3"))?;
    AppState::new(Arc::new(store), config)
}

/// Connects to the store `config.store` selects (embedded by default, or Neo4j) and builds
/// the state.
pub async fn store_state(config: CoreConfig) -> anyhow::Result<AppState> {
    match config.store {
        StoreBackend::Embedded => embedded_state(config),
        StoreBackend::Neo4j => {
            let store = Neo4jStore::connect(&config.neo4j_settings()?).await?;
            AppState::new(Arc::new(store), config)
        }
    }
}

/// Serves the core until `shutdown` resolves.
pub async fn serve(
    config: CoreConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let bind = config.bind;
    let state = store_state(config).await?;
    if !state.config.require_proxy_identity && !bind.ip().is_loopback() {
        tracing::warn!(%bind, "identity assertions are not required on a non-loopback address: \
            anyone reaching the core can claim any user id");
    }
    let retention = (!state.config.retention.is_empty()).then(|| {
        governance::retention::spawn(
            Arc::clone(&state.store),
            state.config.retention.clone(),
            state.config.retention_interval,
            Arc::new(governance::clock::SystemClock),
        )
    });
    let app = router(state);
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(%bind, "mimir core listening");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(task) = retention {
        task.abort();
    }
    Ok(served?)
}
