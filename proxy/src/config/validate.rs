//! Semantic checks on the merged configuration (file + environment). Every problem is reported,
//! located where the offending value came from.

use super::origins::Origins;
use super::sections::ProxyConfig;
use crate::settings::Issue;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// pingora refuses request headers larger than this regardless of our limit.
const PINGORA_MAX_HEADER_BYTES: usize = 1_048_575;
/// Below this, ordinary REST paths with a query would be refused.
const MIN_URI_BYTES: usize = 256;

/// Headers that already mean something else on the path to the core; the identity assertion must
/// not share a name with them.
const RESERVED_HEADER_PREFIXES: &[&str] = &["x-forwarded-", "x-user-"];
const RESERVED_HEADERS: &[&str] = &["x-real-ip", "x-request-id"];

pub(crate) fn validate(cfg: &ProxyConfig, origins: &Origins) -> Vec<Issue> {
    let mut v = Validator {
        origins,
        issues: Vec::new(),
    };
    v.server(cfg);
    v.tls(cfg);
    v.upstream(cfg);
    v.headers(cfg);
    v.limits(cfg);
    v.log(cfg);
    for (field, message) in
        crate::authn::config::check(&cfg.auth, cfg.server.listen.ip().is_loopback())
    {
        v.fail(&field, message);
    }
    for (field, message) in crate::authz::config::check(&cfg.authz) {
        v.fail(&field, message);
    }
    for (field, message) in crate::authserver::config::check(&cfg.oauth) {
        v.fail(&field, message);
    }
    for (field, message) in crate::authn::source::check(&cfg.auth) {
        v.fail(&field, message);
    }
    for (field, message) in crate::keys::identity_config::check(&cfg.identity) {
        v.fail(&field, message);
    }
    for (field, message) in crate::audit::config::validate(&cfg.audit) {
        v.fail(field, message);
    }
    for (field, message) in crate::traffic::config::validate(&cfg.traffic) {
        v.fail(&field, message);
    }
    v.issues
}

struct Validator<'a> {
    origins: &'a Origins<'a>,
    issues: Vec<Issue>,
}

impl Validator<'_> {
    fn fail(&mut self, field: &str, message: String) {
        self.issues.push(self.origins.issue(field, message));
    }

    fn positive(&mut self, field: &str, value: u64) {
        if value == 0 {
            self.fail(field, "must be greater than 0".into());
        }
    }

    fn file(&mut self, field: &str, path: &Path, hint: &str) {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => self.fail(field, format!("{} is not a regular file", path.display())),
            Err(e) => self.fail(field, format!("cannot use {}: {e}{hint}", path.display())),
        }
    }

    fn server(&mut self, cfg: &ProxyConfig) {
        let s = &cfg.server;
        if s.admin_listen == s.listen {
            self.fail(
                "server.admin_listen",
                format!("{} is already server.listen", s.admin_listen),
            );
        }
        if let Some(redirect) = s.http_redirect_listen {
            if redirect == s.listen || redirect == s.admin_listen {
                self.fail(
                    "server.http_redirect_listen",
                    format!("{redirect} is already used by another listener"),
                );
            }
        }
        if s.threads == 0 {
            self.fail("server.threads", "must be at least 1".into());
        }
    }

    fn tls(&mut self, cfg: &ProxyConfig) {
        let t = &cfg.tls;
        if !t.generate_dev_cert {
            let hint = " (or set tls.generate_dev_cert = true for a development certificate)";
            self.file("tls.cert", &t.cert, hint);
            self.file("tls.key", &t.key, hint);
        }
        if let Some(ca) = &t.client_ca {
            self.file("tls.client_ca", ca, "");
        }
    }

    fn upstream(&mut self, cfg: &ProxyConfig) {
        let u = &cfg.upstream;
        if let Err(message) = check_host_port(&u.address) {
            self.fail("upstream.address", message);
        }
        self.positive("upstream.connect_timeout_ms", u.connect_timeout_ms);
        self.positive("upstream.read_timeout_seconds", u.read_timeout_seconds);
        self.positive("upstream.write_timeout_seconds", u.write_timeout_seconds);
        let tls_only = [
            ("upstream.ca", &u.ca),
            ("upstream.client_cert", &u.client_cert),
            ("upstream.client_key", &u.client_key),
        ];
        for (field, path) in tls_only {
            match path {
                Some(_) if !u.tls => {
                    self.fail(field, "only applies with upstream.tls = true".into());
                }
                Some(path) => self.file(field, path, ""),
                None => {}
            }
        }
        match (u.tls, u.sni.is_empty()) {
            // pingora skips certificate verification entirely when the SNI is empty.
            (true, true) => self.fail(
                "upstream.tls",
                "needs upstream.sni (the name in the upstream's certificate); \
                 without it the certificate would not be verified"
                    .into(),
            ),
            (false, false) => self.fail(
                "upstream.sni",
                "only applies with upstream.tls = true".into(),
            ),
            (true, false) if !is_dns_name(&u.sni) && u.sni.parse::<IpAddr>().is_err() => {
                self.fail(
                    "upstream.sni",
                    format!("{:?} is not a DNS name or IP address", u.sni),
                );
            }
            _ => {}
        }
        if u.client_cert.is_some() != u.client_key.is_some() {
            let field = if u.client_cert.is_some() {
                "upstream.client_cert"
            } else {
                "upstream.client_key"
            };
            self.fail(
                field,
                "upstream.client_cert and upstream.client_key go together".into(),
            );
        }
    }

    fn headers(&mut self, cfg: &ProxyConfig) {
        for (i, net) in cfg.headers.trusted_proxies.iter().enumerate() {
            if *net != net.trunc() {
                self.fail(
                    &format!("headers.trusted_proxies[{i}]"),
                    format!("{net} has host bits set; did you mean {}?", net.trunc()),
                );
            }
        }
        if let Err(message) = check_identity_header(&cfg.headers.identity_header) {
            self.fail("headers.identity_header", message);
        }
    }

    fn limits(&mut self, cfg: &ProxyConfig) {
        let l = &cfg.limits;
        if l.max_uri_bytes < MIN_URI_BYTES {
            self.fail(
                "limits.max_uri_bytes",
                format!("must be at least {MIN_URI_BYTES}"),
            );
        }
        if l.max_header_bytes < l.max_uri_bytes {
            self.fail(
                "limits.max_header_bytes",
                format!(
                    "must be at least limits.max_uri_bytes ({}): the request line counts too",
                    l.max_uri_bytes
                ),
            );
        } else if l.max_header_bytes > PINGORA_MAX_HEADER_BYTES {
            self.fail(
                "limits.max_header_bytes",
                format!("must be at most {PINGORA_MAX_HEADER_BYTES} (pingora's own limit)"),
            );
        }
        self.positive("limits.max_body_bytes", l.max_body_bytes);
        self.positive(
            "limits.client_header_timeout_seconds",
            l.client_header_timeout_seconds,
        );
        self.positive(
            "limits.client_body_timeout_seconds",
            l.client_body_timeout_seconds,
        );
    }

    fn log(&mut self, cfg: &ProxyConfig) {
        if let Err(message) = check_log_filter(&cfg.log.level) {
            self.fail("log.level", message);
        }
    }
}

/// `host:port` with a DNS name, IPv4 address or bracketed IPv6 address and a non-zero port.
fn check_host_port(address: &str) -> Result<(), String> {
    let expected =
        || format!("expected host:port such as 127.0.0.1:8081 or core:8081, got {address:?}");
    let (host, port) = address.rsplit_once(':').ok_or_else(expected)?;
    if !matches!(port.parse::<u16>(), Ok(p) if p > 0) {
        return Err(expected());
    }
    let valid_host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        // All digits and dots can only be an IPv4 address, never a name.
        None if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
            host.parse::<Ipv4Addr>().is_ok()
        }
        None => is_dns_name(host),
    };
    if valid_host {
        Ok(())
    } else {
        Err(expected())
    }
}

/// Letters, digits, `-` and `_` (container names) in dot-separated labels.
fn is_dns_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A `tracing` filter. Stricter than `EnvFilter`, which reads a bare word such as a misspelt
/// `"debg"` as a target name and silently logs nothing else.
fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];
    if filter.trim().is_empty() {
        return Err("must not be empty (e.g. \"info\")".into());
    }
    let bare_word = filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.contains(['=', '[']))
        .find(|d| !LEVELS.contains(&d.to_ascii_lowercase().as_str()));
    if let Some(word) = bare_word {
        return Err(format!(
            "{word:?} is not a level (trace, debug, info, warn, error, off); \
             use target=level for per-module levels"
        ));
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(drop)
        .map_err(|e| format!("invalid tracing filter {filter:?}: {e}"))
}

fn check_identity_header(name: &str) -> Result<(), String> {
    let token = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !token || !name.starts_with("x-") || name.len() < 3 || name.ends_with('-') {
        return Err(format!(
            "{name:?} must be a lowercase header name starting with \"x-\" (letters, digits, '-')"
        ));
    }
    if RESERVED_HEADERS.contains(&name)
        || RESERVED_HEADER_PREFIXES.iter().any(|p| name.starts_with(p))
    {
        return Err(format!(
            "{name:?} collides with a header the proxy or its clients already use \
             (x-forwarded-*, x-user-*, x-real-ip, x-request-id)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        for ok in [
            "127.0.0.1:8081",
            "core:8081",
            "mimir_core.svc.local:1",
            "[::1]:8081",
        ] {
            assert_eq!(check_host_port(ok), Ok(()), "{ok}");
        }
        for bad in [
            "core",
            "core:",
            "core:0",
            "core:65536",
            ":80",
            "::1:80",
            "a b:80",
            "-x:80",
            "[::1:80",
            "999.1.1.1:80",
            "1.2.3:80",
            "http://core:80",
        ] {
            assert!(check_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn log_filters() {
        for ok in [
            "info",
            "WARN",
            "info,mimir_proxy=debug",
            "mimir_proxy[span]=trace",
        ] {
            assert_eq!(check_log_filter(ok), Ok(()), "{ok}");
        }
        for bad in ["", " ", "debg", "info,verbose", "x=bogus", "info,=["] {
            assert!(check_log_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identity_header_names() {
        assert_eq!(check_identity_header("x-mimir-identity"), Ok(()));
        for bad in [
            "X-Mimir-Identity",
            "mimir-identity",
            "x-",
            "x-a b",
            "x-user-id",
            "x-forwarded-user",
            "x-request-id",
            "x-mimir-",
        ] {
            assert!(check_identity_header(bad).is_err(), "{bad}");
        }
    }
}
