//! Core settings, from flags or upstream Mimir's environment variables.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "mimir-core",
    about = "Mimir core: knowledge graph, MCP tools and REST API"
)]
pub struct CoreConfig {
    /// Address to serve on. Without the proxy in front, keep it on loopback.
    #[arg(long, env = "MIMIR_CORE_BIND", default_value = "127.0.0.1:8081")]
    pub bind: SocketAddr,

    /// Directory of the embedded store (created when missing).
    #[arg(long, env = "MIMIR_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Folders `index_folder` may read, separated by commas (paths outside are refused).
    #[arg(
        long,
        env = "MIMIR_INDEX_ROOTS",
        value_delimiter = ',',
        default_value = "."
    )]
    pub index_roots: Vec<PathBuf>,

    /// Largest accepted request body in bytes.
    #[arg(long, env = "MIMIR_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
}

impl CoreConfig {
    /// Defaults for embedding the core in another process or a test.
    pub fn with_data_dir(data_dir: PathBuf) -> Self {
        let mut config = Self::parse_from(["mimir-core"]);
        config.data_dir = data_dir;
        config
    }
}
