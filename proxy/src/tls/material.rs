//! What every TLS listener of the proxy shares: the cipher suites it allows, the rustls provider
//! built from them, and certificates and keys read from PEM files.

use anyhow::{ensure, Context};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::SupportedCipherSuite;
use std::path::Path;

/// AEAD suites with ECDHE key exchange only: rustls has no CBC, RSA key exchange or
/// static DH at all, and this list also fixes the preference order.
pub(super) fn allowed_cipher_suites() -> Vec<SupportedCipherSuite> {
    use ring::cipher_suite::*;
    vec![
        TLS13_AES_256_GCM_SHA384,
        TLS13_AES_128_GCM_SHA256,
        TLS13_CHACHA20_POLY1305_SHA256,
        TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]
}

/// The rustls provider the proxy runs with.
pub fn crypto_provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: allowed_cipher_suites(),
        ..ring::default_provider()
    }
}

/// All certificates of a PEM file; an empty file is an error.
pub fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading certificates from {}", path.display()))?;
    ensure!(!certs.is_empty(), "no certificate in {}", path.display());
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("reading private key from {}", path.display()))
}
