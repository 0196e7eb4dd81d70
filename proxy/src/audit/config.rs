//! `[audit]` in the policy file, plus upstream Mimir's `MIMIR_AUDIT_*` variables (applied by
//! `config::env`). Defaults: audit off; when on, the stdout destination like upstream.

use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    pub enabled: bool,
    /// `async`: records are queued and fsynced in batches. `strict`: a request's response waits
    /// until its record is durable, and requests are refused (503) while it cannot be written.
    pub mode: Durability,
    /// Any combination of `stdout`, `file`, `webhook`, `syslog`.
    pub destinations: Vec<Destination>,
    /// Records waiting for the writer; when full, callers wait (nothing is dropped).
    pub queue_capacity: usize,
    /// In async mode, how often written records are fsynced.
    pub fsync_interval_ms: u64,
    pub file: FileSinkConfig,
    pub webhook: WebhookConfig,
    pub syslog: SyslogConfig,
}

/// `[audit.syslog]`: each record as one RFC 5424 message (MSGID `audit`, the JSON line as MSG).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    /// `udp://host:port` (RFC 5426), `tcp://host:port` (RFC 6587, CRLF-terminated) or
    /// `unix:///dev/log` (the local daemon; datagram or stream socket).
    pub address: String,
    /// `auth`, `authpriv`, `audit`, `daemon`, `user`, `local0` … `local7`, …
    pub facility: String,
    /// APP-NAME of the messages.
    pub app_name: String,
}

/// Where syslog messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTarget {
    Udp(String),
    Tcp(String),
    Unix(PathBuf),
}

impl SyslogConfig {
    pub fn target(&self) -> Result<SyslogTarget, String> {
        let a = self.address.as_str();
        let host_port = |rest: &str| {
            let ok = rest
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            ok.then(|| rest.to_owned())
        };
        let target = if let Some(rest) = a.strip_prefix("udp://") {
            host_port(rest).map(SyslogTarget::Udp)
        } else if let Some(rest) = a.strip_prefix("tcp://") {
            host_port(rest).map(SyslogTarget::Tcp)
        } else {
            a.strip_prefix("unix://")
                .filter(|p| p.starts_with('/'))
                .map(|p| SyslogTarget::Unix(p.into()))
        };
        target.ok_or_else(|| {
            format!("expected udp://host:port, tcp://host:port or unix:///path, got {a:?}")
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    #[default]
    Async,
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Destination {
    Stdout,
    File,
    Webhook,
    Syslog,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetentionAction {
    #[default]
    Delete,
    Archive,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileSinkConfig {
    /// The active file; rotated files sit beside it as `<name>.<first seq, 20 digits>`.
    pub path: PathBuf,
    /// Key for HMAC-SHA-256 record hashes (file contents, at least 32 bytes). Without it: SHA-256.
    pub hmac_key_file: Option<PathBuf>,
    /// Ed25519 private key (PKCS#8 PEM) for signed checkpoints; none: no checkpoints.
    pub signing_key_file: Option<PathBuf>,
    pub checkpoint_interval_seconds: u64,
    /// Rotate when the active file reaches this size; 0: never by size.
    pub rotate_max_bytes: u64,
    /// Rotate when the active file is this old; 0: never by time.
    pub rotate_interval_hours: u64,
    /// Rotated files older than this many days are deleted or archived; 0: kept forever.
    pub retention_days: u64,
    pub retention_action: RetentionAction,
    /// Where `archive` moves old files (same file system).
    pub archive_dir: Option<PathBuf>,
}

#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    pub url: String,
    /// Sent verbatim as `Authorization` (a secret: never printed).
    pub auth_header: Option<String>,
    pub batch_size: usize,
    pub batch_interval_ms: u64,
    pub gzip: bool,
    pub timeout_ms: u64,
    /// Longest wait between retries (the backoff doubles from 250 ms up to this).
    pub max_backoff_ms: u64,
    /// Records not yet delivered, on disk, in order.
    pub spool_dir: PathBuf,
    /// Beyond this the spool refuses records and raises an alarm.
    pub spool_max_bytes: u64,
    /// Extra CA (PEM) for an https receiver, added to the system roots.
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field(
                "auth_header",
                &self.auth_header.as_ref().map(|_| "<redacted>"),
            )
            .field("batch_size", &self.batch_size)
            .field("batch_interval_ms", &self.batch_interval_ms)
            .field("gzip", &self.gzip)
            .field("spool_dir", &self.spool_dir)
            .field("spool_max_bytes", &self.spool_max_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: Durability::Async,
            destinations: vec![Destination::Stdout],
            queue_capacity: 65_536,
            fsync_interval_ms: 1_000,
            file: FileSinkConfig::default(),
            webhook: WebhookConfig::default(),
            syslog: SyslogConfig::default(),
        }
    }
}

impl Default for SyslogConfig {
    fn default() -> Self {
        Self {
            address: "unix:///dev/log".into(),
            facility: "authpriv".into(),
            app_name: "mimir-proxy".into(),
        }
    }
}

impl Default for FileSinkConfig {
    fn default() -> Self {
        Self {
            path: "audit/audit.log".into(),
            hmac_key_file: None,
            signing_key_file: None,
            checkpoint_interval_seconds: 300,
            rotate_max_bytes: 100 * 1024 * 1024,
            rotate_interval_hours: 24,
            retention_days: 0,
            retention_action: RetentionAction::Delete,
            archive_dir: None,
        }
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            auth_header: None,
            batch_size: 100,
            batch_interval_ms: 5_000,
            gzip: false,
            timeout_ms: 10_000,
            max_backoff_ms: 30_000,
            spool_dir: "audit/spool".into(),
            spool_max_bytes: 256 * 1024 * 1024,
            ca_file: None,
        }
    }
}

/// `MIMIR_ENABLE_AUDIT_LOGGING`: upstream accepts exactly `true`; we also take 1/yes/on.
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {v:?}")),
    }
}

/// `MIMIR_AUDIT_LOG_DESTINATION`: `stdout|file|webhook|all`, or a comma list of `stdout`,
/// `file`, `webhook` and `syslog` (`all` is upstream's three; syslog is named explicitly).
pub fn parse_destinations(v: &str) -> Result<Vec<Destination>, String> {
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match item {
            "all" => out.extend([Destination::Stdout, Destination::File, Destination::Webhook]),
            "stdout" => out.push(Destination::Stdout),
            "file" => out.push(Destination::File),
            "webhook" => out.push(Destination::Webhook),
            "syslog" => out.push(Destination::Syslog),
            _ => {
                return Err(format!(
                    "expected stdout, file, webhook, syslog or all, got {item:?}"
                ))
            }
        }
    }
    out.dedup();
    if out.is_empty() {
        return Err("no destination given".into());
    }
    Ok(out)
}

pub fn parse_count(v: &str) -> Result<u64, String> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("expected a positive integer, got {v:?}"))
}

/// Semantic checks: (field, message) pairs, located by the caller.
pub fn validate(cfg: &AuditConfig) -> Vec<(&'static str, String)> {
    let mut issues = Vec::new();
    if !cfg.enabled {
        return issues;
    }
    let wants = |d| cfg.destinations.contains(&d);
    if cfg.destinations.is_empty() {
        issues.push((
            "audit.destinations",
            "must name at least one destination".into(),
        ));
    }
    if cfg.queue_capacity == 0 {
        issues.push(("audit.queue_capacity", "must be greater than 0".into()));
    }
    if cfg.fsync_interval_ms == 0 {
        issues.push(("audit.fsync_interval_ms", "must be greater than 0".into()));
    }
    if wants(Destination::File) {
        let f = &cfg.file;
        if f.path.as_os_str().is_empty() || f.path.file_name().is_none() {
            issues.push(("audit.file.path", "must name a file".into()));
        }
        if f.signing_key_file.is_some() && f.checkpoint_interval_seconds == 0 {
            issues.push((
                "audit.file.checkpoint_interval_seconds",
                "must be greater than 0 when a signing key is set".into(),
            ));
        }
        if f.retention_action == RetentionAction::Archive && f.archive_dir.is_none() {
            issues.push((
                "audit.file.archive_dir",
                "is required with retention_action = \"archive\"".into(),
            ));
        }
    }
    if wants(Destination::Syslog) {
        if let Err(e) = cfg.syslog.target() {
            issues.push(("audit.syslog.address", e));
        }
        if cfg.syslog.facility.parse::<fasyslog::Facility>().is_err() {
            issues.push((
                "audit.syslog.facility",
                format!("unknown facility {:?}", cfg.syslog.facility),
            ));
        }
        let app = &cfg.syslog.app_name;
        if app.is_empty() || app.len() > 48 || !app.bytes().all(|b| b.is_ascii_graphic()) {
            issues.push((
                "audit.syslog.app_name",
                "1-48 printable ASCII characters (RFC 5424 APP-NAME)".into(),
            ));
        }
    }
    if wants(Destination::Webhook) {
        let w = &cfg.webhook;
        if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
            issues.push((
                "audit.webhook.url",
                format!("expected an http:// or https:// URL, got {:?}", w.url),
            ));
        }
        let authority = w.url.split("://").nth(1).unwrap_or("").split('/').next();
        if authority.is_some_and(|a| a.contains('@')) {
            issues.push((
                "audit.webhook.url",
                "must not contain credentials; use audit.webhook.auth_header".into(),
            ));
        }
        if w.batch_size == 0 {
            issues.push(("audit.webhook.batch_size", "must be greater than 0".into()));
        }
        if w.batch_interval_ms == 0 {
            issues.push((
                "audit.webhook.batch_interval_ms",
                "must be greater than 0".into(),
            ));
        }
        if w.timeout_ms == 0 {
            issues.push(("audit.webhook.timeout_ms", "must be greater than 0".into()));
        }
        if w.spool_max_bytes < 1024 * 1024 {
            issues.push((
                "audit.webhook.spool_max_bytes",
                "must be at least 1 MiB".into(),
            ));
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_like_upstream() {
        assert_eq!(parse_destinations("all").unwrap().len(), 3);
        assert_eq!(
            parse_destinations("file, webhook").unwrap(),
            [Destination::File, Destination::Webhook]
        );
        assert_eq!(parse_destinations("syslog").unwrap(), [Destination::Syslog]);
        assert!(parse_destinations("kafka").is_err());
        assert!(parse_destinations(" ").is_err());
    }

    #[test]
    fn debug_never_shows_the_webhook_secret() {
        let cfg = WebhookConfig {
            auth_header: Some("Bearer s3cr3t".into()),
            ..WebhookConfig::default()
        };
        assert!(!format!("{cfg:?}").contains("s3cr3t"));
    }

    #[test]
    fn enabled_config_is_checked() {
        let mut cfg = AuditConfig {
            enabled: true,
            destinations: vec![Destination::Webhook, Destination::File],
            ..AuditConfig::default()
        };
        cfg.file.retention_action = RetentionAction::Archive;
        let fields: Vec<_> = validate(&cfg).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["audit.file.archive_dir", "audit.webhook.url"]);
        cfg.enabled = false;
        assert!(validate(&cfg).is_empty());
    }

    #[test]
    fn syslog_settings_are_checked() {
        let mut cfg = AuditConfig {
            enabled: true,
            destinations: parse_destinations("file,syslog").unwrap(),
            ..AuditConfig::default()
        };
        assert!(
            validate(&cfg).is_empty(),
            "defaults: unix:///dev/log, authpriv"
        );
        let target = |a: &str| {
            SyslogConfig {
                address: a.into(),
                ..SyslogConfig::default()
            }
            .target()
        };
        assert_eq!(
            target("udp://10.0.0.1:514"),
            Ok(SyslogTarget::Udp("10.0.0.1:514".into()))
        );
        assert_eq!(
            target("tcp://[::1]:601"),
            Ok(SyslogTarget::Tcp("[::1]:601".into()))
        );
        assert!(target("tcp://host").is_err());
        assert!(target("unix://dev/log").is_err());
        cfg.syslog.address = "syslog.example:514".into();
        cfg.syslog.facility = "nope".into();
        cfg.syslog.app_name = "two words".into();
        let fields: Vec<_> = validate(&cfg).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "audit.syslog.address",
                "audit.syslog.facility",
                "audit.syslog.app_name"
            ]
        );
    }
}
