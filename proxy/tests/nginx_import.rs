//! `mimir-proxy import-nginx`, end to end through the binary: the seed's nginx configuration
//! (nginx-compat/examples/seed-nginx.conf) translates completely and `check-config` accepts the
//! result; a fuller site reports each directive it cannot translate with file:line; a broken
//! file is refused. The shared API key of the seed never appears in any output.

#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../nginx-compat/examples")
        .join(name)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn import(conf: &Path, out: &Path) -> Output {
    Command::new(support::BIN)
        .arg("import-nginx")
        .arg(conf)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// `check-config` from the repository root (the shipped RBAC and route files are the defaults),
/// with `env` added.
fn check_config(policy: &Path, env: &[(&str, PathBuf)]) -> Output {
    let mut cmd = Command::new(support::BIN);
    cmd.arg("check-config").arg(policy).current_dir(repo_root());
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().unwrap()
}

/// [`check_config`] with the certificate paths pointed (through the environment) at a pair
/// generated in `dir/certs`, as on a host where nginx's certificates live elsewhere.
fn check_with_generated_certs(policy: &Path, dir: &Path) -> Output {
    let certs = dir.join("certs");
    support::gen_certs(&certs);
    check_config(
        policy,
        &[
            ("MIMIR_TLS_CERT", certs.join("server.pem")),
            ("MIMIR_TLS_KEY", certs.join("server.key")),
        ],
    )
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The 1-based line of the first line of `file` containing `needle`.
fn line_of(file: &Path, needle: &str) -> usize {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {}", file.display()))
        + 1
}

#[test]
fn the_seed_config_translates_and_check_config_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let seed = example("seed-nginx.conf");
    let policy = dir.path().join("policy.toml");
    let out = import(&seed, &policy);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let toml = std::fs::read_to_string(&policy).unwrap();
    for expected in [
        "listen = \"0.0.0.0:443\"",
        "cert = \"/etc/nginx/ssl/cert.pem\"",
        "key = \"/etc/nginx/ssl/key.pem\"",
        "address = \"mimir_server:9042\"",
        "per_ip = { requests = 100, per = \"minute\", burst = 21 }",
        "resource = \"https://mimir.yourcompany.com\"",
        "enabled = true",
    ] {
        assert!(toml.contains(expected), "{expected} missing from\n{toml}");
    }
    // The static key check becomes authentication; the key itself goes nowhere.
    let check = line_of(&seed, "$http_x_api_key");
    assert!(
        stderr.contains(&format!("seed-nginx.conf:{check}: if: note:")),
        "{stderr}"
    );
    assert!(!toml.contains("your-secret-api-key") && !stderr.contains("your-secret-api-key"));
    assert!(!stderr.contains("not translated"), "{stderr}");

    // The certificate lives where nginx kept it; on this machine the environment points the
    // proxy at a generated one, exactly as it would on a host with different paths.
    let out = check_with_generated_certs(&policy, dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "OK");
}

#[test]
fn untranslatable_directives_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let site = example("site-nginx.conf");
    let policy = dir.path().join("policy.toml");
    let out = import(&site, &policy);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let reported = |needle: &str, directive: &str| {
        let line = line_of(&site, needle);
        let prefix = format!("site-nginx.conf:{line}: {directive}: not translated:");
        assert!(stderr.contains(&prefix), "{prefix} missing from\n{stderr}");
    };
    reported("gzip on", "gzip");
    reported("ssl_ciphers", "ssl_ciphers");
    reported("add_header", "add_header");
    reported("location /admin/", "location");
    reported("allow 10.1.0.0/16", "allow");
    reported("events {", "events");
    let count = stderr
        .lines()
        .filter(|l| l.contains(": not translated:"))
        .count();
    assert!(
        stderr.contains(&format!("{count} directive(s) not translated")),
        "{stderr}"
    );

    let toml = std::fs::read_to_string(&policy).unwrap();
    for expected in [
        "http_redirect_listen = \"0.0.0.0:80\"",
        "listen = \"0.0.0.0:443\"",
        "address = \"10.0.1.20:9042\"",
        "\"10.0.0.0/8\", # ",
        "\"10.66.0.0/16\", # ",
        "per_api_key = { requests = 600, per = \"minute\", burst = 101 }",
    ] {
        assert!(toml.contains(expected), "{expected} missing from\n{toml}");
    }
    let out = check_with_generated_certs(&policy, dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_site_with_its_own_files_checks_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    support::gen_certs(&certs);
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "server {{\n  listen 127.0.0.1:8443 ssl;\n  ssl_certificate {c}/server.pem;\n  \
             ssl_certificate_key {c}/server.key;\n  location / {{\n    \
             proxy_pass http://127.0.0.1:8081;\n  }}\n}}\n",
            c = certs.display()
        ),
    )
    .unwrap();
    let policy = dir.path().join("policy.toml");
    let out = import(&conf, &policy);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = check_config(&policy, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_broken_file_is_refused_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("broken.conf");
    std::fs::write(&conf, "server {\n  listen 443 ssl;\n").unwrap();
    let policy = dir.path().join("policy.toml");
    let out = import(&conf, &policy);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("broken.conf") && stderr.contains("line"),
        "{stderr}"
    );
    assert!(!policy.exists());
}
