//! Every configuration error names the file, line, column and key (or the environment variable),
//! and the shipped `config/policy.toml` is valid and documents the built-in defaults.

use mimir_proxy::config::{self, ProxyConfig};
use mimir_proxy::settings::ConfigError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn policy_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/policy.toml")
}

/// Loads `body` from `<tmp>/bad.toml` with the given environment. Fixtures without a `[tls]`
/// table get `generate_dev_cert = true` appended (after their last line, so line numbers hold).
fn load(body: &str, env: &[(&str, &str)]) -> Result<ProxyConfig, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let mut text = body.to_owned();
    if !body.contains("[tls]") {
        text.push_str("\n[tls]\ngenerate_dev_cert = true\n");
    }
    std::fs::write(&path, text).unwrap();
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    config::load_with_env(Some(&path), &env)
}

/// The error text of a fixture that must fail, with the temp directory cut off.
fn error(body: &str) -> String {
    error_with_env(body, &[])
}

fn error_with_env(body: &str, env: &[(&str, &str)]) -> String {
    let err = load(body, env)
        .expect_err("fixture must be rejected")
        .to_string();
    match err.find("bad.toml") {
        Some(i) => err[i..].to_owned(),
        None => err,
    }
}

fn assert_starts(actual: &str, expected: &str) {
    assert!(
        actual.starts_with(expected),
        "\nexpected prefix: {expected}\n          actual: {actual}"
    );
}

#[test]
fn shipped_policy_passes_check() {
    let cfg = config::check(&policy_path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.tls.generate_dev_cert);
}

#[test]
fn shipped_policy_spells_out_the_defaults() {
    let mut cfg = config::load_with_env(Some(&policy_path()), &HashMap::new()).unwrap();
    // The embedded default's two deliberate departures: a dev certificate and an audit file.
    assert!(cfg.audit.enabled);
    assert_eq!(
        cfg.audit.file.path,
        std::path::Path::new("data/audit/audit.log")
    );
    cfg.tls.generate_dev_cert = false;
    cfg.audit.enabled = false;
    cfg.audit.destinations = ProxyConfig::default().audit.destinations;
    cfg.audit.file.path = ProxyConfig::default().audit.file.path;
    assert_eq!(cfg, ProxyConfig::default());
}

#[test]
fn syntax_error() {
    let err = error("[server]\nthreads = 2\nlisten = \"127.0.0.1:8443\n");
    assert_starts(
        &err,
        "bad.toml:3:25: server.listen: TOML syntax error: invalid basic string",
    );
}

#[test]
fn wrong_type() {
    let err = error("[upstream]\naddress = \"core:8081\"\nconnect_timeout_ms = \"x\"\n");
    assert_eq!(
        err,
        "bad.toml:3:22: upstream.connect_timeout_ms: invalid type: string \"x\", expected u64"
    );
}

#[test]
fn wrong_type_in_inline_table() {
    let err = error("\n\nupstream = { tls = \"yes\" }\n");
    assert_starts(
        &err,
        "bad.toml:3:20: upstream.tls: invalid type: string \"yes\"",
    );
}

#[test]
fn metrics_options_are_located() {
    let err = error("[metrics]\nuser_labels = \"yes\"\n");
    assert_eq!(
        err,
        "bad.toml:2:15: metrics.user_labels: invalid type: string \"yes\", expected a boolean"
    );
    let err = error("[metrics]\nuser_label = true\n");
    assert_starts(
        &err,
        "bad.toml:2:1: metrics.user_label: unknown field `user_label`",
    );
}

#[test]
fn unknown_field() {
    let err = error("[server]\nthreads = 4\n\n[upstream]\n  adress = \"core:8081\"\n");
    assert_starts(
        &err,
        "bad.toml:5:3: upstream.adress: unknown field `adress`",
    );
}

#[test]
fn unknown_section() {
    let err = error("[log]\nlevel = \"info\"\n[servr]\nlisten = \"0.0.0.0:1\"\n");
    assert_starts(&err, "bad.toml:3:2: servr: unknown field `servr`");
}

#[test]
fn bad_enum_value() {
    let err = error("[log]\nformat = \"xml\"\n");
    assert_starts(&err, "bad.toml:2:10: log.format: unknown variant `xml`");
}

#[test]
fn bad_cidr() {
    let err = error("[headers]\ntrusted_proxies = [\n  \"10.0.0.0/8\",\n  \"10.0.0.300/8\",\n]\n");
    assert_starts(&err, "bad.toml:4:3: headers.trusted_proxies[1]: ");
}

#[test]
fn cidr_with_host_bits() {
    let err = error("[headers]\ntrusted_proxies = [\"10.1.2.3/8\"]\n");
    assert_eq!(
        err,
        "bad.toml:2:20: headers.trusted_proxies[0]: 10.1.2.3/8 has host bits set; did you mean 10.0.0.0/8?"
    );
}

#[test]
fn missing_cert() {
    let err =
        error("[tls]\ncert = \"/nonexistent/server.pem\"\nkey = \"/nonexistent/server.key\"\n");
    assert_starts(
        &err,
        "bad.toml:2:8: tls.cert: cannot use /nonexistent/server.pem: ",
    );
    let second = err.lines().nth(1).unwrap_or_default();
    assert!(
        second.contains("bad.toml:3:7: tls.key: cannot use /nonexistent/server.key"),
        "{err}"
    );
    assert!(err.contains("tls.generate_dev_cert = true"), "{err}");
}

#[test]
fn existing_cert_files_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert, "x").unwrap();
    std::fs::write(&key, "x").unwrap();
    let body = format!("[tls]\ncert = {:?}\nkey = {:?}\n", cert, key);
    load(&body, &[]).unwrap();
}

#[test]
fn bad_upstream() {
    let err = error("[upstream]\naddress = \"http://core\"\n");
    assert_starts(&err, "bad.toml:2:11: upstream.address: expected host:port");
}

#[test]
fn dotted_keys_are_located() {
    let err = error("# comment\nupstream.address = \"core\"\n");
    assert_starts(&err, "bad.toml:2:20: upstream.address: expected host:port");
}

#[test]
fn semantic_errors_are_all_reported() {
    let err = error(concat!(
        "[server]\nthreads = 0\n",
        "[upstream]\nconnect_timeout_ms = 0\n",
        "[headers]\nidentity_header = \"X-Identity\"\n",
        "[limits]\nmax_uri_bytes = 100\n",
        "[log]\nlevel = \"debg\"\n",
    ));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 5, "{err}");
    assert_starts(
        lines[0],
        "bad.toml:2:11: server.threads: must be at least 1",
    );
    assert!(lines[1].contains("bad.toml:4:22: upstream.connect_timeout_ms: must be greater than 0"));
    assert!(lines[2].contains("bad.toml:6:19: headers.identity_header: \"X-Identity\""));
    assert!(lines[3].contains("bad.toml:8:17: limits.max_uri_bytes: must be at least 256"));
    assert!(lines[4].contains("bad.toml:10:9: log.level: \"debg\" is not a level"));
}

#[test]
fn ipv6_prefix_and_password_checks_are_checked() {
    let err = error(concat!(
        "[auth.password_checks]\nmax_concurrent = 0\n",
        "[traffic]\nipv6_prefix = 129\n",
    ));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(
        lines[0],
        "bad.toml:2:18: auth.password_checks.max_concurrent: must be greater than 0"
    );
    assert!(
        lines[1].ends_with("bad.toml:4:15: traffic.ipv6_prefix: 129: must be between 1 and 128"),
        "{err}"
    );
    let err = error("[traffic]\nipv6_prefix = 0\n");
    assert_starts(
        &err,
        "bad.toml:2:15: traffic.ipv6_prefix: 0: must be between 1",
    );
    let cfg = load("[traffic]\nipv6_prefix = 56\n", &[]).unwrap();
    assert_eq!(cfg.traffic.ipv6_prefix, 56);
}

#[test]
fn upstream_tls_options_need_tls() {
    let err = error("[upstream]\nsni = \"core.internal\"\nclient_key = \"k.pem\"\n");
    assert!(
        err.contains("bad.toml:2:7: upstream.sni: only applies with upstream.tls = true"),
        "{err}"
    );
    assert!(
        err.contains("bad.toml:3:14: upstream.client_key: only applies"),
        "{err}"
    );
    assert!(
        err.contains("upstream.client_cert and upstream.client_key go together"),
        "{err}"
    );
}

#[test]
fn upstream_tls_needs_a_name_to_verify() {
    let err = error("[upstream]\ntls = true\n");
    assert_starts(&err, "bad.toml:2:7: upstream.tls: needs upstream.sni");
    let cfg = load("[upstream]\ntls = true\nsni = \"core.internal\"\n", &[]).unwrap();
    assert_eq!(cfg.upstream.sni, "core.internal");
    let err = error("[upstream]\ntls = true\nsni = \"not a name\"\n");
    assert_starts(
        &err,
        "bad.toml:3:7: upstream.sni: \"not a name\" is not a DNS name",
    );
}

#[test]
fn listeners_must_differ() {
    let err = error("[server]\nlisten = \"127.0.0.1:9090\"\n");
    assert_eq!(
        err,
        "server.admin_listen: 127.0.0.1:9090 is already server.listen (built-in default)"
    );
}

#[test]
fn environment_errors_name_the_variable() {
    let err = error_with_env(
        "[upstream]\naddress = \"core:8081\"\n",
        &[("MIMIR_UPSTREAM", "core"), ("MIMIR_LOG_FORMAT", "xml")],
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            "environment variable MIMIR_LOG_FORMAT: log.format: expected \"text\" or \"json\", got \"xml\"",
            "environment variable MIMIR_UPSTREAM: upstream.address: expected host:port such as \
             127.0.0.1:8081 or core:8081, got \"core\"",
        ]
    );
}

#[test]
fn environment_overrides_the_file() {
    let cfg = load(
        "[upstream]\naddress = \"core:8081\"\n",
        &[("MIMIR_UPSTREAM", "other:9000")],
    )
    .unwrap();
    assert_eq!(cfg.upstream.address, "other:9000");
}

#[test]
fn defaults_are_located_as_defaults() {
    let err = config::load_with_env(None, &HashMap::new())
        .expect_err("the default certificate does not exist in the test directory")
        .to_string();
    assert_starts(&err, "tls.cert: cannot use certs/dev/server.pem: ");
    assert!(
        err.lines().all(|l| l.ends_with("(built-in default)")),
        "{err}"
    );
}

#[test]
fn unreadable_file() {
    let err = config::load_with_env(Some(Path::new("/nonexistent/policy.toml")), &HashMap::new())
        .unwrap_err()
        .to_string();
    assert_starts(&err, "/nonexistent/policy.toml: cannot read config file: ");
}
