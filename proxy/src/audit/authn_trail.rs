//! Authentication outcomes in one place: each login, logout and refused credential becomes an
//! audit record and a metric, and the failures feed the brute-force counters
//! ([`crate::ratelimit::bruteforce`]) that refuse the next attempt before its credential is
//! checked. Nothing here ever sees a secret's value: callers pass names and key ids only.

use http::HeaderMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::{Audit, AuditEvent};
use crate::authn::apikey;
use crate::authn::credentials::{self, Credential as Presented};
use crate::metrics::{Denial, Metrics};
use crate::ratelimit::bruteforce::{Alert, AlertSink, Blocked, BruteForce, Credential, Target};
use crate::ratelimit::config::BruteForceConfig;

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
    /// The API key's public id: failures are counted per key as per user name.
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
    pub fn new(
        cfg: &BruteForceConfig,
        max_keys: usize,
        audit: Audit,
        metrics: Arc<Metrics>,
    ) -> Self {
        let sink = Arc::new(Alerts {
            audit: audit.clone(),
            metrics: metrics.clone(),
        });
        Self {
            guard: BruteForce::new(cfg, max_keys, sink),
            audit,
            metrics,
            count_tokens: cfg.count_tokens,
        }
    }

    /// Before checking a credential: refused when the address or the name is blocked. A
    /// blocked address is refused whatever it presents.
    pub fn check(&self, attempt: &Attempt, name: Option<&str>) -> Result<(), Blocked> {
        self.guard.check(attempt.ip, name)
    }

    /// Records the refusal of a blocked attempt (the caller answers with
    /// [`Blocked::response`]).
    pub async fn refused(&self, attempt: &Attempt, blocked: &Blocked) {
        self.metrics.denied(Denial::BruteForce);
        let limit = match blocked.target {
            Target::Ip(_) => "bruteforce-ip",
            Target::User(_) => "bruteforce-user",
        };
        self.write(
            AuditEvent::rate_limited(Some(attempt.ip), None, limit),
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

/// Brute-force alerts: an audit record and a metric each time an address or a name becomes
/// blocked.
struct Alerts {
    audit: Audit,
    metrics: Arc<Metrics>,
}

#[async_trait::async_trait]
impl AlertSink for Alerts {
    async fn alert(&self, alert: Alert) {
        let (target, limit) = match alert.target {
            Target::Ip(_) => ("ip", "bruteforce-ip"),
            Target::User(_) => ("user", "bruteforce-user"),
        };
        self.metrics.bruteforce_block(target);
        let reason = format!(
            "more than {} failed authentications within {} s: blocked for {} s",
            alert.max_failures,
            alert.window.as_secs(),
            alert.blocked_for.as_secs()
        );
        tracing::warn!(ip = %alert.ip, target, "{reason}");
        let event = AuditEvent::brute_force_blocked(
            alert.ip,
            alert.username.as_deref(),
            alert.credential.as_str(),
            limit,
            &reason,
        );
        if self.audit.record(event).await.is_err() {
            tracing::error!("audit log unavailable: brute-force block not recorded");
        }
    }
}
