//! Built-in defaults: a loopback-only proxy in front of a core on 127.0.0.1:8081.
//! `PathConfig` derives its default (encoded slashes rejected).
//! `config/policy.toml` spells out exactly these values (a test keeps them in sync).

use super::sections::{HeaderConfig, LimitConfig, ServerConfig, TlsConfig, UpstreamConfig};
use std::net::{Ipv4Addr, SocketAddr};

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8443)),
            http_redirect_listen: None,
            admin_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 9090)),
            hsts_max_age: 31_536_000,
            grace_period_seconds: 10,
            threads: 2,
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert: "certs/dev/server.pem".into(),
            key: "certs/dev/server.key".into(),
            client_ca: None,
            generate_dev_cert: false,
        }
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:8081".into(),
            tls: false,
            sni: String::new(),
            ca: None,
            client_cert: None,
            client_key: None,
            connect_timeout_ms: 5_000,
            read_timeout_seconds: 300,
            write_timeout_seconds: 300,
        }
    }
}

impl Default for HeaderConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            identity_header: "x-mimir-identity".into(),
        }
    }
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            max_uri_bytes: 8_192,
            max_header_bytes: 16_384,
            max_body_bytes: 10 * 1024 * 1024,
            client_header_timeout_seconds: 10,
            client_body_timeout_seconds: 30,
        }
    }
}
