use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use mimir_core::config::CoreConfig;
use std::path::PathBuf;
use tokio::signal::unix::{signal, SignalKind};

/// Mimir core: knowledge graph, MCP tools and REST API. Without a subcommand, serves.
#[derive(Parser)]
#[command(name = "mimir-core")]
struct Cli {
    #[command(flatten)]
    config: CoreConfig,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Writes the whole graph of the configured store (MIMIR_STORE) to a new JSON-lines file.
    Export {
        #[arg(long)]
        out: PathBuf,
    },
    /// Loads an export file into the configured store, which must be empty (all or nothing).
    Import {
        #[arg(long = "in")]
        input: PathBuf,
    },
    /// Rewrites an export file from before user ids named their source into a new file:
    /// `apikey:<name>` becomes `apikey|<name>`, every other user id `<source>|<id>`.
    QualifyUsers {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// The source of the existing users, e.g. `dev` or the issuer's source in the proxy.
        #[arg(long)]
        source: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let matches = Cli::command().get_matches();
    let Cli {
        mut config,
        command,
    } = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The built-in default follows the bind address, which may also come from `--bind`.
    if matches.value_source("require_proxy_identity") == Some(ValueSource::DefaultValue) {
        config.require_proxy_identity = !config.bind.ip().is_loopback();
    }
    match command {
        None => serve(config).await,
        Some(Command::Export { out }) => {
            let counts = mimir_core::migrate::export(&config, &out).await?;
            tracing::info!(nodes = counts.nodes, edges = counts.edges, file = %out.display(), "exported");
            Ok(())
        }
        Some(Command::Import { input }) => {
            let counts = mimir_core::migrate::import(&config, &input).await?;
            tracing::info!(nodes = counts.nodes, edges = counts.edges, file = %input.display(), "imported");
            Ok(())
        }
        Some(Command::QualifyUsers { input, out, source }) => {
            let counts = mimir_core::migrate::qualify_users(&input, &out, &source)?;
            tracing::info!(nodes = counts.nodes, edges = counts.edges, file = %out.display(), "user ids qualified");
            Ok(())
        }
    }
}

async fn serve(config: CoreConfig) -> anyhow::Result<()> {
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
