//! Builds the pingora server from a [`ProxyConfig`] and runs it until SIGTERM (graceful: the
//! listeners close, in-flight requests get `server.grace_period_seconds`) or SIGINT (immediate).

use anyhow::Context;
use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, HttpServerOptions, ServerApp};
use pingora::listeners::tls::Acceptor;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::protocols::http::v1::server::HttpSession as HttpSessionV1;
use pingora::protocols::http::v2::server::default_h2_options;
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{Stream, ALPN};
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server, ShutdownWatch};
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::admin::listener::Admin;
use crate::admin::metrics::Metrics;
use crate::audit::{Audit, AuditEvent};
use crate::authverify::AuthVerify;
use crate::authz::config::Sources;
use crate::authz::loader;
use crate::authz::reload::{ReloadEvent, ReloadHook, Reloader, Target};
use crate::authz::source::Fetcher;
use crate::authz::Authorizer;
use crate::config::ProxyConfig;
use crate::keys::devcert;
use crate::pipeline::limits::Traffic;
use crate::pipeline::malformed_head::{self, Refusal};
use crate::pipeline::request_head::{self, NoHead};
use crate::pipeline::state::Gateway;
use crate::settings::ProcessEnv;
use crate::tls::reload::{CertReloader, ReloadableCert};
use crate::tls::{self, HttpsRedirect};
use crate::traffic::connlimit::{Busy, ConnectionGate, Slots};
use crate::traffic::h2_control::ControlFrameLimit;
use crate::traffic::ipfilter::IpFilter;
use crate::traffic::refusals::{Refusals, Refused};
use crate::traffic::source::SourceKeys;
use crate::traffic::{spawn_sweeper, Limiter};

/// After the grace period, how long runtimes get to wind down before tasks are dropped.
const RUNTIME_SHUTDOWN_SECONDS: u64 = 2;
/// One retry, and only where pingora's default policy allows it (idempotent request on a reused
/// upstream connection that turned out stale); no retry storms against a struggling core.
const MAX_UPSTREAM_ATTEMPTS: usize = 2;
/// How long the audit writer gets at shutdown to write and fsync what is queued.
const AUDIT_SHUTDOWN: Duration = Duration::from_secs(15);
/// Encrypted bytes held per client connection until pingora flushes (end of a sized body; a
/// streamed body is flushed chunk by chunk, so SSE is not delayed). Pingora's default, one MSS
/// (1460), sends the response head and a small body in two segments once the head carries the
/// gateway's fields (HSTS, request id, rate limits): an extra `sendto` per request. 4 KiB holds
/// the head and a body of about 3 KiB in one; memory per connection grows by 2.6 KiB.
const CLIENT_WRITE_BUFFER_BYTES: usize = 4096;

/// Run the proxy; blocks until shutdown. Call it from a plain thread, not from inside a tokio
/// runtime: pingora starts its own runtimes.
pub fn run(config: ProxyConfig) -> anyhow::Result<()> {
    tls::install_crypto_provider()?;
    if config.tls.generate_dev_cert {
        if let Some(ca) = devcert::ensure(&config.tls.cert, &config.tls.key)? {
            tracing::warn!(
                ca = %ca.display(),
                cert = %config.tls.cert.display(),
                "generated a development certificate; make clients trust this CA (e.g. curl --cacert)"
            );
        }
    }
    let cert = Arc::new(
        ReloadableCert::load(&config.tls.cert, &config.tls.key).context("TLS certificate")?,
    );
    let metrics = Arc::new(Metrics::new(&config.metrics)?);
    let audit = Audit::start(&config.audit).context("audit log")?;

    let conf = ServerConf {
        threads: config.server.threads.max(1),
        grace_period_seconds: Some(config.server.grace_period_seconds),
        graceful_shutdown_timeout_seconds: Some(RUNTIME_SHUTDOWN_SECONDS),
        max_retries: MAX_UPSTREAM_ATTEMPTS,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let reloader = if config.auth.enabled {
        Some(policy_reloader(&config, &audit)?)
    } else {
        None
    };
    let authorizer = reloader.as_ref().map(Reloader::authorizer);
    let shadow = match &authorizer {
        Some(authorizer) => shadow_reloader(&config, authorizer, &audit)?,
        None => None,
    };
    let sweep_every = Duration::from_secs(config.traffic.sweep_seconds);
    let limiter = Arc::new(Limiter::new(&config.traffic).map_err(anyhow::Error::msg)?);
    spawn_sweeper(&limiter, sweep_every);
    let ip_filter = || IpFilter::new(&config.traffic, &config.headers.trusted_proxies);
    let trusted = &config.headers.trusted_proxies;
    let connections = &config.traffic.connections;
    let sources = SourceKeys::new(config.traffic.ipv6_prefix);
    let refusals = Arc::new(Refusals::new(
        sources,
        config.traffic.max_keys,
        metrics.clone(),
        audit.clone(),
    ));
    let gate = Arc::new(ConnectionGate::new(
        &config.traffic,
        Arc::new(ip_filter()),
        trusted,
        refusals.clone(),
    ));
    spawn_sweeper(&gate, sweep_every);
    let traffic = Traffic::new(
        limiter.clone(),
        ip_filter(),
        Slots::new(connections.max_in_flight_per_ip, trusted, sources),
        Busy::new(connections.max_in_flight),
    );
    let app = Gateway::new(
        &config,
        metrics.clone(),
        audit.clone(),
        authorizer.clone(),
        traffic,
    )?;
    // nginx auth_request decides with the gateway's authenticator, policy and rate budgets.
    let verify = app.authenticator().zip(authorizer).map(|(auth, authz)| {
        let trail = app.auth_trail();
        Arc::new(AuthVerify::new(
            &config,
            auth,
            trail,
            authz,
            limiter,
            audit.clone(),
            metrics.clone(),
        ))
    });
    let refusal = Refusal {
        hsts: app.hsts(),
        metrics: metrics.clone(),
        audit: audit.clone(),
    };
    let mut proxy = pingora::proxy::http_proxy(&server.configuration, app);
    let header_timeout = config.limits.client_header_timeout_seconds.max(1);
    // HTTP/2 bounds the decoded header list in the codec, before any hook. Twice our limit
    // (h2 also counts 32 bytes per field) so that moderate excess still gets the JSON 431 from
    // the gateway while memory stays bounded.
    let mut h2 = default_h2_options();
    let h2_header_list = config.limits.max_header_bytes.saturating_mul(2);
    h2.max_header_list_size(u32::try_from(h2_header_list).unwrap_or(u32::MAX));
    proxy.h2_options = Some(h2);
    let mut options = HttpServerOptions::default();
    options.h2_idle_timeout = Some(Duration::from_secs(header_timeout));
    proxy.server_options = Some(options);
    let mut gateway = Service::new(
        "mimir gateway".to_owned(),
        ClientTimeouts {
            proxy: Arc::new(proxy),
            header_timeout_seconds: header_timeout,
            // Twice the header limit, as for HTTP/2: a moderately oversized head still gets the
            // gateway's JSON 431.
            max_head_bytes: config.limits.max_header_bytes.saturating_mul(2),
            connections: Slots::new(connections.max_per_ip, trusted, sources),
            refusal,
            refusals,
            tls: tls::listener_acceptor(&config.tls, &cert)?,
        },
    );
    gateway.set_connection_filter(gate);
    // TCP: the handler completes the TLS handshake (tls/mod.rs says why).
    gateway.add_listener(
        ListenerConfig::tcp(config.server.listen.to_string())
            .l4_buffer(L4BufferSettings::default().write(CLIENT_WRITE_BUFFER_BYTES)),
    );
    server.add_service(gateway);

    if let Some(addr) = config.server.http_redirect_listen {
        let mut redirect = Service::new(
            "https redirect".to_owned(),
            HttpsRedirect {
                https_port: config.server.listen.port(),
            },
        );
        redirect.add_tcp(&addr.to_string());
        server.add_service(redirect);
    }

    let mut admin = Service::new(
        "admin".to_owned(),
        Admin {
            metrics: metrics.clone(),
            upstream: config.upstream.address.clone(),
            upstream_tls: config.upstream.tls,
            timeout: Duration::from_millis(config.upstream.connect_timeout_ms),
            audit_available: {
                let audit = audit.clone();
                Box::new(move || audit.is_available())
            },
            verify: verify.map(|v| v as Arc<dyn crate::admin::listener::AdminEndpoint>),
        },
    );
    admin.add_tcp(&config.server.admin_listen.to_string());
    server.add_service(admin);

    server.add_service(background_service(
        "tls reload",
        CertReloader { cert, metrics },
    ));
    if let Some(reloader) = reloader {
        server.add_service(background_service("policy reload", reloader));
    }
    if let Some(shadow) = shadow {
        server.add_service(background_service("shadow policy reload", shadow));
    }

    tracing::info!(
        listen = %config.server.listen,
        admin = %config.server.admin_listen,
        upstream = %config.upstream.address,
        "mimir-proxy starting"
    );
    server.run(RunArgs::default());
    // The writer runs on its own thread: records of the last requests are flushed here.
    if let Err(e) = audit.shutdown_blocking(AUDIT_SHUTDOWN) {
        tracing::error!("{e}: the last audit records may be missing");
    }
    Ok(())
}

/// Loads the authorization policy (startup fails on a bad one) and the reloader that keeps it
/// current; every reload attempt goes to the audit log.
fn policy_reloader(config: &ProxyConfig, audit: &Audit) -> anyhow::Result<Reloader> {
    let sources = Sources::from_config(&config.authz, &ProcessEnv)?;
    let snapshot = loader::load_blocking(&sources).context("authorization policy")?;
    let fetcher = Fetcher::new(&sources).map_err(anyhow::Error::msg)?;
    let summary = snapshot.policy.summary();
    tracing::info!(
        version = %summary.version,
        roles = summary.roles,
        rules = summary.rules,
        "authorization policy loaded"
    );
    Ok(Reloader::new(sources, fetcher, snapshot).with_hook(Arc::new(AuditReloads(audit.clone()))))
}

/// The reloader of the shadow policy (`[authz.shadow]`), which it loads into `authorizer`. A
/// shadow that does not load is an error in the log, never a reason not to start: it is read
/// again when its files change.
fn shadow_reloader(
    config: &ProxyConfig,
    authorizer: &Arc<Authorizer>,
    audit: &Audit,
) -> anyhow::Result<Option<Reloader>> {
    let live = Sources::from_config(&config.authz, &ProcessEnv)?;
    let Some(sources) = live.shadow(&config.authz).map_err(anyhow::Error::msg)? else {
        return Ok(None);
    };
    let fetcher = Fetcher::new(&sources).map_err(anyhow::Error::msg)?;
    let snapshot = match loader::load_blocking(&sources) {
        Ok(snapshot) => {
            let summary = snapshot.policy.summary();
            tracing::info!(
                version = %summary.version,
                roles = summary.roles,
                rules = summary.rules,
                "shadow authorization policy loaded: decided beside the live policy, not enforced"
            );
            Some(snapshot)
        }
        Err(e) => {
            tracing::error!("shadow authorization policy not loaded, no shadow decisions:\n{e}");
            None
        }
    };
    let reloader = Reloader::shadow(authorizer.clone(), sources, fetcher, snapshot);
    Ok(Some(
        reloader.with_hook(Arc::new(AuditReloads(audit.clone()))),
    ))
}

/// Policy reloads in the audit log.
struct AuditReloads(Audit);

impl ReloadHook for AuditReloads {
    fn policy_reload(&self, event: &ReloadEvent) {
        let mut file = format!("{} + {}", event.rbac_source, event.routes.display());
        if event.target == Target::Shadow {
            file.push_str(" (shadow)");
        }
        let record =
            AuditEvent::policy_reload(&file, event.outcome.as_ref().err().map(String::as_str));
        let audit = self.0.clone();
        // Called from the reloader's task: queue without blocking it.
        tokio::spawn(async move {
            if audit.record(record).await.is_err() {
                tracing::error!("audit log unavailable: policy reload not recorded");
            }
        });
    }
}

/// The gateway's connection handler: pingora's own, except that
/// - each connection holds one of its peer address's `traffic.connections.max_per_ip` slots
///   while it is open (beyond that it is closed at once, before the TLS handshake);
/// - it completes the TLS handshake, within `limits.client_header_timeout_seconds`;
/// - an HTTP/1 connection gets `limits.client_header_timeout_seconds` for each whole request
///   head, idle keep-alive time included ([`request_head`]); a slower client is disconnected.
///
/// Both closes, and a head too large to wait for, are reported as [`Refusals`].
///
/// HTTP/2 is handed over with a control-frame budget ([`ControlFrameLimit`]);
/// `h2_idle_timeout` bounds its idle time.
struct ClientTimeouts<A> {
    proxy: Arc<A>,
    header_timeout_seconds: u64,
    max_head_bytes: usize,
    connections: Arc<Slots>,
    refusal: Refusal,
    refusals: Arc<Refusals>,
    tls: Acceptor,
}

#[async_trait]
impl<A> ServerApp for ClientTimeouts<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let peer = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let _slot = match peer {
            Some(ip) => match self.connections.acquire(ip) {
                Some(slot) => Some(slot),
                None => {
                    self.refusals.report(ip, Refused::OpenConnections).await;
                    return None;
                }
            },
            None => None,
        };
        let stream = self.handshake(stream, peer).await?;
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            let (stream, flooded) = ControlFrameLimit::wrap(stream);
            let reused = ServerApp::process_new(&self.proxy, stream, shutdown).await;
            if flooded.load(Ordering::Relaxed) {
                self.refused(peer, Refused::H2ControlFlood).await;
            }
            return reused;
        }
        let (mut stream, mut settings) = (stream, None);
        loop {
            let mut shutting_down = shutdown.clone();
            let head = tokio::select! {
                head = request_head::read(&mut stream, self.head_deadline(), self.max_head_bytes) => Some(head),
                // Idle connections are dropped at shutdown, as pingora does.
                _ = shutting_down.changed() => None,
            };
            let head = match head {
                Some(Ok(head)) => head,
                Some(Err(NoHead::Ended)) | None => return None,
                Some(Err(NoHead::TooSlow)) => {
                    self.refused(peer, Refused::HeaderTimeout).await;
                    return None;
                }
                Some(Err(NoHead::TooLarge)) => {
                    self.refused(peer, Refused::HeadTooLarge).await;
                    return None;
                }
            };
            if malformed_head::may_be_refused(&head) {
                if let Some(reason) = malformed_head::pingora_refusal(&head).await {
                    self.refusal.answer(stream, peer, &head, &reason).await;
                    return None;
                }
            }
            let mut h1 = HttpSessionV1::new(stream);
            h1.set_pipelined_prefix(head);
            let mut session = ServerSession::H1(h1);
            if let Some(settings) = settings {
                HttpPersistentSettings::apply_to_session(settings, &mut session);
            }
            // No keep-alive once shutdown started: the connection closes after this request.
            session.set_keepalive((!*shutdown.borrow()).then_some(self.header_timeout_seconds));
            let reused = self.proxy.process_new_http(session, shutdown).await?;
            (stream, settings) = reused.consume();
        }
    }

    async fn cleanup(&self) {
        self.proxy.http_cleanup().await;
    }
}

impl<A> ClientTimeouts<A> {
    fn head_deadline(&self) -> Duration {
        Duration::from_secs(self.header_timeout_seconds)
    }

    /// The TLS handshake on the accepted TCP stream; `None` when it fails (logged at debug:
    /// clients that give up and scanners are common) or takes longer than the header timeout
    /// (a refusal).
    async fn handshake(&self, stream: Stream, peer: Option<std::net::IpAddr>) -> Option<Stream> {
        let tcp = match stream.into_any().downcast::<L4Stream>() {
            Ok(tcp) => *tcp,
            Err(_) => {
                tracing::error!("the gateway listener accepted a stream that is not TCP");
                return None;
            }
        };
        match tokio::time::timeout(self.head_deadline(), self.tls.tls_handshake(tcp)).await {
            Ok(Ok(tls)) => Some(Box::new(tls)),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                self.refused(peer, Refused::HandshakeTimeout).await;
                None
            }
        }
    }

    async fn refused(&self, peer: Option<std::net::IpAddr>, refused: Refused) {
        if let Some(peer) = peer {
            self.refusals.report(peer, refused).await;
        }
    }
}
