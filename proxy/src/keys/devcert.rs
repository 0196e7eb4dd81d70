//! Development certificates: a local CA and a server certificate for localhost, 127.0.0.1 and
//! ::1 signed by it. Trust the CA (`ca.pem`) in clients instead of disabling verification.
//! Private keys are written with mode 0600 and must never be committed (`/certs/dev/` is ignored).

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use std::fs::OpenOptions;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// Where [`generate`] put things.
#[derive(Debug, Clone)]
pub struct DevCerts {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// Write `ca.pem`, `ca.key`, `server.pem` (leaf + CA chain) and `server.key` into `dir`.
pub fn generate(dir: &Path) -> anyhow::Result<DevCerts> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca_cert = dir.join("ca.pem");
    let ca_key = dir.join("ca.key");
    let server_cert = dir.join("server.pem");
    let server_key = dir.join("server.key");
    issue(&ca_cert, &ca_key, &server_cert, &server_key)?;
    Ok(DevCerts {
        ca_cert,
        ca_key,
        server_cert,
        server_key,
    })
}

/// At start with `tls.generate_dev_cert`: create the pair at `cert`/`key` (CA next to `cert`)
/// unless both exist. Returns the CA path when it generated one. Only one of the two existing
/// is an error: overwriting a real key is not something to do silently.
pub fn ensure(cert: &Path, key: &Path) -> anyhow::Result<Option<PathBuf>> {
    match (cert.exists(), key.exists()) {
        (true, true) => Ok(None),
        (false, false) => {
            let dir = cert.parent().unwrap_or(Path::new("."));
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let ca_cert = dir.join("ca.pem");
            issue(&ca_cert, &dir.join("ca.key"), cert, key)?;
            Ok(Some(ca_cert))
        }
        (true, false) => bail!(
            "{} exists but its key {} is missing",
            cert.display(),
            key.display()
        ),
        (false, true) => bail!(
            "{} exists but its certificate {} is missing",
            key.display(),
            cert.display()
        ),
    }
}

fn issue(
    ca_cert: &Path,
    ca_key: &Path,
    server_cert: &Path,
    server_key: &Path,
) -> anyhow::Result<()> {
    let now = OffsetDateTime::now_utc();

    let ca_keypair = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = name("Mimir Gate development CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now - Duration::hours(1);
    ca.not_after = now + Duration::days(3650);
    let ca_issued = ca.self_signed(&ca_keypair)?;

    let server_keypair = KeyPair::generate()?;
    let mut server = CertificateParams::new(vec!["localhost".to_owned()])?;
    server.distinguished_name = name("localhost");
    server
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    server
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    server.not_before = now - Duration::hours(1);
    // Under the 398-day ceiling that browsers enforce on leaf certificates.
    server.not_after = now + Duration::days(397);
    let server_issued = server.signed_by(&server_keypair, &ca_issued, &ca_keypair)?;

    write_file(ca_key, &ca_keypair.serialize_pem(), 0o600)?;
    write_file(ca_cert, &ca_issued.pem(), 0o644)?;
    write_file(server_key, &server_keypair.serialize_pem(), 0o600)?;
    write_file(
        server_cert,
        &format!("{}{}", server_issued.pem(), ca_issued.pem()),
        0o644,
    )?;
    Ok(())
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Mimir Gate (development)");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Write with `mode` from the first byte (no window where a key is world-readable), and fix the
/// mode of a file that already existed.
fn write_file(path: &Path, contents: &str, mode: u32) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_creates_once_and_refuses_half_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("s.pem"), dir.path().join("s.key"));
        assert_eq!(
            ensure(&cert, &key).unwrap(),
            Some(dir.path().join("ca.pem"))
        );
        assert_eq!(ensure(&cert, &key).unwrap(), None);
        std::fs::remove_file(&key).unwrap();
        assert!(ensure(&cert, &key).is_err());
    }
}
