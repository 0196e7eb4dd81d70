use clap::Parser;
use mimir_core::config::CoreConfig;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = CoreConfig::parse();
    let mut term = signal(SignalKind::terminate())?;
    mimir_core::serve(config, async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down: draining in-flight requests");
    })
    .await
}
