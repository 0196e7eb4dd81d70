//! API key format: `mimir_<id>_<secret>`, where `<id>` is 12 hex characters (safe to log and to
//! list) and `<secret>` is 256 random bits, base64url. Only SHA-256 of the whole key is stored;
//! a presented key is looked up by its id and its hash compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use crate::hexstr;

pub const PREFIX: &str = "mimir_";
const ID_HEX_CHARS: usize = 12;
const SECRET_BYTES: usize = 32;
/// SHA-256.
pub const DIGEST_BYTES: usize = 32;

/// A freshly generated key: show `key` once, store `id` and `hash`.
pub struct NewKey {
    pub id: String,
    pub key: String,
    pub hash: String,
}

pub fn generate() -> anyhow::Result<NewKey> {
    let rng = SystemRandom::new();
    let mut id = [0u8; ID_HEX_CHARS / 2];
    let mut secret = [0u8; SECRET_BYTES];
    rng.fill(&mut id)
        .and_then(|()| rng.fill(&mut secret))
        .map_err(|_| anyhow::anyhow!("system random number generator failed"))?;
    let id = hexstr::encode(&id);
    let key = format!("{PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(secret));
    let hash = hash(&key);
    Ok(NewKey { id, key, hash })
}

/// The key id inside a well-formed key, `None` for anything else.
pub fn id_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_at_checked(ID_HEX_CHARS)?;
    let secret = secret.strip_prefix('_')?;
    let well_formed = id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some(id)
}

/// SHA-256 of the key, lowercase hex.
pub fn hash(key: &str) -> String {
    hexstr::encode(ring::digest::digest(&ring::digest::SHA256, key.as_bytes()).as_ref())
}

/// A stored hex hash as the digest it spells; `None` (matches nothing) when malformed.
pub fn stored_digest(stored: &str) -> Option<[u8; DIGEST_BYTES]> {
    let mut digest = [0; DIGEST_BYTES];
    hex::decode_to_slice(stored, &mut digest).ok()?;
    Some(digest)
}

/// Whether `key` hashes to `digest` (constant time in the comparison).
pub fn matches_digest(key: &str, digest: &[u8; DIGEST_BYTES]) -> bool {
    let hashed = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    hashed.as_ref().ct_eq(digest).into()
}

/// Whether `key` hashes to the hex hash `stored`.
pub fn matches(key: &str, stored: &str) -> bool {
    stored_digest(stored).is_some_and(|digest| matches_digest(key, &digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_verify() {
        let k = generate().unwrap();
        assert_eq!(id_of(&k.key), Some(k.id.as_str()));
        assert!(matches(&k.key, &k.hash));
        assert_eq!(k.hash.len(), 64);
        let other = generate().unwrap();
        assert_ne!(k.key, other.key);
        assert!(!matches(&other.key, &k.hash));
        assert!(matches(&k.key, &k.hash.to_ascii_uppercase()));
        assert!(!matches(&k.key, &k.hash[1..]));
        assert!(!matches(&k.key, "not hex"));
    }

    #[test]
    fn malformed_keys_have_no_id() {
        let k = generate().unwrap().key;
        for bad in [
            "mimir_",
            "mimir_abc",
            &k[..k.len() - 1],
            &format!("{k}x"),
            &k.replacen("mimir_", "MIMIR_", 1),
            &k.to_uppercase(),
            "mimir_zzzzzzzzzzzz_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(id_of(bad), None, "{bad}");
        }
    }
}
