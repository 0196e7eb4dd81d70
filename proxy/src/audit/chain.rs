//! The hash chain. Every line ends with `,"seq":N,"prev_hash":"…","hash":"…"}`; `hash` is the
//! SHA-256 (or, with a key, HMAC-SHA-256) of the line's exact bytes up to, not including,
//! `,"hash":"`. No re-serialization is involved, so any change to any byte shows.

use ring::{digest, hmac};

use crate::hexstr;
use serde::Deserialize;

/// `prev_hash` of the first record ever written.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const HASH_MEMBER: &[u8] = b",\"hash\":\"";
/// `,"hash":"` + 64 hex digits + `"}`.
const SUFFIX_LEN: usize = HASH_MEMBER.len() + 64 + 2;

/// How record hashes are computed.
#[derive(Clone)]
pub enum Hasher {
    Sha256,
    Hmac(hmac::Key),
}

impl Hasher {
    /// HMAC-SHA-256 with the contents of a key file (at least 32 bytes), or plain SHA-256.
    pub fn from_key(key: Option<&[u8]>) -> Self {
        match key {
            Some(key) => Self::Hmac(hmac::Key::new(hmac::HMAC_SHA256, key)),
            None => Self::Sha256,
        }
    }

    fn hash(&self, bytes: &[u8]) -> String {
        match self {
            Self::Sha256 => hexstr::encode(digest::digest(&digest::SHA256, bytes).as_ref()),
            Self::Hmac(key) => hexstr::encode(hmac::sign(key, bytes).as_ref()),
        }
    }
}

/// The writer's position in the chain.
#[derive(Clone)]
pub struct Chain {
    hasher: Hasher,
    /// Sequence number of the last record written (0: none yet).
    pub seq: u64,
    pub last_hash: String,
}

impl Chain {
    pub fn new(hasher: Hasher) -> Self {
        Self {
            hasher,
            seq: 0,
            last_hash: GENESIS.to_owned(),
        }
    }

    /// Continue after an existing record.
    pub fn resume(hasher: Hasher, seq: u64, last_hash: String) -> Self {
        Self {
            hasher,
            seq,
            last_hash,
        }
    }

    /// Append one complete line (with `\n`) to `out`: `open` is a JSON object missing its
    /// closing brace.
    pub fn seal(&mut self, open: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let seq = self.seq + 1;
        out.extend_from_slice(open);
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(seq.to_string().as_bytes());
        out.extend_from_slice(b",\"prev_hash\":\"");
        out.extend_from_slice(self.last_hash.as_bytes());
        out.push(b'"');
        let hash = self.hasher.hash(&out[start..]);
        out.extend_from_slice(HASH_MEMBER);
        out.extend_from_slice(hash.as_bytes());
        out.extend_from_slice(b"\"}\n");
        self.seq = seq;
        self.last_hash = hash;
    }
}

/// The chain fields of one line, checked against the line's own bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Deserialize)]
struct Fields {
    seq: u64,
    prev_hash: String,
    hash: String,
}

/// Parses `line` (without `\n`) and checks that its `hash` matches its bytes.
pub fn check_line(hasher: &Hasher, line: &[u8]) -> Result<Link, String> {
    let fields: Fields =
        serde_json::from_slice(line).map_err(|e| format!("not a valid audit record: {e}"))?;
    if line.len() < SUFFIX_LEN || !line.ends_with(b"\"}") {
        return Err("the record does not end with its hash".into());
    }
    let (body, suffix) = line.split_at(line.len() - SUFFIX_LEN);
    if !suffix.starts_with(HASH_MEMBER)
        || suffix[HASH_MEMBER.len()..SUFFIX_LEN - 2] != *fields.hash.as_bytes()
    {
        return Err("the record does not end with its hash".into());
    }
    if hasher.hash(body) != fields.hash {
        return Err(
            "hash mismatch: the record was altered (or a different HMAC key is in use)".into(),
        );
    }
    Ok(Link {
        seq: fields.seq,
        prev_hash: fields.prev_hash,
        hash: fields.hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(chain: &mut Chain, body: &str) -> Vec<u8> {
        let mut out = Vec::new();
        chain.seal(body.as_bytes(), &mut out);
        out
    }

    #[test]
    fn lines_link_and_verify() {
        let mut chain = Chain::new(Hasher::Sha256);
        let a = sealed(&mut chain, r#"{"a":1"#);
        let b = sealed(&mut chain, r#"{"b":2"#);
        let la = check_line(&Hasher::Sha256, a.strip_suffix(b"\n").unwrap()).unwrap();
        let lb = check_line(&Hasher::Sha256, b.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!((la.seq, la.prev_hash.as_str()), (1, GENESIS));
        assert_eq!((lb.seq, lb.prev_hash), (2, la.hash));
        let text = String::from_utf8(a).unwrap();
        assert!(
            text.starts_with(r#"{"a":1,"seq":1,"prev_hash":"000"#),
            "{text}"
        );
    }

    #[test]
    fn altered_or_rekeyed_lines_fail() {
        let keyed = Hasher::from_key(Some(&[7u8; 32]));
        let mut chain = Chain::new(keyed.clone());
        let line = sealed(&mut chain, r#"{"user.id":"alice""#);
        let line = line.strip_suffix(b"\n").unwrap();
        assert!(check_line(&keyed, line).is_ok());
        assert!(check_line(&Hasher::Sha256, line).is_err());
        let forged = String::from_utf8(line.to_vec())
            .unwrap()
            .replace("alice", "mallory");
        assert!(check_line(&keyed, forged.as_bytes()).is_err());
        assert!(check_line(&keyed, b"{\"seq\":1}").is_err());
        assert!(check_line(&keyed, b"garbage").is_err());
    }
}
