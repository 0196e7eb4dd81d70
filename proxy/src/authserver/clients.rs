//! OAuth clients: configured in `[[oauth.clients]]`, registered at `/register` (kept in the
//! state file), or named by the https URL of their Client ID Metadata Document
//! ([`super::client_document`]). Registration and documents state the same metadata, checked
//! alike here.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::client_document::{DocumentError, Documents};
use super::config::{ClientConfig, OAuthConfig};
use super::redirect_uris;
use super::store::Store;
use crate::authn::apikey;

/// Redirect URIs one client may register.
const MAX_REDIRECT_URIS: usize = 10;
const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    Configured,
    Registered,
    Document,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// SHA-256 (hex) of a confidential client's secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sha256: Option<String>,
    pub kind: ClientKind,
    pub created_at: u64,
}

impl Client {
    /// The host the consent page names: where the code will be sent.
    pub fn redirect_host(uri: &str) -> String {
        url::Url::parse(uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| uri.split(':').next().unwrap_or(uri).to_owned())
    }

    pub fn is_public(&self) -> bool {
        self.secret_sha256.is_none()
    }

    /// Whether `secret` is this confidential client's secret (constant time).
    pub fn secret_matches(&self, secret: &str) -> bool {
        self.secret_sha256
            .as_deref()
            .is_some_and(|hash| apikey::matches(secret, &hash.to_ascii_lowercase()))
    }
}

/// Client metadata (RFC 7591 §2), as a registration request or a metadata document states it.
/// Unknown members are ignored, as the RFC asks.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Metadata {
    pub client_id: Option<String>,
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
}

impl Metadata {
    /// The client's name and redirect URIs, or why the metadata is refused
    /// (`invalid_redirect_uri` or `invalid_client_metadata`, RFC 7591 §3.2.2).
    pub fn check(&self, schemes: &[String]) -> Result<String, (&'static str, String)> {
        let bad = |why: &str| Err(("invalid_client_metadata", why.to_owned()));
        if self.redirect_uris.is_empty() || self.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err((
                "invalid_redirect_uri",
                format!("1 to {MAX_REDIRECT_URIS} redirect_uris are required"),
            ));
        }
        for uri in &self.redirect_uris {
            redirect_uris::check(uri, schemes)
                .map_err(|why| ("invalid_redirect_uri", format!("{why}: {uri:.200}")))?;
        }
        let allowed = |values: &Option<Vec<String>>, known: &[&str]| {
            values.iter().flatten().all(|v| known.contains(&v.as_str()))
        };
        if !allowed(&self.grant_types, &["authorization_code", "refresh_token"]) {
            return bad("grant_types may only be authorization_code and refresh_token");
        }
        if !allowed(&self.response_types, &["code"]) {
            return bad("response_types may only be code");
        }
        let name = self.client_name.clone().unwrap_or_default();
        if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return bad("client_name must be at most 100 characters, without control characters");
        }
        Ok(name)
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("unknown client_id")]
    Unknown,
    #[error("client metadata document refused: {0}")]
    Document(#[from] DocumentError),
}

pub struct Clients {
    configured: HashMap<String, Client>,
    documents: Option<Documents>,
}

impl Clients {
    pub fn new(cfg: &OAuthConfig) -> anyhow::Result<Self> {
        let configured = cfg
            .clients
            .iter()
            .map(|c: &ClientConfig| {
                let client = Client {
                    client_id: c.client_id.clone(),
                    name: if c.name.is_empty() {
                        c.client_id.clone()
                    } else {
                        c.name.clone()
                    },
                    redirect_uris: c.redirect_uris.clone(),
                    secret_sha256: c.secret_sha256.clone(),
                    kind: ClientKind::Configured,
                    created_at: 0,
                };
                (c.client_id.clone(), client)
            })
            .collect();
        let documents = cfg
            .client_metadata_documents
            .then(|| Documents::new(cfg))
            .transpose()?;
        Ok(Self {
            configured,
            documents,
        })
    }

    pub fn documents_supported(&self) -> bool {
        self.documents.is_some()
    }

    /// The client `client_id` names: configured, registered, or its metadata document.
    pub async fn resolve(&self, store: &Store, client_id: &str) -> Result<Client, ClientError> {
        if let Some(client) = self.configured.get(client_id) {
            return Ok(client.clone());
        }
        if let Some(client) = store.read(|s| s.clients.get(client_id).cloned()) {
            return Ok(client);
        }
        match &self.documents {
            Some(documents) if client_id.starts_with("https://") => {
                Ok(documents.client(client_id).await?)
            }
            _ => Err(ClientError::Unknown),
        }
    }
}
