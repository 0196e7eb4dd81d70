//! Reading the RBAC document from its source: a file, inline text, or a remote `https://` URL
//! (optional `Authorization` header, timeout, size bound, conditional GET with `ETag`).

use super::config::{RbacSource, Sources};
use super::rbac::RbacOrigin;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;

/// A remote RBAC document larger than this is refused.
const MAX_REMOTE_BYTES: usize = 1024 * 1024;

/// The result of reading the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Text {
        text: String,
        etag: Option<String>,
    },
    /// The server answered 304 to our `If-None-Match`.
    NotModified,
}

impl RbacSource {
    pub fn origin(&self) -> RbacOrigin {
        match self {
            RbacSource::Inline(_) => RbacOrigin::Inline,
            RbacSource::Url(u) => RbacOrigin::Url(redact(u)),
            RbacSource::File(p) => RbacOrigin::File(p.clone()),
        }
    }
}

/// The URL without user info and query, which may hold credentials, for logs and errors.
fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            // Both fail only for URLs that cannot have credentials; nothing to remove then.
            let _ = u.set_username("");
            let _ = u.set_password(None);
            if u.query().is_some() {
                u.set_query(Some("redacted"));
            }
            u.to_string()
        }
        Err(_) => "<invalid URL>".to_owned(),
    }
}

/// Fetches remote RBAC documents; built once per [`Sources`].
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    auth: Option<HeaderValue>,
}

impl Fetcher {
    pub fn new(sources: &Sources) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .timeout(sources.timeout)
            .connect_timeout(sources.timeout)
            .https_only(!sources.allow_http)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("mimir-proxy/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &sources.ca {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("authz.rbac_ca: cannot read {}: {e}", ca.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("authz.rbac_ca: {}: {e}", ca.display()))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let auth = match &sources.auth_header {
            Some(value) => {
                let mut v = HeaderValue::from_str(value)
                    .map_err(|_| "MIMIR_RBAC_AUTH_HEADER is not a valid header value".to_owned())?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the RBAC HTTP client: {e}"))?;
        Ok(Self { client, auth })
    }

    /// Reads `source`; for a URL, `etag` makes the request conditional.
    pub async fn read(&self, source: &RbacSource, etag: Option<&str>) -> Result<Fetched, String> {
        match source {
            RbacSource::Inline(text) => Ok(Fetched::Text {
                text: text.clone(),
                etag: None,
            }),
            RbacSource::File(path) => tokio::fs::read_to_string(path)
                .await
                .map(|text| Fetched::Text { text, etag: None })
                .map_err(|e| format!("{}: cannot read RBAC file: {e}", path.display())),
            RbacSource::Url(url) => self
                .get(url, etag)
                .await
                .map_err(|e| format!("{}: {e}", redact(url))),
        }
    }

    async fn get(&self, url: &str, etag: Option<&str>) -> Result<Fetched, String> {
        let mut request = self.client.get(url).header(ACCEPT, "application/json");
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        // reqwest's error text names the URL and the cause, never the request headers.
        let mut response = request
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        match response.status() {
            StatusCode::NOT_MODIFIED if etag.is_some() => return Ok(Fetched::NotModified),
            s if s.is_success() => {}
            s => return Err(format!("the server answered {s}")),
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_REMOTE_BYTES as u64)
        {
            return Err(format!(
                "the document is larger than {MAX_REMOTE_BYTES} bytes"
            ));
        }
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| e.without_url().to_string())?
        {
            if body.len() + chunk.len() > MAX_REMOTE_BYTES {
                return Err(format!(
                    "the document is larger than {MAX_REMOTE_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(body).map_err(|_| "the document is not UTF-8".to_owned())?;
        Ok(Fetched::Text { text, etag })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            redact("https://user:pw@policy.example/rbac.json?token=abc"),
            "https://policy.example/rbac.json?redacted"
        );
        assert_eq!(
            redact("https://policy.example/rbac.json"),
            "https://policy.example/rbac.json"
        );
    }
}
