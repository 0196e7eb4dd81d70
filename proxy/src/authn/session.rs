//! The stateless browser session: everything about the signed-in user lives in one cookie,
//! encrypted and authenticated with AES-256-GCM (the `cookie` crate's private jar), so a
//! client can neither read nor alter it. `HttpOnly; Secure; SameSite=Lax`. A session ends at
//! its absolute lifetime, after `idle_timeout_seconds` without use (each use slides the
//! window: a renewed cookie is sent at most once a minute, or per half idle timeout), at a
//! lockdown, or at its sign-out (the proxy then refuses any copy of it: [`super::revoked`]).
//! Cookie names carry the `__Host-` prefix: browsers accept them only from this secure origin,
//! for path `/` and without `Domain`, so a sibling subdomain cannot plant or shadow them.

use anyhow::Context;
use cookie::{Cookie, CookieJar, Key, SameSite};
use serde::{Deserialize, Serialize};

use super::credentials::SESSION_COOKIE;
use super::login_config::SessionConfig;
use super::principal::{AuthMethod, Principal};
use super::revoked::Revoked;
use crate::request::header_value::is_header_safe;

/// How stale the idle window may get before a use renews the cookie (at most half the idle
/// timeout, so an active user never runs out).
const RENEW_AFTER_SECONDS: u64 = 60;
/// Cookie the JavaScript of the application reads to send `X-CSRF-Token` (not HttpOnly).
pub const CSRF_COOKIE: &str = "__Host-mimir_csrf";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionData {
    pub sub: String,
    pub roles: Vec<String>,
    /// The issuer the user signed in with (the proxy's own for dev users).
    pub iss: String,
    /// Provider id, for RP-initiated logout; empty for dev users.
    pub prov: String,
    /// Sign-in time, absolute expiry and last use (Unix seconds).
    pub iat: u64,
    pub exp: u64,
    pub seen: u64,
    /// Anti-CSRF token bound to this session.
    pub csrf: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SessionError {
    /// Not produced by this proxy's key, or altered.
    Forged,
    Expired,
    Idle,
    /// Ended by a sign-out.
    Revoked,
}

pub struct Sessions {
    key: Key,
    lifetime: u64,
    idle: u64,
    revoked: Revoked,
}

impl Sessions {
    pub fn new(config: &SessionConfig) -> anyhow::Result<Self> {
        let key = match &config.key_file {
            Some(path) => {
                let master = std::fs::read(path)
                    .with_context(|| format!("auth.session.key_file {}", path.display()))?;
                anyhow::ensure!(
                    master.len() >= 32,
                    "auth.session.key_file: fewer than 32 bytes"
                );
                Key::derive_from(&master)
            }
            None => Key::try_generate().context("cannot generate a session key")?,
        };
        Ok(Self {
            key,
            lifetime: config.lifetime_seconds,
            idle: config.idle_timeout_seconds,
            revoked: Revoked::default(),
        })
    }

    /// A new session for a user who just signed in.
    pub fn start(
        &self,
        sub: &str,
        roles: &[String],
        iss: &str,
        prov: &str,
        now: u64,
    ) -> SessionData {
        SessionData {
            sub: sub.to_owned(),
            roles: roles
                .iter()
                .filter(|r| is_header_safe(r, true))
                .cloned()
                .collect(),
            iss: iss.to_owned(),
            prov: prov.to_owned(),
            iat: now,
            exp: now + self.lifetime,
            seen: now,
            csrf: openidconnect::CsrfToken::new_random().into_secret(),
        }
    }

    /// `Set-Cookie` values for `data`: the session and the readable CSRF token.
    pub fn cookies(&self, data: &SessionData) -> [String; 2] {
        let max_age = data.exp.saturating_sub(data.seen);
        [
            self.seal(
                SESSION_COOKIE,
                &serde_json::to_string(data).unwrap_or_default(),
                max_age,
                true,
            ),
            base_cookie(CSRF_COOKIE, data.csrf.clone(), max_age, false),
        ]
    }

    /// `Set-Cookie` values that delete both cookies.
    pub fn clear() -> [String; 2] {
        [
            base_cookie(SESSION_COOKIE, String::new(), 0, true),
            base_cookie(CSRF_COOKIE, String::new(), 0, false),
        ]
    }

    /// Decrypt and check a presented session cookie.
    pub fn open(&self, value: &str, now: u64) -> Result<SessionData, SessionError> {
        let data: SessionData = self
            .unseal(SESSION_COOKIE, value)
            .and_then(|json| serde_json::from_str(&json).ok())
            .filter(|d: &SessionData| is_header_safe(&d.sub, false))
            .ok_or(SessionError::Forged)?;
        if now >= data.exp {
            return Err(SessionError::Expired);
        }
        // Saturating: the times come from the cookie, which only this key can seal.
        if now >= data.seen.saturating_add(self.idle) {
            return Err(SessionError::Idle);
        }
        if self.revoked.is_revoked(&Revoked::id(&data.csrf)) {
            return Err(SessionError::Revoked);
        }
        Ok(data)
    }

    /// Sign-out: this session, and every copy of its cookie, is refused from now on.
    pub fn revoke(&self, data: &SessionData, now: u64) {
        self.revoked.revoke(Revoked::id(&data.csrf), data.exp, now);
    }

    /// The principal of an open session (known to the core as `qualified_id`), with a renewed
    /// cookie when the idle window should slide.
    pub fn principal(&self, mut data: SessionData, qualified_id: String, now: u64) -> Principal {
        let renew_after = RENEW_AFTER_SECONDS.min(self.idle / 2);
        let refresh_cookie = (now >= data.seen.saturating_add(renew_after)).then(|| {
            data.seen = now;
            let max_age = data.exp.saturating_sub(now);
            self.seal(
                SESSION_COOKIE,
                &serde_json::to_string(&data).unwrap_or_default(),
                max_age,
                true,
            )
        });
        Principal {
            user_id: data.sub,
            qualified_id,
            roles: data.roles,
            method: AuthMethod::Session,
            issuer: Some(data.iss),
            key_id: None,
            expires_at: Some(data.exp.min(data.seen.saturating_add(self.idle))),
            issued_at: Some(data.iat),
            refresh_cookie,
            client: None,
        }
    }

    /// A short-lived encrypted cookie (the login flow's state), readable only by [`Self::unseal`].
    pub fn seal(&self, name: &'static str, value: &str, max_age: u64, http_only: bool) -> String {
        base_cookie(name, self.seal_value(name, value), max_age, http_only)
    }

    /// `value` encrypted and authenticated for the purpose `name`, readable only by
    /// [`Self::unseal`] with the same name (a cookie's value, or a form's hidden field).
    pub fn seal_value(&self, name: &'static str, value: &str) -> String {
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(Cookie::new(name, value.to_owned()));
        jar.get(name)
            .map(|c| c.value().to_owned())
            .unwrap_or_default()
    }

    pub fn unseal(&self, name: &'static str, value: &str) -> Option<String> {
        let jar = CookieJar::new();
        jar.private(&self.key)
            .decrypt(Cookie::new(name, value.to_owned()))
            .map(|c| c.value().to_owned())
    }
}

pub(super) fn base_cookie(
    name: &'static str,
    value: String,
    max_age: u64,
    http_only: bool,
) -> String {
    let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
    Cookie::build((name, value))
        .path("/")
        .secure(true)
        .http_only(http_only)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(&SessionConfig {
            lifetime_seconds: 3600,
            idle_timeout_seconds: 600,
            key_file: None,
        })
        .unwrap()
    }

    fn value(set_cookie: &str) -> String {
        Cookie::parse(set_cookie.to_owned())
            .unwrap()
            .value()
            .to_owned()
    }

    #[test]
    fn times_at_the_end_of_u64_do_not_overflow() {
        let s = sessions();
        let json = r#"{"sub":"a","roles":[],"iss":"i","prov":"","iat":0,
            "exp":18446744073709551615,"seen":18446744073709551615,"csrf":"t"}"#;
        let data = s.open(&s.seal_value(SESSION_COOKIE, json), 1_000).unwrap();
        let principal = s.principal(data, "a".into(), 1_000);
        assert_eq!(principal.expires_at, Some(u64::MAX));
        assert!(principal.refresh_cookie.is_none());
    }

    #[test]
    fn round_trip_and_flags() {
        let s = sessions();
        let data = s.start(
            "alice",
            &["viewer".into(), "a,b".into()],
            "https://idp",
            "kc",
            1000,
        );
        let [session, csrf] = s.cookies(&data);
        for flag in [
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(session.contains(flag), "{session}");
        }
        assert!(!csrf.contains("HttpOnly") && csrf.contains("Secure"));
        let opened = s.open(&value(&session), 1001).unwrap();
        assert_eq!(opened.roles, ["viewer"]);
        assert_eq!(
            opened,
            SessionData {
                roles: vec!["viewer".into()],
                ..data
            }
        );
    }

    #[test]
    fn tampered_expired_idle_and_foreign_cookies_fail() {
        let s = sessions();
        let data = s.start("alice", &[], "i", "", 1000);
        let sealed = value(&s.cookies(&data)[0]);
        let mut bytes = sealed.clone().into_bytes();
        bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            s.open(std::str::from_utf8(&bytes).unwrap(), 1001),
            Err(SessionError::Forged)
        );
        assert_eq!(sessions().open(&sealed, 1001), Err(SessionError::Forged));
        assert_eq!(s.open("garbage", 1001), Err(SessionError::Forged));
        assert_eq!(s.open(&sealed, 1600), Err(SessionError::Idle));
        assert_eq!(s.open(&sealed, 4600), Err(SessionError::Expired));
    }

    #[test]
    fn use_slides_the_idle_window() {
        let s = sessions();
        let data = s.start("alice", &[], "i", "", 1000);
        let open = |now| s.open(&value(&s.cookies(&data)[0]), now).unwrap();
        let p = s.principal(open(1030), "i|alice".into(), 1030);
        assert!(p.refresh_cookie.is_none(), "renewed at most once a minute");
        let p = s.principal(open(1500), "i|alice".into(), 1500);
        let renewed = value(p.refresh_cookie.as_deref().unwrap());
        assert_eq!(s.open(&renewed, 2000).unwrap().seen, 1500);
        assert_eq!(s.open(&renewed, 2100), Err(SessionError::Idle));
    }
}
