//! Keys of an external issuer: `jwks_uri` from its OpenID discovery document (plain HTTP + serde;
//! only two fields of it are needed), then the JWKS. Kept in memory and swapped atomically; a
//! failed fetch keeps the previous keys, so an IdP outage does not stop tokens it already
//! signed. Refreshes happen on schedule (lazily, when a request finds the keys older than
//! `refresh`) and when a token names an unknown key, never more often than `min_interval`.

use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use super::keys::KeySet;

/// Discovery and JWKS documents larger than this are refused.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

pub struct RemoteKeys {
    issuer: String,
    jwks_uri: Option<String>,
    client: reqwest::Client,
    keys: ArcSwap<KeySet>,
    /// When the keys were last fetched successfully.
    fetched: std::sync::Mutex<Option<Instant>>,
    /// When a fetch was last attempted; also serializes fetches.
    attempted: Mutex<Option<Instant>>,
    refresh: Duration,
    min_interval: Duration,
}

/// An HTTP client for an identity provider: bounded time, no redirects (a redirect could point
/// the proxy anywhere), the provider's CA when configured.
pub fn idp_client(ca_file: Option<&std::path::Path>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .use_rustls_tls();
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca)?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder.build()?)
}

impl RemoteKeys {
    pub fn new(
        issuer: &str,
        jwks_uri: Option<String>,
        ca_file: Option<&std::path::Path>,
        refresh: Duration,
        min_interval: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            issuer: issuer.to_owned(),
            jwks_uri,
            client: idp_client(ca_file)?,
            keys: ArcSwap::from_pointee(KeySet::default()),
            fetched: std::sync::Mutex::new(None),
            attempted: Mutex::new(None),
            refresh,
            min_interval,
        })
    }

    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }

    /// Keys older than the refresh interval (or never fetched).
    pub fn stale(&self) -> bool {
        let fetched = *self.fetched.lock().unwrap_or_else(|e| e.into_inner());
        fetched.is_none_or(|at| at.elapsed() >= self.refresh)
    }

    /// Fetch now unless a fetch was attempted within `min_interval`. Returns whether new keys
    /// were installed, by this call or by the fetch it waited for: the first requests after a
    /// start all find no key, and all of them must see the keys one fetch brings.
    pub async fn refresh(&self) -> bool {
        let before = self.keys.load_full();
        let mut attempted = self.attempted.lock().await;
        if !Arc::ptr_eq(&before, &self.keys.load_full()) {
            return true;
        }
        if attempted.is_some_and(|at| at.elapsed() < self.min_interval) {
            return false;
        }
        *attempted = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(issuer = %self.issuer, keys = keys.len(), "issuer keys refreshed");
                self.keys.store(Arc::new(keys));
                *self.fetched.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                true
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, "cannot refresh issuer keys, keeping the cached ones: {e:#}");
                false
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<KeySet> {
        let jwks_uri = match &self.jwks_uri {
            Some(uri) => uri.clone(),
            None => self.discover().await?,
        };
        let body = self.get(&jwks_uri).await?;
        let keys = KeySet::from_jwks(&body).map_err(anyhow::Error::msg)?;
        anyhow::ensure!(!keys.is_empty(), "{jwks_uri} has no usable signing key");
        Ok(keys)
    }

    async fn discover(&self) -> anyhow::Result<String> {
        #[derive(serde::Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let doc: Discovery = serde_json::from_slice(&self.get(&url).await?)?;
        // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it came from.
        anyhow::ensure!(
            doc.issuer == self.issuer,
            "discovery document names issuer {:?}",
            doc.issuer
        );
        anyhow::ensure!(
            super::login_config::is_http_url(&doc.jwks_uri, true),
            "jwks_uri {:?} is not an https URL",
            doc.jwks_uri
        );
        Ok(doc.jwks_uri)
    }

    async fn get(&self, url: &str) -> anyhow::Result<Vec<u8>> {
        let mut response = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await?
            .error_for_status()?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            anyhow::ensure!(
                body.len() + chunk.len() <= MAX_DOCUMENT_BYTES,
                "{url} is larger than {MAX_DOCUMENT_BYTES} bytes"
            );
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[tokio::test]
    async fn requests_waiting_for_the_first_fetch_see_its_keys() {
        let public =
            crate::keys::ed25519::public_key(&crate::keys::ed25519::generate().unwrap()).unwrap();
        let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA",
            "kid": "k1", "x": URL_SAFE_NO_PAD.encode(public)}]})
        .to_string();
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move {
                    // Slow enough that the second caller waits for this fetch.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    jwks
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let keys = RemoteKeys::new(
            "https://idp.test",
            Some(format!("http://{addr}/jwks")),
            None,
            Duration::from_secs(600),
            Duration::from_secs(30),
        )
        .unwrap();
        let (first, second) = tokio::join!(keys.refresh(), keys.refresh());
        assert!(first && second, "both callers see the new keys");
        assert!(!keys.keys().is_empty());
        // A refresh within min_interval with nothing new: no fetch, nothing installed.
        assert!(!keys.refresh().await);
    }
}
