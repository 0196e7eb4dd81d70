//! Ed25519 key files shared by the proxy's three signers (its own tokens, the identity
//! assertion, audit checkpoints): PKCS#8 `PRIVATE KEY` PEM in, raw or SPKI public keys out,
//! new pairs written with the private half readable by its owner only.

use anyhow::Context;
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32-byte key follows. The
/// encoding is fixed, so a public key PEM is checked against it rather than parsed.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A new private key, PKCS#8 DER.
pub fn generate() -> anyhow::Result<Vec<u8>> {
    Ok(rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?.serialize_der())
}

/// The PKCS#8 DER of a `PRIVATE KEY` PEM holding an Ed25519 key.
pub fn parse_private_pem(text: &str) -> anyhow::Result<Vec<u8>> {
    let pem = pem::parse(text).context("not a PEM file")?;
    anyhow::ensure!(
        pem.tag() == "PRIVATE KEY",
        "expected a PKCS#8 \"PRIVATE KEY\" PEM block, found {:?}",
        pem.tag()
    );
    let der = pem.into_contents();
    key_pair(&der)?;
    Ok(der)
}

/// [`parse_private_pem`] of a file; errors name the file.
pub fn read_private_pem(path: &Path) -> anyhow::Result<Vec<u8>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_private_pem(&text).with_context(|| path.display().to_string())
}

/// The signing key of a PKCS#8 DER private key.
pub fn key_pair(pkcs8: &[u8]) -> anyhow::Result<Ed25519KeyPair> {
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .map_err(|e| anyhow::anyhow!("not a PKCS#8 Ed25519 key: {e}"))
}

/// The 32-byte public key of a PKCS#8 DER private key.
pub fn public_key(pkcs8: &[u8]) -> anyhow::Result<Vec<u8>> {
    Ok(key_pair(pkcs8)?.public_key().as_ref().to_vec())
}

/// The `PUBLIC KEY` (SPKI) PEM of a PKCS#8 DER private key.
pub fn public_pem(pkcs8: &[u8]) -> anyhow::Result<String> {
    let mut spki = SPKI_PREFIX.to_vec();
    spki.extend_from_slice(&public_key(pkcs8)?);
    Ok(pem::encode(&pem::Pem::new("PUBLIC KEY", spki)))
}

/// The 32-byte key of a `PUBLIC KEY` PEM; `None` if the text is no such PEM.
pub fn parse_public_pem(text: &str) -> Option<Vec<u8>> {
    let pem = pem::parse(text).ok().filter(|p| p.tag() == "PUBLIC KEY")?;
    pem.contents()
        .strip_prefix(&SPKI_PREFIX[..])
        .filter(|key| key.len() == 32)
        .map(<[u8]>::to_vec)
}

/// A new pair as (PKCS#8 `PRIVATE KEY` PEM, SPKI `PUBLIC KEY` PEM).
pub fn generate_pem_pair() -> anyhow::Result<(String, String)> {
    let pkcs8 = generate()?;
    let public = public_pem(&pkcs8)?;
    Ok((pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8)), public))
}

/// The SPKI PEM public key of a PKCS#8 PEM private key.
pub fn public_pem_of(private_pem: &str) -> anyhow::Result<String> {
    public_pem(&parse_private_pem(private_pem)?)
}

/// Writes a new pair into `dir` (created if missing): `private_name` (PKCS#8 PEM, mode 0600,
/// never overwritten) and `public_name` (SPKI PEM). Returns both paths.
pub fn write_pair(
    dir: &Path,
    private_name: &str,
    public_name: &str,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (private, public) = (dir.join(private_name), dir.join(public_name));
    let (private_pem, public_pem) = generate_pem_pair()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&private)
        .with_context(|| format!("cannot create {}", private.display()))?;
    file.write_all(private_pem.as_bytes())?;
    file.sync_all()?;
    std::fs::write(&public, public_pem)
        .with_context(|| format!("cannot write {}", public.display()))?;
    Ok((private, public))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_and_private_keys_stay_private() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let (private, public) = write_pair(&keys, "k.pem", "k.pub").unwrap();
        assert!(
            write_pair(&keys, "k.pem", "k.pub").is_err(),
            "must not overwrite"
        );
        let mode = std::fs::metadata(&private).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let pkcs8 = read_private_pem(&private).unwrap();
        let public_text = std::fs::read_to_string(&public).unwrap();
        assert_eq!(
            parse_public_pem(&public_text),
            Some(public_key(&pkcs8).unwrap())
        );
        let private_text = std::fs::read_to_string(&private).unwrap();
        assert_eq!(public_pem_of(&private_text).unwrap(), public_text);
    }

    #[test]
    fn refuses_other_pem_blocks_and_keys() {
        let public = public_pem(&generate().unwrap()).unwrap();
        assert!(
            parse_private_pem(&public).is_err(),
            "a public key is no private key"
        );
        assert!(parse_private_pem("not pem").is_err());
        let rsa_like = pem::encode(&pem::Pem::new("PRIVATE KEY", vec![0x30, 0x03, 1, 2, 3]));
        assert!(parse_private_pem(&rsa_like).is_err());
        assert_eq!(parse_public_pem(&rsa_like), None);
        let mut short = pem::parse(&public).unwrap().into_contents();
        short.pop();
        assert_eq!(
            parse_public_pem(&pem::encode(&pem::Pem::new("PUBLIC KEY", short))),
            None
        );
    }
}
