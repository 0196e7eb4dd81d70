//! TLS policy: what the listener accepts, how it finds its certificate, and how the proxy
//! talks TLS to the upstream when asked to.
//!
//! pingora 0.9's TLS listener builds its rustls `ServerConfig` itself and offers no way to make
//! the server's cipher-suite order win over the client's. So the gateway listens on plain TCP
//! and completes the handshake in its connection handler (`server.rs`) with an [`Acceptor`]
//! built here from our own `ServerConfig`: TLS 1.2 + 1.3 with [`crypto_provider`]'s suites in
//! its order, the reloadable certificate resolver of [`reload`], ALPN h2 + http/1.1, optional
//! mTLS. Our provider is also installed as the process default for what pingora builds itself.
//!
//! Uses `config` (`[tls]`, `[upstream]`), `request` (`Host` of the redirect listener) and `admin`
//! metrics; the development certificate it may generate is `keys::devcert`.

pub mod reload;

use anyhow::{bail, ensure, Context};
use async_trait::async_trait;
use pingora::apps::http_app::ServeHttp;
use pingora::listeners::tls::Acceptor;
use pingora::protocols::http::ServerSession;
use pingora::utils::tls::{parse_x509, CertKey, WrappedX509};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{CipherSuite, RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;

use crate::config::{TlsConfig, UpstreamConfig};
use crate::request::forwarded::validated_host;
use reload::ReloadableCert;

mod material;
use material::allowed_cipher_suites;
pub use material::{crypto_provider, load_certs, load_key};

/// Install [`crypto_provider`] as the process default. pingora builds every rustls config from
/// the process default, so if something else installed one first we only go on when it offers
/// nothing outside our suite list.
pub fn install_crypto_provider() -> anyhow::Result<()> {
    if CryptoProvider::install_default(crypto_provider()).is_ok() {
        return Ok(());
    }
    let installed = CryptoProvider::get_default().context("no rustls crypto provider installed")?;
    let allowed: Vec<CipherSuite> = allowed_cipher_suites().iter().map(|s| s.suite()).collect();
    for suite in &installed.cipher_suites {
        ensure!(
            allowed.contains(&suite.suite()),
            "another rustls crypto provider with cipher suite {:?} is installed; refusing to serve with it",
            suite.suite()
        );
    }
    Ok(())
}

/// The listener's TLS: certificate from the reloadable resolver, ALPN h2 + http/1.1, optional
/// mTLS, and the server's cipher-suite preference over the client's.
pub fn listener_acceptor(cfg: &TlsConfig, cert: &Arc<ReloadableCert>) -> anyhow::Result<Acceptor> {
    let provider = Arc::new(crypto_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .context("TLS protocol versions")?;
    let builder = match &cfg.client_ca {
        Some(ca) => {
            let roots = Arc::new(load_roots(ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .build()
                .with_context(|| format!("client CA {}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(cert.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ignore_client_order = true;
    Ok(Acceptor::from_server_config(Arc::new(config)))
}

/// The `Strict-Transport-Security` value, `None` when disabled (`hsts_max_age = 0`).
pub fn hsts_value(max_age: u64) -> Option<String> {
    (max_age > 0).then(|| format!("max-age={max_age}; includeSubDomains"))
}

/// The optional plain-HTTP listener: a permanent redirect to the HTTPS listener, nothing else
/// (no proxying, so nothing is ever served without TLS).
pub struct HttpsRedirect {
    pub https_port: u16,
}

#[async_trait]
impl ServeHttp for HttpsRedirect {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        let req = session.req_header();
        let Ok(host) = validated_host(req) else {
            return redirect_response(http::StatusCode::BAD_REQUEST, None);
        };
        // Host without its port (a bracketed IPv6 keeps its brackets).
        let name = match host.rfind(':') {
            Some(colon) if !host[colon..].contains(']') => &host[..colon],
            _ => host.as_str(),
        };
        let port = match self.https_port {
            443 => String::new(),
            port => format!(":{port}"),
        };
        let target = req.raw_path();
        let target = match std::str::from_utf8(target) {
            Ok(t) if t.starts_with('/') => t,
            _ => "/",
        };
        let location = format!("https://{name}{port}{target}");
        redirect_response(http::StatusCode::MOVED_PERMANENTLY, Some(location))
    }
}

fn redirect_response(
    status: http::StatusCode,
    location: Option<String>,
) -> http::Response<Vec<u8>> {
    let mut resp = http::Response::builder()
        .status(status)
        .header("content-length", "0");
    if let Some(location) = location {
        resp = resp.header("location", location);
    }
    resp.body(Vec::new()).unwrap_or_else(|_| {
        // Only a Location with bytes a header cannot carry gets here.
        let mut bad = http::Response::new(Vec::new());
        *bad.status_mut() = http::StatusCode::BAD_REQUEST;
        bad
    })
}

/// Trust anchors and client certificate for TLS to the upstream, loaded once at start so a
/// bad file fails the start instead of every request.
#[derive(Clone, Default)]
pub struct UpstreamTls {
    pub ca: Option<Arc<[WrappedX509]>>,
    pub client_cert_key: Option<Arc<CertKey>>,
}

impl UpstreamTls {
    pub fn load(cfg: &UpstreamConfig) -> anyhow::Result<Self> {
        if !cfg.tls {
            return Ok(Self::default());
        }
        let ca = match &cfg.ca {
            Some(path) => {
                let certs = load_certs(path)?;
                Some(
                    certs
                        .into_iter()
                        .map(|c| WrappedX509::new(c.to_vec(), parse_x509))
                        .collect::<Vec<_>>()
                        .into(),
                )
            }
            None => None,
        };
        let client_cert_key = match (&cfg.client_cert, &cfg.client_key) {
            (Some(cert), Some(key)) => {
                let chain = load_certs(cert)?;
                let key_der = load_key(key)?;
                // Check the pair now: pingora would fail each connection instead.
                rustls::sign::CertifiedKey::from_der(
                    chain.clone(),
                    key_der.clone_key(),
                    &crypto_provider(),
                )
                .with_context(|| format!("{} does not match {}", key.display(), cert.display()))?;
                let chain = chain.into_iter().map(|c| c.to_vec()).collect();
                Some(Arc::new(CertKey::new(chain, key_der.secret_der().to_vec())))
            }
            (None, None) => None,
            _ => bail!("upstream.client_cert and upstream.client_key must be set together"),
        };
        Ok(Self {
            ca,
            client_cert_key,
        })
    }
}

fn load_roots(path: &Path) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .with_context(|| format!("CA certificate in {}", path.display()))?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_dev_certificates_load_as_the_server_chain() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let certs = crate::keys::devcert::generate(dir.path()).unwrap();
        for key in [&certs.ca_key, &certs.server_key] {
            let mode = std::fs::metadata(key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", key.display());
        }
        let chain = load_certs(&certs.server_cert).unwrap();
        assert_eq!(chain.len(), 2);
        reload::ReloadableCert::load(&certs.server_cert, &certs.server_key).unwrap();
    }

    #[test]
    fn only_aead_ecdhe_suites() {
        for suite in allowed_cipher_suites() {
            let name = format!("{:?}", suite.suite());
            assert!(
                name.starts_with("TLS13_") || name.starts_with("TLS_ECDHE_"),
                "{name}"
            );
            assert!(
                name.contains("GCM") || name.contains("CHACHA20_POLY1305"),
                "{name}"
            );
        }
    }

    #[test]
    fn hsts_disabled_at_zero() {
        assert_eq!(hsts_value(0), None);
        assert_eq!(
            hsts_value(600).as_deref(),
            Some("max-age=600; includeSubDomains")
        );
    }
}
