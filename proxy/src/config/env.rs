//! Environment overrides, applied after the file: container-friendly settings plus upstream Mimir's
//! variable names, so an existing deployment drops in. Every variable can instead be given as
//! `NAME_FILE` (path of a file holding the value: Docker/Kubernetes secrets; [`crate::settings`]).

use super::sections::ProxyConfig;
use crate::admin::logging::LogFormat;
use crate::audit::config as audit;
use crate::authn::login_config::ProviderConfig;
use crate::settings::env::lookup;
use crate::settings::{EnvSource, Issue, Origin};
use ipnet::IpNet;
use std::net::SocketAddr;

/// Applies the overrides. Returns which variable now supplies each field (for error locations)
/// and the problems found.
pub(crate) fn apply(
    cfg: &mut ProxyConfig,
    env: &dyn EnvSource,
) -> (Vec<(&'static str, String)>, Vec<Issue>) {
    let mut o = Overrides {
        env,
        origins: Vec::new(),
        issues: Vec::new(),
    };
    if let Some(v) = o.take("MIMIR_PROXY_LISTEN", "server.listen", parse_addr) {
        cfg.server.listen = v;
    }
    if let Some(v) = o.take(
        "MIMIR_PROXY_ADMIN_LISTEN",
        "server.admin_listen",
        parse_addr,
    ) {
        cfg.server.admin_listen = v;
    }
    if let Some(v) = o.take("MIMIR_UPSTREAM", "upstream.address", |v| Ok(v.to_owned())) {
        cfg.upstream.address = v;
    } else if let Some((address, tls_name)) =
        o.take("MIMIR_SERVER_URL", "upstream.address", parse_server_url)
    {
        cfg.upstream.address = address;
        cfg.upstream.tls = tls_name.is_some();
        if let Some(name) = tls_name {
            cfg.upstream.sni = name;
        }
    }
    if let Some(v) = o.take("MIMIR_TLS_CERT", "tls.cert", |v| Ok(v.into())) {
        cfg.tls.cert = v;
    }
    if let Some(v) = o.take("MIMIR_TLS_KEY", "tls.key", |v| Ok(v.into())) {
        cfg.tls.key = v;
    }
    if let Some(v) = o.take("MIMIR_TLS_CLIENT_CA", "tls.client_ca", |v| Ok(v.into())) {
        cfg.tls.client_ca = Some(v);
    }
    if let Some(v) = o.take(
        "MIMIR_TRUSTED_PROXIES",
        "headers.trusted_proxies",
        parse_cidrs,
    ) {
        cfg.headers.trusted_proxies = v;
    }
    if let Some(v) = o.take("MIMIR_LOG_FORMAT", "log.format", parse_format) {
        cfg.log.format = v;
    }
    if let Some(v) = o.take("MIMIR_LOG_LEVEL", "log.level", |v| Ok(v.to_owned())) {
        cfg.log.level = v;
    }
    if let Some(v) = o.take(
        "MIMIR_ENABLE_AUDIT_LOGGING",
        "audit.enabled",
        audit::parse_bool,
    ) {
        cfg.audit.enabled = v;
    }
    if let Some(v) = o.take(
        "MIMIR_AUDIT_LOG_DESTINATION",
        "audit.destinations",
        audit::parse_destinations,
    ) {
        cfg.audit.destinations = v;
    }
    if let Some(v) = o.take("MIMIR_AUDIT_LOG_FILE", "audit.file.path", |v| Ok(v.into())) {
        cfg.audit.file.path = v;
    }
    if let Some(v) = o.take("MIMIR_AUDIT_WEBHOOK_URL", "audit.webhook.url", |v| {
        Ok(v.to_owned())
    }) {
        cfg.audit.webhook.url = v;
    }
    if let Some(v) = o.take(
        "MIMIR_AUDIT_WEBHOOK_AUTH_HEADER",
        "audit.webhook.auth_header",
        |v| Ok(v.to_owned()),
    ) {
        cfg.audit.webhook.auth_header = Some(v);
    }
    if let Some(v) = o.take(
        "MIMIR_AUDIT_WEBHOOK_BATCH_SIZE",
        "audit.webhook.batch_size",
        audit::parse_count,
    ) {
        cfg.audit.webhook.batch_size = usize::try_from(v).unwrap_or(usize::MAX);
    }
    if let Some(v) = o.take(
        "MIMIR_AUDIT_WEBHOOK_BATCH_INTERVAL_MS",
        "audit.webhook.batch_interval_ms",
        audit::parse_count,
    ) {
        cfg.audit.webhook.batch_interval_ms = v;
    }
    if let Some(v) = o.take(
        "MIMIR_IDENTITY_SIGNING_KEY_FILE",
        "identity.signing_key_file",
        |v| Ok(v.into()),
    ) {
        cfg.identity.signing_key_file = Some(v);
    }
    if let Some(provider) = provider_from_env(&mut o) {
        cfg.auth.providers.push(provider);
    }
    (o.origins, o.issues)
}

/// Upstream Mimir's single OAuth provider: `MIMIR_AUTH_PROVIDER` names it and `MIMIR_OAUTH_*`
/// configure it. Sign-in here is OpenID Connect, whose endpoints come from discovery, so the
/// issuer (`MIMIR_OAUTH_ISSUER`) is required and the upstream endpoint URLs are not needed.
fn provider_from_env(o: &mut Overrides) -> Option<ProviderConfig> {
    const FIELD: &str = "auth.providers";
    let id = o.take("MIMIR_AUTH_PROVIDER", FIELD, |v| {
        Ok(v.trim()
            .to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-"))
    })?;
    let text = |v: &str| Ok(v.trim().to_owned());
    let mut provider = ProviderConfig {
        id,
        display_name: "OAuth 2.0".into(),
        ..ProviderConfig::default()
    };
    match o.take("MIMIR_OAUTH_ISSUER", FIELD, text) {
        Some(issuer) => provider.issuer = issuer,
        None => o.issues.push(Issue {
            origin: Origin::Env("MIMIR_AUTH_PROVIDER".into()),
            field: Some(FIELD.into()),
            message: "set MIMIR_OAUTH_ISSUER to the provider's OpenID issuer URL (its \
                      authorization, token and userinfo endpoints are discovered from it)"
                .into(),
        }),
    }
    if let Some(v) = o.take("MIMIR_OAUTH_PROVIDER_NAME", FIELD, text) {
        provider.display_name = v;
    }
    if let Some(v) = o.take("MIMIR_OAUTH_CLIENT_ID", FIELD, text) {
        provider.client_id = v;
    }
    provider.client_secret = o.take("MIMIR_OAUTH_CLIENT_SECRET", FIELD, text);
    provider.redirect_uri = o.take("MIMIR_OAUTH_CALLBACK_URL", FIELD, text);
    if let Some(scopes) = o.take("MIMIR_OAUTH_SCOPE", FIELD, |v| {
        Ok(v.split([' ', ','])
            .filter(|s| !s.is_empty() && *s != "openid")
            .map(str::to_owned)
            .collect::<Vec<_>>())
    }) {
        provider.scopes = scopes;
    }
    Some(provider)
}

struct Overrides<'a> {
    env: &'a dyn EnvSource,
    origins: Vec<(&'static str, String)>,
    issues: Vec<Issue>,
}

impl Overrides<'_> {
    /// Reads `var` and parses it for `field`; problems are collected rather than returned so that
    /// one run reports all of them.
    fn take<T>(
        &mut self,
        var: &str,
        field: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let (value, source) = match lookup(self.env, var) {
            Ok(found) => found?,
            Err(mut issue) => {
                issue.field = Some(field.to_owned());
                self.issues.push(issue);
                return None;
            }
        };
        match parse(&value) {
            Ok(parsed) => {
                self.origins.push((field, source));
                Some(parsed)
            }
            Err(message) => {
                self.issues.push(Issue {
                    origin: Origin::Env(source),
                    field: Some(field.to_owned()),
                    message,
                });
                None
            }
        }
    }
}

fn parse_addr(v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| format!("expected ip:port such as 127.0.0.1:8443 or [::1]:8443, got {v:?}"))
}

/// Comma-separated CIDRs; blanks around items are ignored.
fn parse_cidrs(v: &str) -> Result<Vec<IpNet>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse()
                .map_err(|_| format!("{item:?} is not a CIDR such as 10.0.0.0/8 or 10.1.2.3/32"))
        })
        .collect()
}

fn parse_format(v: &str) -> Result<LogFormat, String> {
    match v {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("expected \"text\" or \"json\", got {v:?}")),
    }
}

/// Upstream Mimir's `MIMIR_SERVER_URL` (`http://host:port`, optional trailing slash): returns the
/// `host:port` address (default port from the scheme) and, for `https`, the host to verify (SNI).
fn parse_server_url(v: &str) -> Result<(String, Option<String>), String> {
    let (rest, https, default_port) = if let Some(rest) = v.strip_prefix("http://") {
        (rest, false, 80)
    } else if let Some(rest) = v.strip_prefix("https://") {
        (rest, true, 443)
    } else {
        return Err(format!(
            "expected http://host:port or https://host:port, got {v:?}"
        ));
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) || authority.is_empty() {
        return Err(format!(
            "expected only scheme, host and port (no path, query or credentials), got {v:?}"
        ));
    }
    // The last ':' is a port separator unless it sits inside an IPv6 literal `[...]`.
    let (host, address) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, authority.to_owned()),
        _ => (authority, format!("{authority}:{default_port}")),
    };
    let sni = host.trim_start_matches('[').trim_end_matches(']');
    Ok((address, https.then(|| sni.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::env_value;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn apply_env(pairs: &[(&str, &str)]) -> (ProxyConfig, Vec<Issue>) {
        let mut cfg = ProxyConfig::default();
        let (_, issues) = apply(&mut cfg, &env(pairs));
        (cfg, issues)
    }

    #[test]
    fn overrides_every_documented_variable() {
        let (cfg, issues) = apply_env(&[
            ("MIMIR_PROXY_LISTEN", "0.0.0.0:443"),
            ("MIMIR_PROXY_ADMIN_LISTEN", "[::1]:9999"),
            ("MIMIR_UPSTREAM", "core:8081"),
            ("MIMIR_TLS_CERT", "/run/cert.pem"),
            ("MIMIR_TLS_KEY", "/run/key.pem"),
            ("MIMIR_TLS_CLIENT_CA", "/run/ca.pem"),
            ("MIMIR_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1/32,"),
            ("MIMIR_LOG_FORMAT", "json"),
            ("MIMIR_LOG_LEVEL", "mimir_proxy=debug"),
        ]);
        assert_eq!(issues, []);
        assert_eq!(cfg.server.listen.to_string(), "0.0.0.0:443");
        assert_eq!(cfg.server.admin_listen.to_string(), "[::1]:9999");
        assert_eq!(cfg.upstream.address, "core:8081");
        assert_eq!(cfg.tls.cert.to_str(), Some("/run/cert.pem"));
        assert_eq!(cfg.tls.key.to_str(), Some("/run/key.pem"));
        assert_eq!(cfg.tls.client_ca, Some("/run/ca.pem".into()));
        let proxies: Vec<String> = cfg
            .headers
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(proxies, ["10.0.0.0/8", "192.168.1.1/32"]);
        assert_eq!(cfg.log.format, LogFormat::Json);
        assert_eq!(cfg.log.level, "mimir_proxy=debug");
    }

    #[test]
    fn server_url_is_a_fallback_for_upstream() {
        let (cfg, _) = apply_env(&[("MIMIR_SERVER_URL", "http://mimir:9042/")]);
        assert_eq!(
            (cfg.upstream.address.as_str(), cfg.upstream.tls),
            ("mimir:9042", false)
        );
        let (cfg, _) = apply_env(&[("MIMIR_SERVER_URL", "https://[::1]")]);
        assert_eq!(
            (cfg.upstream.address.as_str(), cfg.upstream.tls),
            ("[::1]:443", true)
        );
        let (cfg, _) = apply_env(&[("MIMIR_SERVER_URL", "http://localhost")]);
        assert_eq!(cfg.upstream.address, "localhost:80");
        let (cfg, _) = apply_env(&[
            ("MIMIR_UPSTREAM", "core:8081"),
            ("MIMIR_SERVER_URL", "http://ignored:1"),
        ]);
        assert_eq!(cfg.upstream.address, "core:8081");
        for bad in [
            "ftp://x:1",
            "http://x:1/api",
            "http://user:pw@x:1",
            "http://",
        ] {
            let (_, issues) = apply_env(&[("MIMIR_SERVER_URL", bad)]);
            assert_eq!(issues.len(), 1, "{bad}");
            assert_eq!(issues[0].origin, Origin::Env("MIMIR_SERVER_URL".into()));
        }
    }

    #[test]
    fn errors_name_the_variable_and_field() {
        let (cfg, issues) = apply_env(&[
            ("MIMIR_PROXY_LISTEN", "localhost"),
            ("MIMIR_TRUSTED_PROXIES", "10.0.0.0/8,nope"),
            ("MIMIR_LOG_FORMAT", "xml"),
        ]);
        let rendered: Vec<String> = issues.iter().map(ToString::to_string).collect();
        assert_eq!(rendered.len(), 3, "{rendered:?}");
        assert!(rendered[0].starts_with("environment variable MIMIR_PROXY_LISTEN: server.listen: "));
        assert!(rendered[1].contains("MIMIR_TRUSTED_PROXIES: headers.trusted_proxies: \"nope\""));
        assert!(rendered[2].contains("MIMIR_LOG_FORMAT: log.format"));
        // A rejected value leaves the previous one in place.
        assert_eq!(cfg.server.listen, ProxyConfig::default().server.listen);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let (cfg, issues) = apply_env(&[("MIMIR_UPSTREAM", ""), ("MIMIR_UPSTREAM_FILE", "")]);
        assert_eq!(issues, []);
        assert_eq!(cfg.upstream.address, "127.0.0.1:8081");
    }

    #[test]
    fn file_variant_reads_trimmed_contents() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("level");
        std::fs::write(&secret, "  debug\n").unwrap();
        let secret = secret.to_str().unwrap();
        let vars = env(&[("MIMIR_LOG_LEVEL_FILE", secret)]);
        assert_eq!(
            env_value(&vars, "MIMIR_LOG_LEVEL").unwrap().as_deref(),
            Some("debug")
        );

        let mut cfg = ProxyConfig::default();
        let (origins, issues) = apply(&mut cfg, &vars);
        assert_eq!(issues, []);
        assert_eq!(origins, [("log.level", "MIMIR_LOG_LEVEL_FILE".to_string())]);

        let both = env(&[
            ("MIMIR_LOG_LEVEL", "info"),
            ("MIMIR_LOG_LEVEL_FILE", secret),
        ]);
        let err = env_value(&both, "MIMIR_LOG_LEVEL").unwrap_err().to_string();
        assert!(
            err.contains("both MIMIR_LOG_LEVEL and MIMIR_LOG_LEVEL_FILE"),
            "{err}"
        );

        let missing = dir.path().join("missing");
        let vars = env(&[("MIMIR_TLS_KEY_FILE", missing.to_str().unwrap())]);
        let err = env_value(&vars, "MIMIR_TLS_KEY").unwrap_err().to_string();
        assert!(
            err.starts_with("environment variable MIMIR_TLS_KEY_FILE: cannot read"),
            "{err}"
        );

        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let vars = env(&[("MIMIR_TLS_KEY_FILE", empty.to_str().unwrap())]);
        assert!(env_value(&vars, "MIMIR_TLS_KEY").is_err());
    }

    #[test]
    fn unset_variables_are_none() {
        assert_eq!(env_value(&env(&[]), "MIMIR_UPSTREAM").unwrap(), None);
    }
}
