//! `mimir-proxy inject`: a Kubernetes mutating admission webhook that adds the proxy as a sidecar
//! to pods annotated `mimir.io/inject: "true"` (docs/deployment.md).
//!
//! It never stands in the way of pods it does not handle: anything else is allowed unchanged.
//! A malformed AdmissionReview is answered with 400.
//!
//! Uses `admin` (metrics, logging), `tls` (the webhook's certificate) and `reply`.

mod decide;
mod server;
mod sidecar;

pub use decide::{decide, Decision, INJECT_ANNOTATION, STATUS_ANNOTATION};
pub use server::{router, serve, InjectArgs};
pub use sidecar::{Sidecar, SIDECAR_NAME};

use std::process::ExitCode;

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
