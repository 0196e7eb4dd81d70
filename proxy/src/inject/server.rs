//! The webhook's HTTPS server: `POST /mutate` (AdmissionReview v1) and `GET /healthz`.
//! The certificate is the proxy's reloadable one, so a rotated webhook certificate (cert-manager,
//! a re-mounted Secret) is picked up without a restart.

use super::decide::{decide, Decision};
use super::sidecar::Sidecar;
use crate::admin::metrics::{Metrics, MetricsConfig};
use crate::reply::errors::error_code;
use crate::tls::reload::{CertReloader, ReloadableCert};
use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use kube_core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use kube_core::DynamicObject;
use pingora::services::background::BackgroundService;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// The API server sends at most its own request limit (3 MiB) plus the review envelope.
const MAX_REVIEW_BYTES: usize = 4 * 1024 * 1024;
/// A client that does not finish the TLS handshake in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The webhook's routes, for the given sidecar.
pub fn router(sidecar: Sidecar) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .layer(DefaultBodyLimit::max(MAX_REVIEW_BYTES))
        .with_state(Arc::new(sidecar))
}

async fn mutate(State(sidecar): State<Arc<Sidecar>>, body: Bytes) -> Response {
    let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(&body) {
        Ok(review) => review,
        Err(e) => return bad_request(format!("not an AdmissionReview: {e}")),
    };
    if (
        review.types.api_version.as_str(),
        review.types.kind.as_str(),
    ) != ("admission.k8s.io/v1", "AdmissionReview")
    {
        return bad_request(format!(
            "expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got {}, {}",
            review.types.api_version, review.types.kind
        ));
    }
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(request) => request,
        Err(_) => return bad_request("AdmissionReview without a request".into()),
    };
    let allowed = AdmissionResponse::from(&request);
    let pod = pod_name(&request);
    let response = match decide(&request, &sidecar) {
        Decision::Skip(reason) => {
            tracing::debug!(uid = %request.uid, %pod, reason, "allowed unchanged");
            allowed
        }
        Decision::Inject(patch) => match allowed.with_patch(patch) {
            Ok(patched) => {
                tracing::info!(uid = %request.uid, %pod, "sidecar injected");
                patched
            }
            Err(e) => {
                tracing::error!(uid = %request.uid, "cannot serialize the patch: {e}");
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot build the patch".into(),
                );
            }
        },
    };
    Json(response.into_review()).into_response()
}

/// `namespace/name` for the log; pods made by controllers only have a `generateName` prefix yet.
fn pod_name(request: &AdmissionRequest<DynamicObject>) -> String {
    let meta = request.object.as_ref().map(|o| &o.metadata);
    let name = meta.and_then(|m| m.name.as_deref().or(m.generate_name.as_deref()));
    format!(
        "{}/{}",
        request.namespace.as_deref().unwrap_or(""),
        name.unwrap_or("")
    )
}

fn bad_request(message: String) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

fn error(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({"error": error_code(status.as_u16()), "message": message});
    (status, Json(body)).into_response()
}

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

/// Serves until SIGTERM or SIGINT.
pub async fn serve(args: InjectArgs) -> anyhow::Result<()> {
    crate::tls::install_crypto_provider()?;
    let cert = Arc::new(ReloadableCert::load(&args.tls_cert, &args.tls_key)?);
    let mut tls = ServerConfig::builder_with_provider(Arc::new(crate::tls::crypto_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(cert.clone());
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let reloader = CertReloader {
        cert,
        metrics: Arc::new(Metrics::new(&MetricsConfig::default())?),
    };
    let (stop_reloads, reload_watch) = tokio::sync::watch::channel(false);
    tokio::spawn(async move { reloader.start(reload_watch).await });
    let app = router(args.sidecar);
    tracing::info!(listen = %args.listen, "admission webhook serving");
    let mut terminate = signal(SignalKind::terminate())?;
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return tracing::debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            if let Err(e) = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    let _ = stop_reloads.send(true);
    tracing::info!("admission webhook stopped");
    Ok(())
}
