//! The sections of the policy file the gateway itself reads (server, TLS, upstream, headers,
//! paths, limits), gathered with the subsystems' own sections into [`ProxyConfig`].

use ipnet::IpNet;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    pub server: ServerConfig,
    pub tls: TlsConfig,
    pub upstream: UpstreamConfig,
    pub headers: HeaderConfig,
    pub paths: PathConfig,
    pub limits: LimitConfig,
    pub log: crate::admin::logging::LogConfig,
    pub auth: crate::authn::config::AuthConfig,
    pub oauth: crate::authserver::config::OAuthConfig,
    pub audit: crate::audit::config::AuditConfig,
    pub authz: crate::authz::config::AuthzConfig,
    pub traffic: crate::traffic::config::TrafficConfig,
    pub identity: crate::keys::identity_config::IdentityConfig,
    pub metrics: crate::admin::metrics::MetricsConfig,
}

impl ProxyConfig {
    /// What authentication is built from.
    pub fn authn_settings(&self) -> crate::authn::Settings<'_> {
        crate::authn::Settings {
            auth: &self.auth,
            identity: &self.identity,
            identity_header: &self.headers.identity_header,
            announce: if self.oauth.enabled {
                self.oauth.announce
            } else {
                crate::authn::Announce::External
            },
            max_client_tokens: self.oauth.max_access_tokens,
        }
    }

    /// How the gateway normalizes request targets.
    pub fn path_options(&self) -> crate::request::normalize::PathOptions {
        crate::request::normalize::PathOptions {
            allow_encoded_slash: self.paths.allow_encoded_slash,
            max_bytes: self.limits.max_uri_bytes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// HTTPS listener.
    pub listen: SocketAddr,
    /// Optional plain-HTTP listener that only redirects to HTTPS.
    pub http_redirect_listen: Option<SocketAddr>,
    /// Admin listener: /healthz, /readyz, /metrics. Keep it off the public network.
    pub admin_listen: SocketAddr,
    /// `Strict-Transport-Security` max-age in seconds; 0 disables the header.
    pub hsts_max_age: u64,
    /// Seconds given to in-flight requests after SIGTERM.
    pub grace_period_seconds: u64,
    /// Worker threads of the proxy service.
    pub threads: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain and private key. Reloaded on SIGHUP or file change.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by this CA (mTLS).
    pub client_ca: Option<PathBuf>,
    /// Generate a dev CA + server certificate at `cert`/`key` when they are missing.
    pub generate_dev_cert: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// The core (or any HTTP upstream), `host:port`.
    pub address: String,
    /// Speak TLS to the upstream; `sni` and `ca` apply then.
    pub tls: bool,
    pub sni: String,
    pub ca: Option<PathBuf>,
    /// Client certificate for mTLS to the upstream.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub connect_timeout_ms: u64,
    /// Read/write idle timeouts; long because MCP streams responses.
    pub read_timeout_seconds: u64,
    pub write_timeout_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderConfig {
    /// Peers whose `X-Forwarded-For` is believed (CIDRs). Empty: nobody's.
    pub trusted_proxies: Vec<IpNet>,
    /// Name of the signed identity assertion header sent to the core.
    pub identity_header: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathConfig {
    /// Accept `%2F` inside a path segment (rejected with 400 by default).
    pub allow_encoded_slash: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitConfig {
    pub max_uri_bytes: usize,
    pub max_header_bytes: usize,
    pub max_body_bytes: u64,
    /// Time allowed to receive the request headers and each body chunk.
    pub client_header_timeout_seconds: u64,
    pub client_body_timeout_seconds: u64,
}
