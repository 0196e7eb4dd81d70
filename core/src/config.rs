//! Core settings, from flags or upstream Mimir's environment variables.

use crate::store::neo4j::Neo4jSettings;
use anyhow::{bail, Context};
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

    /// Store backend: `embedded` (SQLite under the data directory) or `neo4j`.
    #[arg(long, env = "MIMIR_STORE", value_enum, default_value_t = StoreBackend::Embedded)]
    pub store: StoreBackend,

    /// Neo4j Bolt URI: bolt://, bolt+s://, neo4j:// or neo4j+s:// (`+ssc` is refused).
    #[arg(long, env = "NEO4J_URI", default_value = "bolt://127.0.0.1:7687")]
    pub neo4j_uri: String,

    #[arg(long, env = "NEO4J_USER", default_value = "neo4j")]
    pub neo4j_user: String,

    /// Neo4j password, from the environment only (a flag would show in the process list).
    #[arg(skip = std::env::var("NEO4J_PASSWORD").ok().map(Secret))]
    pub neo4j_password: Option<Secret>,

    /// File holding the Neo4j password (a mounted secret), instead of NEO4J_PASSWORD.
    #[arg(long, env = "NEO4J_PASSWORD_FILE")]
    pub neo4j_password_file: Option<PathBuf>,

    /// PEM file of the CA that signed Neo4j's certificate (bolt+s:// / neo4j+s:// only).
    #[arg(long, env = "NEO4J_CA_FILE")]
    pub neo4j_ca_file: Option<PathBuf>,
}

/// A credential: `Debug` shows that it is set, never its value.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreBackend {
    Embedded,
    Neo4j,
}

impl CoreConfig {
    /// Defaults for embedding the core in another process or a test.
    pub fn with_data_dir(data_dir: PathBuf) -> Self {
        let mut config = Self::parse_from(["mimir-core"]);
        config.data_dir = data_dir;
        config
    }

    /// Neo4j connection settings. The password comes from NEO4J_PASSWORD or NEO4J_PASSWORD_FILE
    /// (exactly one; no default password).
    pub fn neo4j_settings(&self) -> anyhow::Result<Neo4jSettings> {
        let password = match (&self.neo4j_password, &self.neo4j_password_file) {
            (Some(Secret(password)), None) => password.clone(),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading NEO4J_PASSWORD_FILE {}", file.display()))?;
                // Files written by `echo` or editors end with a newline that is not part of it.
                text.strip_suffix('\n')
                    .map(|t| t.strip_suffix('\r').unwrap_or(t))
                    .unwrap_or(&text)
                    .to_owned()
            }
            (Some(_), Some(_)) => bail!("set NEO4J_PASSWORD or NEO4J_PASSWORD_FILE, not both"),
            (None, None) => bail!("MIMIR_STORE=neo4j needs NEO4J_PASSWORD or NEO4J_PASSWORD_FILE"),
        };
        Ok(Neo4jSettings {
            uri: self.neo4j_uri.clone(),
            user: self.neo4j_user.clone(),
            password,
            ca_file: self.neo4j_ca_file.clone(),
        })
    }
}
