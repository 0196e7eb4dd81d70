//! One command for the whole stack on embedded defaults.
use clap::Parser;
use mimir_core::config::CoreConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let core = CoreConfig::parse();
    mimir_core::serve(core, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
