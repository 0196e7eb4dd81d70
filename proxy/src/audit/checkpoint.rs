//! Signed checkpoints: periodically the file sink appends a chained record whose Ed25519
//! signature covers the sequence number and hash of the record before it. Whoever can rewrite
//! the file can recompute SHA-256 hashes, but not these signatures without the private key.

use anyhow::Context;
use ring::signature::{self, Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::keys::ed25519;

pub const ACTION: &str = "audit-checkpoint";

/// The message signed for the record `seq` whose hash is `hash`.
fn message(seq: u64, hash: &str) -> Vec<u8> {
    format!("mimir-audit-checkpoint/v1\n{seq}\n{hash}").into_bytes()
}

/// Short identifier of a public key: the first 8 bytes of its SHA-256, hex.
fn key_id(public: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public);
    hex::encode(&digest.as_ref()[..8])
}

pub struct Signer {
    key: Ed25519KeyPair,
    key_id: String,
}

impl Signer {
    /// Reads a PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519` or
    /// `mimir-proxy audit keygen`).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let key = ed25519::key_pair(&ed25519::read_private_pem(path)?)?;
        let key_id = key_id(key.public_key().as_ref());
        Ok(Self { key, key_id })
    }

    pub fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// The checkpoint record (JSON object missing its closing brace) for record `seq`/`hash`.
    pub fn checkpoint(&self, timestamp: String, seq: u64, hash: &str) -> Vec<u8> {
        let record = Record {
            timestamp,
            kind: "event".into(),
            category: "file".into(),
            action: ACTION.into(),
            outcome: "success".into(),
            seq,
            hash: hash.to_owned(),
            key_id: self.key_id.clone(),
            signature: hex::encode(self.key.sign(&message(seq, hash))),
        };
        let mut json = serde_json::to_vec(&record).unwrap_or_else(|_| b"{}".to_vec());
        json.pop();
        json
    }
}

/// A checkpoint as written; also how `verify` reads one back.
#[derive(Serialize, Deserialize)]
pub struct Record {
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    #[serde(rename = "event.kind")]
    pub kind: String,
    #[serde(rename = "event.category")]
    pub category: String,
    #[serde(rename = "event.action")]
    pub action: String,
    #[serde(rename = "event.outcome")]
    pub outcome: String,
    #[serde(rename = "audit.checkpoint.seq")]
    pub seq: u64,
    #[serde(rename = "audit.checkpoint.hash")]
    pub hash: String,
    #[serde(rename = "audit.checkpoint.key_id")]
    pub key_id: String,
    #[serde(rename = "audit.checkpoint.signature")]
    pub signature: String,
}

/// The public half used by `verify`.
pub struct VerifyKey {
    public: Vec<u8>,
}

impl VerifyKey {
    /// A `PUBLIC KEY` PEM, or the private key PEM (its public half is used).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if let Some(public) = ed25519::parse_public_pem(&text) {
            return Ok(Self { public });
        }
        let signer = Signer::load(path)?;
        Ok(Self {
            public: signer.public_key().to_vec(),
        })
    }

    pub fn key_id(&self) -> String {
        key_id(&self.public)
    }

    pub fn verify(&self, record: &Record) -> bool {
        let Ok(sig) = hex::decode(&record.signature) else {
            return false;
        };
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.public)
            .verify(&message(record.seq, &record.hash), &sig)
            .is_ok()
    }
}

/// Writes a new key pair: `<dir>/audit-signing.pem` (private, mode 0600) and
/// `<dir>/audit-signing.pub.pem`. Refuses to overwrite.
pub fn generate(dir: &Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    ed25519::write_pair(dir, "audit-signing.pem", "audit-signing.pub.pem")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = generate(dir.path()).unwrap();
        assert!(generate(dir.path()).is_err(), "must not overwrite");
        let signer = Signer::load(&private).unwrap();
        let mut open = signer.checkpoint("t".into(), 7, "ab");
        open.push(b'}');
        let mut record: Record = serde_json::from_slice(&open).unwrap();
        let key = VerifyKey::load(&public).unwrap();
        assert_eq!(key.key_id(), record.key_id);
        assert!(key.verify(&record));
        assert!(VerifyKey::load(&private).unwrap().verify(&record));
        record.seq = 8;
        assert!(!key.verify(&record));
    }
}
