//! Core settings, from flags or upstream Mimir's environment variables.

use crate::governance::pii::PiiMode;
use crate::governance::retention::RetentionPolicy;
use crate::governance::{parse_duration, Sensitivity, SensitivityDefaults};
use crate::identity::assertion::Verifier;
use crate::store::neo4j::Neo4jSettings;
use anyhow::{bail, Context};
use clap::{ArgAction, Parser};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

    /// Folders `index_folder` may read, separated by commas (paths outside are refused). None by
    /// default: indexing is off until a root is named. A root holding the data directory is refused.
    #[arg(long, env = "MIMIR_INDEX_ROOTS", value_delimiter = ',')]
    pub index_roots: Vec<PathBuf>,

    /// Open MCP sessions per user: at the cap, a new `initialize` ends that user's least recently
    /// used session (never another user's).
    #[arg(long, env = "MIMIR_MCP_SESSIONS_PER_USER", default_value_t = crate::mcp::SESSIONS_PER_USER)]
    pub mcp_sessions_per_user: NonZeroUsize,

    /// Pending confirmations of destructive operations per user: at the cap, a new preview
    /// invalidates that user's oldest pending one (never another user's).
    #[arg(long, env = "MIMIR_MCP_CONFIRMATIONS_PER_USER",
          default_value_t = crate::mcp::CONFIRMATIONS_PER_USER)]
    pub mcp_confirmations_per_user: NonZeroUsize,

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

    /// The proxy's public key (SPKI PEM, Ed25519) that verifies identity assertions.
    #[arg(long, env = "MIMIR_PROXY_PUBLIC_KEY")]
    pub proxy_public_key_pem: Option<String>,

    /// File holding the proxy's public key, instead of MIMIR_PROXY_PUBLIC_KEY.
    #[arg(long, env = "MIMIR_PROXY_PUBLIC_KEY_FILE")]
    pub proxy_public_key_file: Option<PathBuf>,

    /// Refuse requests (but `GET /health`) without a valid identity assertion. Default: on
    /// unless the core is bound to a loopback address.
    #[arg(long, env = "MIMIR_REQUIRE_PROXY_IDENTITY", action = ArgAction::Set,
          default_value_t = require_identity_by_default())]
    pub require_proxy_identity: bool,

    /// Header carrying the identity assertion.
    #[arg(
        long,
        env = "MIMIR_IDENTITY_HEADER",
        default_value = "x-mimir-identity"
    )]
    pub identity_header: String,

    /// Clearance of a caller without an assertion (only when enforcement is off).
    #[arg(long, env = "MIMIR_UNASSERTED_CLEARANCE", value_enum, default_value_t = Sensitivity::Internal)]
    pub unasserted_clearance: Sensitivity,

    /// Default sensitivity per node type: `person=confidential,*=internal` (built-in: internal).
    #[arg(long, env = "MIMIR_SENSITIVITY_DEFAULTS", value_parser = SensitivityDefaults::parse,
          default_value = "")]
    pub sensitivity_defaults: SensitivityDefaults,

    /// What detected personal data does to a node: tag, raise (to confidential) or mask.
    #[arg(long, env = "MIMIR_PII_MODE", value_enum, default_value_t = PiiMode::Tag)]
    pub pii_mode: PiiMode,

    /// Time to live per node type: `session=30d,log=7d` (units s, m, h, d). Others: forever.
    #[arg(long, env = "MIMIR_RETENTION", value_parser = RetentionPolicy::parse, default_value = "")]
    pub retention: RetentionPolicy,

    /// How often expired nodes are deleted.
    #[arg(long, env = "MIMIR_RETENTION_INTERVAL", value_parser = parse_duration, default_value = "1h")]
    pub retention_interval: Duration,
}

/// On unless MIMIR_CORE_BIND (or its default) is a loopback address; an unreadable address
/// counts as not loopback. The `mimir-core` binary also applies this to `--bind`.
fn require_identity_by_default() -> bool {
    std::env::var("MIMIR_CORE_BIND")
        .map(|bind| {
            bind.parse::<SocketAddr>()
                .map_or(true, |addr| !addr.ip().is_loopback())
        })
        .unwrap_or(false)
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

    /// The verifier of identity assertions, or `None` when no proxy key is configured.
    /// Refuses an unreadable key, two keys, a bad header name, and enforcement without a key.
    pub fn identity_verifier(&self) -> anyhow::Result<Option<Verifier>> {
        axum::http::HeaderName::from_bytes(self.identity_header.as_bytes()).with_context(|| {
            format!(
                "MIMIR_IDENTITY_HEADER {:?} is not a valid header name",
                self.identity_header
            )
        })?;
        let (pem, source) = match (&self.proxy_public_key_pem, &self.proxy_public_key_file) {
            (Some(_), Some(_)) => {
                bail!("set MIMIR_PROXY_PUBLIC_KEY or MIMIR_PROXY_PUBLIC_KEY_FILE, not both")
            }
            (Some(pem), None) => (pem.clone(), "MIMIR_PROXY_PUBLIC_KEY".to_owned()),
            (None, Some(file)) => (
                std::fs::read_to_string(file).with_context(|| {
                    format!("reading MIMIR_PROXY_PUBLIC_KEY_FILE {}", file.display())
                })?,
                format!("MIMIR_PROXY_PUBLIC_KEY_FILE {}", file.display()),
            ),
            (None, None) if self.require_proxy_identity => bail!(
                "MIMIR_REQUIRE_PROXY_IDENTITY is on (the default when the core is not bound to \
                 loopback) but no proxy public key is set: set MIMIR_PROXY_PUBLIC_KEY_FILE or \
                 MIMIR_PROXY_PUBLIC_KEY"
            ),
            (None, None) => return Ok(None),
        };
        Verifier::from_pem(&pem)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{source}: {e}"))
    }

    /// Refuses an index root that holds the data directory: `index_folder` could then read the
    /// embedded store (and whatever else is kept beside it, such as the proxy's API keys and
    /// audit trail). Both are compared as given (made absolute) and with symlinks resolved.
    pub fn check_index_roots(&self) -> anyhow::Result<()> {
        let forms = |path: &Path| {
            [std::path::absolute(path).ok(), path.canonicalize().ok()]
                .into_iter()
                .flatten()
                .collect::<Vec<PathBuf>>()
        };
        let data = forms(&self.data_dir);
        for root in &self.index_roots {
            if forms(root)
                .iter()
                .any(|root| data.iter().any(|data| data.starts_with(root)))
            {
                bail!(
                    "MIMIR_INDEX_ROOTS {} holds the data directory {} (MIMIR_DATA_DIR): index_folder \
                     could read the store; name the folders to index instead",
                    root.display(),
                    self.data_dir.display()
                );
            }
        }
        Ok(())
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
