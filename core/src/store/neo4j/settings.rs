//! Connection settings of the Neo4j store.

use anyhow::{bail, Context};
use std::path::PathBuf;
use std::time::Duration;

/// Connections kept open to Neo4j; requests beyond this wait for a free one.
const POOL_SIZE: usize = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to reach Neo4j. `Debug` leaves the password out.
#[derive(Clone)]
pub struct Neo4jSettings {
    /// `bolt://`, `bolt+s://`, `neo4j://` or `neo4j+s://`.
    pub uri: String,
    pub user: String,
    pub password: String,
    /// PEM bundle of the CA that signed Neo4j's certificate, instead of the system roots.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Neo4jSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neo4jSettings")
            .field("uri", &self.uri)
            .field("user", &self.user)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl Neo4jSettings {
    /// The driver configuration. Refuses the `+ssc` schemes (TLS without certificate checks):
    /// a private CA is trusted with `ca_file` instead.
    pub(super) fn driver_config(&self) -> anyhow::Result<neo4rs::Config> {
        let scheme = self.uri.split_once("://").map_or("", |(scheme, _)| scheme);
        let tls = match scheme {
            "bolt" | "neo4j" => false,
            "bolt+s" | "neo4j+s" => true,
            "bolt+ssc" | "neo4j+ssc" => bail!(
                "NEO4J_URI scheme {scheme}:// turns certificate verification off; use {}://, \
                 with NEO4J_CA_FILE for a private CA",
                scheme.trim_end_matches("sc")
            ),
            _ => bail!("NEO4J_URI must start with bolt://, bolt+s://, neo4j:// or neo4j+s://"),
        };
        if !tls && self.ca_file.is_some() {
            bail!("NEO4J_CA_FILE is set but NEO4J_URI does not use TLS (bolt+s:// or neo4j+s://)");
        }
        if !tls && !is_loopback(&self.uri) {
            tracing::warn!(
                uri = %self.uri,
                "Neo4j is reached without TLS: credentials and data cross the network in clear"
            );
        }
        let mut config = neo4rs::ConfigBuilder::new()
            .uri(&self.uri)
            .user(&self.user)
            .password(&self.password)
            .max_connections(POOL_SIZE)
            .connection_timeout(CONNECT_TIMEOUT);
        if let Some(ca) = &self.ca_file {
            // The driver reads the file only when it connects; a missing file fails here.
            std::fs::metadata(ca).with_context(|| format!("NEO4J_CA_FILE {}", ca.display()))?;
            config = config.with_client_certificate(ca);
        }
        Ok(config.build()?)
    }
}

fn is_loopback(uri: &str) -> bool {
    let host = uri
        .split_once("://")
        .map_or(uri, |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(uri: &str, ca_file: Option<&str>) -> Neo4jSettings {
        Neo4jSettings {
            uri: uri.into(),
            user: "neo4j".into(),
            password: "secret-password".into(),
            ca_file: ca_file.map(PathBuf::from),
        }
    }

    #[test]
    fn schemes_without_verification_are_refused() {
        for uri in [
            "bolt+ssc://db:7687",
            "neo4j+ssc://db:7687",
            "http://db",
            "db:7687",
        ] {
            assert!(settings(uri, None).driver_config().is_err(), "{uri}");
        }
        for uri in [
            "bolt://127.0.0.1:7687",
            "bolt+s://db:7687",
            "neo4j+s://db:7687",
        ] {
            assert!(settings(uri, None).driver_config().is_ok(), "{uri}");
        }
    }

    #[test]
    fn a_ca_file_needs_tls_and_must_exist() {
        assert!(settings("bolt://127.0.0.1:7687", Some("/dev/null"))
            .driver_config()
            .is_err());
        assert!(settings("bolt+s://db:7687", Some("/nonexistent/ca.pem"))
            .driver_config()
            .is_err());
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("bolt://127.0.0.1:7687"));
        assert!(is_loopback("bolt://localhost"));
        assert!(is_loopback("bolt://[::1]:7687"));
        assert!(!is_loopback("bolt://db.internal:7687"));
        assert!(!is_loopback("bolt://127.0.0.1.evil.example:7687"));
    }

    #[test]
    fn debug_hides_the_password() {
        assert!(!format!("{:?}", settings("bolt://x", None)).contains("secret-password"));
    }
}
