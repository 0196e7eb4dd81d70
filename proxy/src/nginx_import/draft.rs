//! The policy being built. Every value remembers the directive it came from (emitted as a
//! comment); the proxy has one of each, so a second, different value is reported, not merged.

use ipnet::IpNet;
use std::net::SocketAddr;

use super::report::{Findings, Loc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub at: Loc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Second,
    Minute,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Second => "second",
            Self::Minute => "minute",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Period,
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port`.
    pub address: String,
    /// `Some(sni)` for `https://`.
    pub tls: Option<String>,
}

/// Which key a rate limit counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKey {
    Ip,
    ApiKey,
}

#[derive(Debug, Default)]
pub struct Draft {
    pub listen: Option<Sourced<SocketAddr>>,
    pub redirect_listen: Option<Sourced<SocketAddr>>,
    pub cert: Option<Sourced<String>>,
    pub key: Option<Sourced<String>>,
    pub client_ca: Option<Sourced<String>>,
    /// Built-in already (TLS 1.2 and 1.3): only cited in a comment.
    pub protocols: Option<Loc>,
    pub upstream: Option<Sourced<Upstream>>,
    pub trusted_proxies: Vec<Sourced<IpNet>>,
    /// The static `X-API-Key` check: authentication stays on.
    pub api_key_check: Option<Loc>,
    pub resource: Option<Sourced<String>>,
    pub per_ip: Option<Sourced<Rate>>,
    pub per_api_key: Option<Sourced<Rate>>,
    pub allow: Vec<Sourced<IpNet>>,
    pub deny: Vec<Sourced<IpNet>>,
}

/// Sets `slot` once; a different second value is reported with where the first came from.
pub fn set_once<T: PartialEq + std::fmt::Debug>(
    slot: &mut Option<Sourced<T>>,
    value: T,
    at: &Loc,
    what: &str,
    findings: &mut Findings,
) {
    match slot {
        None => {
            *slot = Some(Sourced {
                value,
                at: at.clone(),
            })
        }
        Some(first) if first.value == value => {}
        Some(first) => findings.untranslated(
            at,
            format!(
                "the proxy has one {what}; kept {:?} from {}",
                first.value, first.at
            ),
        ),
    }
}
