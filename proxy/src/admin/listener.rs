//! Admin listener (plain HTTP, keep it off the public network): `/healthz` liveness,
//! `/readyz` readiness (can the upstream be reached), `/metrics` for Prometheus, and
//! `/auth/verify` for nginx `auth_request` (answered by [`crate::authverify`], handed in as an
//! [`AdminEndpoint`] so that this folder depends on nothing above it).

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::metrics::Metrics;
use pingora::http::RequestHeader;
use std::net::IpAddr;

/// Where nginx asks whether a request may pass (`auth_request`).
pub const VERIFY_PATH: &str = "/auth/verify";

/// An endpoint the admin listener serves for another part of the proxy.
#[async_trait]
pub trait AdminEndpoint: Send + Sync {
    async fn answer(&self, peer: IpAddr, req: &RequestHeader) -> Response<Vec<u8>>;
}

pub struct Admin {
    pub metrics: Arc<Metrics>,
    /// `host:port` of the upstream.
    pub upstream: String,
    /// With TLS upstreams only the TCP connect is checked.
    pub upstream_tls: bool,
    pub timeout: Duration,
    /// Not ready while audit records cannot be written (strict mode refuses requests then).
    pub audit_available: Box<dyn Fn() -> bool + Send + Sync>,
    /// [`VERIFY_PATH`]; `None` when authentication is disabled: it then refuses everything.
    pub verify: Option<Arc<dyn AdminEndpoint>>,
}

impl Admin {
    /// `Ok` when the upstream accepts a connection and (plain HTTP) answers `GET /health`
    /// with anything but a 5xx; otherwise what failed.
    async fn check_upstream(&self) -> Result<(), String> {
        let connect = tokio::time::timeout(self.timeout, TcpStream::connect(&self.upstream));
        let mut stream = match connect.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(format!("connect failed: {e}")),
            Err(_) => return Err("connect timed out".into()),
        };
        if self.upstream_tls {
            return Ok(());
        }
        let probe = async {
            let request = format!(
                "GET /health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.upstream
            );
            stream.write_all(request.as_bytes()).await?;
            let mut head = [0u8; 12]; // "HTTP/1.1 200"
            stream.read_exact(&mut head).await?;
            Ok::<_, std::io::Error>(head)
        };
        let head = match tokio::time::timeout(self.timeout, probe).await {
            Ok(Ok(head)) => head,
            Ok(Err(e)) => return Err(format!("GET /health failed: {e}")),
            Err(_) => return Err("GET /health timed out".into()),
        };
        let status = std::str::from_utf8(&head[9..12])
            .ok()
            .and_then(|s| s.parse::<u16>().ok());
        match status {
            Some(status) if head.starts_with(b"HTTP/1.") && status < 500 => Ok(()),
            Some(status) => Err(format!("GET /health answered {status}")),
            None => Err("GET /health answered something other than HTTP".into()),
        }
    }
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .header("cache-control", "no-store")
        .body(body)
        .unwrap_or_else(|_| {
            let mut failed = Response::new(Vec::new());
            *failed.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            failed
        })
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Vec<u8>> {
    reply(status, "application/json", value.to_string().into_bytes())
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        match session.req_header().uri.path() {
            "/healthz" => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
            "/readyz" => {
                let upstream = self.check_upstream().await;
                let audit_ok = (self.audit_available)();
                // The config check is implicit: the listener only runs with a loaded config.
                let checks = serde_json::json!({
                    "config": "ok",
                    "upstream": upstream.as_ref().err().map_or("ok", String::as_str),
                    "audit": if audit_ok { "ok" } else { "unavailable" },
                });
                let ready = upstream.is_ok() && audit_ok;
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                json(
                    status,
                    serde_json::json!({"ready": ready, "checks": checks}),
                )
            }
            "/metrics" => reply(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                self.metrics.render(),
            ),
            VERIFY_PATH => {
                let peer = session
                    .client_addr()
                    .and_then(|a| a.as_inet())
                    .map(|a| a.ip());
                match (&self.verify, peer) {
                    (Some(verify), Some(peer)) => verify.answer(peer, session.req_header()).await,
                    _ => json(
                        StatusCode::SERVICE_UNAVAILABLE,
                        serde_json::json!({"error": "service_unavailable",
                            "message": "authentication is disabled (auth.enabled = false)"}),
                    ),
                }
            }
            _ => json(
                StatusCode::NOT_FOUND,
                serde_json::json!({"error": "not_found"}),
            ),
        }
    }
}
