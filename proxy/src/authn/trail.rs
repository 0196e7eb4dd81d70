//! Authentication outcomes in one place: each login, logout and refused credential becomes an
//! audit record and a metric, and the failures feed the brute-force counters
//! ([`crate::traffic::bruteforce`]) that refuse the client's next attempt before its
//! credential is checked. Nothing here ever sees a secret's value: callers pass names and key ids only.

use http::HeaderMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::admin::metrics::{Denial, Metrics};
use crate::audit::{Audit, AuditEvent};
use crate::authn::apikey;
use crate::authn::credentials::{self, Credential as Presented};
use crate::traffic::bruteforce::{Alert, AlertSink, Blocked, BruteForce, Credential};
use crate::traffic::config::TrafficConfig;
use crate::traffic::source::SourceKeys;

/// `rate_limit.name` of brute-force blocks and of the attempts they refuse.
const BRUTEFORCE_LIMIT: &str = "bruteforce-ip";
/// `rate_limit.name` of password logins refused because too many password checks are running.
const PASSWORD_CHECKS_LIMIT: &str = "password-checks";

/// The request an authentication attempt came with (owned: the endpoints that check
/// passwords read the body while it is held).
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The client IP (after trusted-proxy handling).
    pub ip: IpAddr,
    pub user_agent: Option<String>,
    pub request_id: String,
    /// HTTP method and normalized path.
    pub method: String,
    pub path: String,
}

/// What a request presents, as far as counting goes: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub kind: Credential,
    /// `api_key`, `jwt` or `session` (audit `authentication.method`, metric label).
    pub method: &'static str,
    /// The API key's public id, audited as the user name of a failure.
    pub name: Option<String>,
}

impl Credentials {
    /// The credential of a request, or `None` when it presents none (or an ambiguous set,
    /// which authentication refuses with 400 anyway).
    pub fn of(headers: &HeaderMap, query: Option<&str>, allow_query: bool) -> Option<Self> {
        let presented = credentials::extract(headers, query, allow_query).ok()?;
        Some(match presented {
            Presented::ApiKey(key) => Self {
                kind: Credential::ApiKey,
                method: "api_key",
                name: apikey::id_of(key).map(str::to_owned),
            },
            Presented::ClientToken(_) => Self {
                kind: Credential::Token,
                method: "oauth_client",
                name: None,
            },
            Presented::Jwt(_) => Self {
                kind: Credential::Token,
                method: "jwt",
                name: None,
            },
            Presented::Session(_) => Self {
                kind: Credential::Token,
                method: "session",
                name: None,
            },
        })
    }

    /// Fixed audit reason of a refusal (the verifier's own message may quote token contents).
    pub fn refusal_reason(&self) -> &'static str {
        match self.method {
            "api_key" => "unknown, revoked or expired API key",
            "session" => "invalid or expired session",
            "oauth_client" => "invalid, expired or revoked OAuth access token",
            _ => "invalid or expired token",
        }
    }
}

pub struct AuthTrail {
    audit: Audit,
    metrics: Arc<Metrics>,
    guard: BruteForce,
    count_tokens: bool,
}

impl AuthTrail {
    /// The brute-force limits of `traffic.bruteforce`, per source (`traffic.ipv6_prefix`).
    pub fn new(traffic: &TrafficConfig, audit: Audit, metrics: Arc<Metrics>) -> Self {
        let sink = Arc::new(Alerts {
            audit: audit.clone(),
            metrics: metrics.clone(),
        });
        let cfg = &traffic.bruteforce;
        let sources = SourceKeys::new(traffic.ipv6_prefix);
        Self {
            guard: BruteForce::new(cfg, traffic.max_keys, sources, sink),
            audit,
            metrics,
            count_tokens: cfg.count_tokens,
        }
    }

    /// Before checking a credential: refused when the client's source is blocked, whatever it
    /// presents.
    pub fn check(&self, attempt: &Attempt) -> Result<(), Blocked> {
        self.guard.check(attempt.ip)
    }

    /// Records the refusal of a blocked attempt (the caller answers with
    /// [`Blocked::response`]).
    pub async fn refused(&self, attempt: &Attempt) {
        self.metrics.denied(Denial::BruteForce);
        self.write(
            AuditEvent::rate_limited(Some(attempt.ip), None, BRUTEFORCE_LIMIT),
            attempt,
        )
        .await;
    }

    /// Records a password login refused unchecked because the password checks are all busy.
    pub async fn busy(&self, attempt: &Attempt) {
        self.metrics.denied(Denial::RateLimit);
        self.write(
            AuditEvent::rate_limited(Some(attempt.ip), None, PASSWORD_CHECKS_LIMIT),
            attempt,
        )
        .await;
    }

    /// A credential or password that was refused. `name` is the user name typed or the API
    /// key id; `reason` a fixed description.
    pub async fn failed(
        &self,
        attempt: &Attempt,
        kind: Credential,
        method: &'static str,
        name: Option<&str>,
        reason: &'static str,
    ) {
        self.metrics.auth_failure(method);
        self.write(AuditEvent::login_failed(name, method, reason), attempt)
            .await;
        if kind != Credential::Token || self.count_tokens {
            self.guard.record_failure(attempt.ip, name, kind).await;
        }
    }

    pub async fn login(&self, attempt: &Attempt, user_id: &str, roles: &[String], method: &str) {
        self.write(AuditEvent::login(user_id, roles, method), attempt)
            .await;
    }

    pub async fn logout(&self, attempt: &Attempt, user_id: &str) {
        self.write(AuditEvent::logout(user_id), attempt).await;
    }

    /// Any other event about this attempt (the authorization server's issuance, refresh,
    /// revocation and consent records).
    pub async fn record(&self, event: AuditEvent, attempt: &Attempt) {
        self.write(event, attempt).await;
    }

    /// An event no request caused (the authorization server applying an administrator's
    /// revocation).
    pub async fn record_alone(&self, event: AuditEvent) {
        let action = event.action();
        if self.audit.record(event).await.is_err() {
            tracing::error!(?action, "audit log unavailable: not recorded");
        }
    }

    async fn write(&self, event: AuditEvent, attempt: &Attempt) {
        let event = event
            .with_source(Some(attempt.ip), attempt.user_agent.as_deref())
            .with_request_id(&attempt.request_id)
            .with_request(&attempt.method, &attempt.path);
        let action = event.action();
        if self.audit.record(event).await.is_err() {
            tracing::error!(request_id = %attempt.request_id, ?action, "audit log unavailable: not recorded");
        }
    }
}

/// Brute-force alerts: an audit record and a metric each time a source becomes blocked.
struct Alerts {
    audit: Audit,
    metrics: Arc<Metrics>,
}

#[async_trait::async_trait]
impl AlertSink for Alerts {
    async fn alert(&self, alert: Alert) {
        self.metrics.bruteforce_block("ip");
        let reason = format!(
            "more than {} failed authentications within {} s: blocked for {} s",
            alert.max_failures,
            alert.window.as_secs(),
            alert.blocked_for.as_secs()
        );
        tracing::warn!(ip = %alert.ip, "{reason}");
        let event = AuditEvent::brute_force_blocked(
            alert.ip,
            alert.username.as_deref(),
            alert.credential.as_str(),
            BRUTEFORCE_LIMIT,
            &reason,
        );
        if self.audit.record(event).await.is_err() {
            tracing::error!("audit log unavailable: brute-force block not recorded");
        }
    }
}
