//! Client ID Metadata Documents: a `client_id` that is an https URL names a JSON document the
//! client publishes there, and the gateway fetches it to learn the client's name and redirect
//! URIs. The fetch is a request the gateway makes on an anonymous caller's behalf, so it is
//! fenced like one: https only; the host's addresses must all be public (no loopback, private,
//! link-local, metadata-service or other special ranges) unless
//! `oauth.allow_private_document_hosts`, and the connection goes to the address that was
//! checked (no second lookup to rebind); redirects are not followed; size and time are
//! bounded; documents are cached for `oauth.document_cache_seconds`.

use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use super::clients::{Client, ClientKind, Metadata};
use super::config::OAuthConfig;
use crate::authn::now;

/// Documents cached at most.
const MAX_CACHED: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("client_id must be an https URL with a path, without userinfo, query or fragment")]
    BadUrl,
    #[error("the client_id host resolves to a non-public address")]
    NonPublic,
    #[error("cannot fetch the document: {0}")]
    Fetch(String),
    #[error("the document answer was {0}, not 200 (redirects are not followed)")]
    Status(u16),
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the document is invalid: {0}")]
    Invalid(String),
}

/// Addresses no document may come from: unspecified, loopback, private, shared (CGNAT),
/// link-local (cloud metadata services), documentation, benchmarking, multicast, reserved,
/// and the IPv6 forms of those.
const SPECIAL: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/3",
    "::/127",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// Whether `ip` is a public address (an IPv4-mapped address is judged as IPv4).
pub fn is_public(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    !SPECIAL
        .iter()
        .filter_map(|net| net.parse::<IpNet>().ok())
        .any(|net| net.contains(&ip))
}

pub struct Documents {
    allow_private: bool,
    roots: Vec<reqwest::Certificate>,
    max_bytes: usize,
    timeout: Duration,
    cache_seconds: u64,
    schemes: Vec<String>,
    cache: Mutex<HashMap<String, (Client, u64)>>,
}

impl Documents {
    pub fn new(cfg: &OAuthConfig) -> anyhow::Result<Self> {
        let roots = match &cfg.document_ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    anyhow::anyhow!("oauth.document_ca_file {}: {e}", path.display())
                })?;
                reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| anyhow::anyhow!("oauth.document_ca_file: {e}"))?
            }
            None => Vec::new(),
        };
        Ok(Self {
            allow_private: cfg.allow_private_document_hosts,
            roots,
            max_bytes: cfg.document_max_bytes,
            timeout: Duration::from_secs(cfg.document_timeout_seconds),
            cache_seconds: cfg.document_cache_seconds,
            schemes: cfg.redirect_schemes.clone(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The client the document at `client_id` describes, from the cache when fresh.
    pub async fn client(&self, client_id: &str) -> Result<Client, DocumentError> {
        let now = now();
        if let Some((client, at)) = self.cache_get(client_id) {
            if now < at + self.cache_seconds {
                return Ok(client);
            }
        }
        let client = self.fetch(client_id).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED {
            let cache_seconds = self.cache_seconds;
            cache.retain(|_, (_, at)| now < *at + cache_seconds);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(client_id.to_owned(), (client.clone(), now));
        Ok(client)
    }

    fn cache_get(&self, client_id: &str) -> Option<(Client, u64)> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(client_id).cloned()
    }

    async fn fetch(&self, client_id: &str) -> Result<Client, DocumentError> {
        let url = url::Url::parse(client_id).map_err(|_| DocumentError::BadUrl)?;
        let host = url.host_str().ok_or(DocumentError::BadUrl)?.to_owned();
        if url.scheme() != "https"
            || matches!(url.path(), "" | "/")
            || !url.username().is_empty()
            || url.password().is_some()
            || url.query().is_some()
            || url.fragment().is_some()
            || client_id.len() > 2_000
        {
            return Err(DocumentError::BadUrl);
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<_> = tokio::time::timeout(
            self.timeout,
            tokio::net::lookup_host((host.trim_matches(['[', ']']), port)),
        )
        .await
        .map_err(|_| DocumentError::Fetch("name lookup timed out".into()))?
        .map_err(|e| DocumentError::Fetch(format!("name lookup failed: {e}")))?
        .collect();
        let Some(addr) = addrs.first().copied() else {
            return Err(DocumentError::Fetch("the host has no address".into()));
        };
        if !self.allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
            return Err(DocumentError::NonPublic);
        }
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(self.timeout)
            .resolve(&host, addr);
        if !self.roots.is_empty() {
            builder = builder.tls_built_in_root_certs(false);
            for root in &self.roots {
                builder = builder.add_root_certificate(root.clone());
            }
        }
        let http = builder
            .build()
            .map_err(|e| DocumentError::Fetch(e.to_string()))?;
        let body = tokio::time::timeout(self.timeout, self.read(&http, url))
            .await
            .map_err(|_| DocumentError::Fetch("timed out".into()))??;
        let metadata: Metadata = serde_json::from_slice(&body)
            .map_err(|e| DocumentError::Invalid(format!("not client metadata JSON: {e}")))?;
        if metadata.client_id.as_deref() != Some(client_id) {
            return Err(DocumentError::Invalid(
                "its client_id is not the URL it was fetched from".into(),
            ));
        }
        if metadata
            .token_endpoint_auth_method
            .as_deref()
            .is_some_and(|m| m != "none")
        {
            return Err(DocumentError::Invalid(
                "only public clients (token_endpoint_auth_method none) are supported".into(),
            ));
        }
        let name = metadata
            .check(&self.schemes)
            .map_err(|(_, why)| DocumentError::Invalid(why))?;
        Ok(Client {
            client_id: client_id.to_owned(),
            name: if name.is_empty() { host } else { name },
            redirect_uris: metadata.redirect_uris,
            secret_sha256: None,
            kind: ClientKind::Document,
            created_at: now(),
        })
    }

    /// The body of a 200 answer, at most `max_bytes`.
    async fn read(&self, http: &reqwest::Client, url: url::Url) -> Result<Vec<u8>, DocumentError> {
        let mut response = http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| DocumentError::Fetch(e.without_url().to_string()))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(DocumentError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > self.max_bytes as u64)
        {
            return Err(DocumentError::TooLarge(self.max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| DocumentError::Fetch(e.without_url().to_string()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > self.max_bytes {
                return Err(DocumentError::TooLarge(self.max_bytes));
            }
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "169.254.169.254",
            "10.1.2.3",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "fd00::1",
            "fe80::1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn bad_urls_and_private_hosts_are_refused_before_any_request() {
        let docs = Documents::new(&OAuthConfig::default()).unwrap();
        for bad in [
            "http://example.com/client.json",
            "https://example.com/",
            "https://user@example.com/c.json",
            "https://example.com/c.json?x=1",
            "https://example.com/c.json#f",
        ] {
            assert_eq!(docs.client(bad).await, Err(DocumentError::BadUrl), "{bad}");
        }
        for private in [
            "https://127.0.0.1/c.json",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/c.json",
            "https://localhost/c.json",
        ] {
            assert_eq!(
                docs.client(private).await,
                Err(DocumentError::NonPublic),
                "{private}"
            );
        }
    }
}
