//! Turning the two policy sources into a compiled [`Policy`], at startup and on reload.

use super::config::Sources;
use super::policy::Policy;
use super::rbac::{self, RbacDocument, RbacOrigin};
use super::routes::{self, RoutesDocument};
use super::source::{Fetched, Fetcher};
use crate::settings::Issue;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a policy was refused: every problem found, one per line in `Display`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    Invalid(Vec<Issue>),
    /// The source could not be read (file missing, remote unreachable, bad status, …).
    Unavailable(String),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Invalid(issues) => {
                for (i, issue) in issues.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{issue}")?;
                }
                Ok(())
            }
            PolicyError::Unavailable(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Parses and compiles an RBAC text and the routes file; reports the problems of both at once.
pub fn build(
    origin: &RbacOrigin,
    rbac_text: &str,
    routes_path: &Path,
) -> Result<Policy, PolicyError> {
    let (rbac, routes) = documents(origin, rbac_text, routes_path)?;
    compile(&rbac, &routes)
}

fn compile(rbac: &RbacDocument, routes: &RoutesDocument) -> Result<Policy, PolicyError> {
    Policy::compile(rbac, routes)
        .map_err(|e| PolicyError::Unavailable(format!("cannot compile the policy: {e}")))
}

/// Parses and checks both documents (the offline tools read roles, rules and tools from them);
/// reports the problems of both at once.
pub fn documents(
    origin: &RbacOrigin,
    rbac_text: &str,
    routes_path: &Path,
) -> Result<(RbacDocument, RoutesDocument), PolicyError> {
    let rbac = rbac::parse(origin, rbac_text);
    let routes = routes::load(routes_path);
    match (rbac, routes) {
        (Ok(rbac), Ok(routes)) => Ok((rbac, routes)),
        (rbac, routes) => Err(PolicyError::Invalid(
            rbac.err()
                .into_iter()
                .flatten()
                .chain(routes.err().into_iter().flatten())
                .collect(),
        )),
    }
}

/// The RBAC text and its ETag as last read.
pub struct Snapshot {
    pub policy: Policy,
    pub rbac_text: String,
    pub etag: Option<String>,
}

/// Reads every source and compiles; used at startup and by `explain`.
pub async fn load(sources: &Sources, fetcher: &Fetcher) -> Result<Snapshot, PolicyError> {
    let (rbac_text, etag) = match fetcher
        .read(&sources.rbac, None)
        .await
        .map_err(PolicyError::Unavailable)?
    {
        Fetched::Text { text, etag } => (text, etag),
        // `read` only reports 304 for a conditional request, and this one is not.
        Fetched::NotModified => {
            return Err(PolicyError::Unavailable(
                "unexpected 304 Not Modified".into(),
            ))
        }
    };
    let policy = build(&sources.rbac.origin(), &rbac_text, &sources.routes)?;
    Ok(Snapshot {
        policy,
        rbac_text,
        etag,
    })
}

/// A policy with the documents it was compiled from and their texts, for the offline tools
/// (`policy test`, `policy diff`), which read roles, rules and tools and locate what they report.
pub struct Loaded {
    pub policy: Policy,
    pub rbac: RbacDocument,
    pub rbac_origin: RbacOrigin,
    pub rbac_text: String,
    pub routes: RoutesDocument,
    pub routes_path: PathBuf,
    pub routes_text: String,
}

/// Reads every source as [`load_blocking`] does, keeping the documents.
pub fn load_documents_blocking(sources: &Sources) -> Result<Loaded, PolicyError> {
    let snapshot = load_blocking(sources)?;
    let rbac_origin = sources.rbac.origin();
    let (rbac, routes) = documents(&rbac_origin, &snapshot.rbac_text, &sources.routes)?;
    let routes_text = std::fs::read_to_string(&sources.routes)
        .map_err(|e| PolicyError::Unavailable(format!("{}: {e}", sources.routes.display())))?;
    Ok(Loaded {
        policy: snapshot.policy,
        rbac,
        rbac_origin,
        rbac_text: snapshot.rbac_text,
        routes,
        routes_path: sources.routes.clone(),
        routes_text,
    })
}

/// [`load`] for callers outside a tokio runtime (startup, the CLI).
pub fn load_blocking(sources: &Sources) -> Result<Snapshot, PolicyError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            PolicyError::Unavailable(format!("cannot start a runtime to load the policy: {e}"))
        })?;
    runtime.block_on(async {
        let fetcher = Fetcher::new(sources).map_err(PolicyError::Unavailable)?;
        load(sources, &fetcher).await
    })
}
