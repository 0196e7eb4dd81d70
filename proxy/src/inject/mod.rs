//! `mimir-proxy inject`: a Kubernetes mutating admission webhook that adds the proxy as a sidecar
//! to pods annotated `mimir.io/inject: "true"` (docs/deployment.md).
//!
//! It never stands in the way of pods it does not handle: anything else is allowed unchanged.
//! A malformed AdmissionReview is answered with 400.

mod decide;
mod server;
mod sidecar;

pub use decide::{decide, Decision, INJECT_ANNOTATION, STATUS_ANNOTATION};
pub use server::{router, serve};
pub use sidecar::{Sidecar, SIDECAR_NAME};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Command-line options of `mimir-proxy inject`.
#[derive(Debug, Clone, clap::Args)]
pub struct InjectArgs {
    /// HTTPS listener of the webhook (the API server calls it).
    #[arg(long, default_value = "0.0.0.0:8443", value_name = "IP:PORT")]
    pub listen: SocketAddr,
    /// PEM certificate chain served to the API server; reloaded on SIGHUP or file change.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: PathBuf,
    /// PEM private key of that certificate.
    #[arg(long, value_name = "FILE")]
    pub tls_key: PathBuf,
    #[command(flatten)]
    pub sidecar: Sidecar,
}

/// Runs the webhook until SIGTERM/SIGINT.
pub fn run(args: InjectArgs) -> ExitCode {
    crate::admin::logging::init(&crate::admin::logging::LogConfig::default());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
