//! Runs a case file: each case for each caller it names, as the gateway would answer it. Paths
//! are normalized first (400), the public paths and the proxy's own endpoints pass before the
//! policy, a request without a credential gets the gateway's 401 or login redirect, and every
//! other request is decided by the policy for the roles it grants the caller.

use super::cases::{AuthKind, Caller, Case, CaseFile, Outcome};
use crate::authn::principal::ClientGrant;
use crate::authn::routes::{self as authn_routes, Route};
use crate::authn::{AuthFailure, AuthMethod, Principal};
use crate::authserver::routes as authserver_routes;
use crate::authz::explain::{mcp_request, normalized_path};
use crate::authz::{Decision, Policy};
use crate::pipeline::unauthenticated::{self, Answer};
use crate::request::mcp::McpRequest;
use crate::request::normalize::PathOptions;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The parts of the gateway in front of the policy.
pub struct Front {
    /// `[oauth] enabled`: the authorization server answers its endpoints.
    pub oauth: bool,
    pub paths: PathOptions,
}

/// What the gateway did with a request.
#[derive(Debug, Clone)]
pub enum Got {
    /// The path normalization refused the target (400).
    Rejected(String),
    /// Forwarded or answered without a credential or a policy decision.
    Passed(&'static str),
    Unauthorized(&'static str),
    Redirect,
    Decided(Decision),
}

impl Got {
    fn is(&self, expected: Outcome) -> bool {
        match (self, expected) {
            (Got::Passed(_), Outcome::Allow) => true,
            (Got::Decided(d), Outcome::Allow) => d.allowed,
            (Got::Decided(d), Outcome::Deny(reason)) => {
                !d.allowed && reason.is_none_or(|r| r == d.reason)
            }
            (Got::Unauthorized(_), Outcome::Unauthorized)
            | (Got::Redirect, Outcome::Redirect)
            | (Got::Rejected(_), Outcome::BadRequest) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Got {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Got::Rejected(why) => write!(f, "400 ({why})"),
            Got::Passed(why) => write!(f, "allow ({why})"),
            Got::Unauthorized(why) => write!(f, "401 ({why})"),
            Got::Redirect => f.write_str("redirect (303 to the login page)"),
            Got::Decided(d) => {
                let verdict = if d.allowed { "allow" } else { "deny" };
                write!(f, "{verdict}:{} by ", d.reason.as_str())?;
                match &d.rule {
                    Some(r) => write!(f, "rule #{} {:?}", r.index, r.name)?,
                    None => f.write_str("the default")?,
                }
                if !d.allowed {
                    write!(f, ": {}", d.message())?;
                }
                Ok(())
            }
        }
    }
}

/// One case for one caller.
pub struct Check<'a> {
    pub case: &'a Case,
    pub caller: &'a Caller,
    pub expected: Outcome,
    pub got: Got,
    /// Why the check failed; `None` when it passed.
    pub failure: Option<String>,
}

impl Check<'_> {
    pub fn request(&self) -> String {
        self.case.def.request()
    }
}

/// What the cases exercised, to name the parts of the policy none of them reaches.
#[derive(Debug, Default)]
pub struct Coverage {
    /// Indexes of the rules the cases' requests fall under.
    pub rules: BTreeSet<usize>,
    /// Tools called, with their operation.
    pub calls: BTreeSet<(String, Option<String>)>,
    /// Roles the policy granted a caller in a case it decided.
    pub roles: BTreeSet<String>,
}

/// The caller as the gateway would see it after authentication.
enum Presented {
    Anonymous,
    /// A credential the gateway refuses (401).
    Refused(&'static str),
    Principal(Arc<Principal>),
}

/// Runs every case of `file` for each caller it names.
pub fn run<'a>(
    file: &'a CaseFile,
    policy: &Policy,
    front: &Front,
    coverage: &mut Coverage,
) -> Vec<Check<'a>> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let presented: Vec<Presented> = file
        .callers
        .iter()
        .map(|c| presented(policy, c, now))
        .collect();
    let mut checks = Vec::new();
    for case in &file.cases {
        let def = &case.def;
        if let Some(tool) = &def.mcp_tool {
            coverage
                .calls
                .insert((tool.clone(), def.mcp_operation.clone()));
        }
        // Normalized once per case; a refused target is every caller's 400.
        let request = normalized_path(&def.path, &front.paths).map(|path| {
            let mcp = mcp_request(
                def.mcp_tool.as_deref(),
                def.mcp_operation.as_deref(),
                def.mcp_method.as_deref(),
            );
            // The rule the request falls under, whoever sends it.
            let no_role: &[&str] = &[];
            if let Some(rule) = policy
                .decide(no_role, &def.method, &path, mcp.as_ref())
                .rule
            {
                coverage.rules.insert(rule.index);
            }
            (path, mcp)
        });
        for &(caller, expected) in &case.expect {
            let got = match &request {
                Ok((path, mcp)) => {
                    let who = &presented[caller];
                    answer(policy, front, who, case, path, mcp.as_ref(), coverage)
                }
                Err(why) => Got::Rejected(why.clone()),
            };
            let failure = judge(case, expected, &got);
            checks.push(Check {
                case,
                caller: &file.callers[caller],
                expected,
                got,
                failure,
            });
        }
    }
    checks
}

fn presented(policy: &Policy, caller: &Caller, now: u64) -> Presented {
    let def = &caller.def;
    if def.anonymous {
        return Presented::Anonymous;
    }
    let (mut roles, method) = match &caller.key {
        Some(key) if key.revoked_at.is_some() => return Presented::Refused("revoked API key"),
        Some(key) if key.expires_at.is_some_and(|exp| now >= exp) => {
            return Presented::Refused("expired API key")
        }
        Some(key) => (key.roles.clone(), AuthMethod::ApiKey),
        None => (def.roles.clone().unwrap_or_default(), AuthMethod::Jwt),
    };
    if let Some(claims) = &def.claims {
        for role in policy.roles_for_claims(claims) {
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
    }
    let method = match def.auth {
        None => method,
        Some(AuthKind::Jwt) => AuthMethod::Jwt,
        Some(AuthKind::Session) => AuthMethod::Session,
        Some(AuthKind::ApiKey) => AuthMethod::ApiKey,
        Some(AuthKind::OauthClient) => AuthMethod::OAuthClient,
    };
    let client = (method == AuthMethod::OAuthClient).then(|| {
        Arc::new(ClientGrant {
            grant_id: String::new(),
            client_id: "policy-test".into(),
            scopes: def.scopes.clone(),
            user_roles: roles.clone(),
        })
    });
    let user = def.user.clone().unwrap_or_else(|| caller.name.clone());
    Presented::Principal(Arc::new(Principal {
        qualified_id: user.clone(),
        user_id: user,
        roles,
        method,
        issuer: None,
        key_id: caller.key.as_ref().map(|k| k.id.clone()),
        expires_at: None,
        issued_at: None,
        refresh_cookie: None,
        client,
    }))
}

/// The gateway's answer to a case's request (normalized `path`) after normalization, in its
/// stages' order (docs/authorization.md, "In the gateway").
fn answer(
    policy: &Policy,
    front: &Front,
    presented: &Presented,
    case: &Case,
    path: &str,
    mcp: Option<&McpRequest>,
    coverage: &mut Coverage,
) -> Got {
    let def = &case.def;
    if front.oauth && authserver_routes::classify(path).is_some() {
        return Got::Passed("the authorization server's endpoint");
    }
    match authn_routes::classify(path) {
        Route::Public => return Got::Passed("public: no credential needed"),
        Route::Local(_) => return Got::Passed("the proxy's own endpoint"),
        Route::Protected => {}
    }
    let principal = match presented {
        Presented::Anonymous => {
            let accept = def.accept.as_deref();
            let missing = AuthFailure::Missing;
            return match unauthenticated::answer(&missing, &def.method, path, accept, "") {
                Answer::Login => Got::Redirect,
                _ => Got::Unauthorized("no credential"),
            };
        }
        Presented::Refused(why) => return Got::Unauthorized(why),
        Presented::Principal(p) => p,
    };
    let granted = policy.grant(principal.clone());
    coverage.roles.extend(granted.roles.iter().cloned());
    Got::Decided(policy.decide(&granted.roles, &def.method, path, mcp))
}

/// Why `got` is not what the case expects, if it is not.
fn judge(case: &Case, expected: Outcome, got: &Got) -> Option<String> {
    if !got.is(expected) {
        return Some(format!("expected {expected}, got {got}"));
    }
    let decision = match got {
        Got::Decided(d) => d,
        _ if matches!(expected, Outcome::Allow) && case.def.rule.is_some() => {
            return Some(format!(
                "expected rule {:?} to decide, got {got}",
                case.def.rule.as_deref().unwrap_or_default()
            ));
        }
        _ => return None,
    };
    if let Some(rule) = &case.def.rule {
        if decision.rule.as_ref().is_none_or(|r| &*r.name != rule) {
            return Some(format!("expected rule {rule:?} to decide, got {got}"));
        }
    }
    if let (Some(missing), false) = (&case.def.missing, decision.allowed) {
        let want: BTreeSet<&str> = missing.iter().map(String::as_str).collect();
        let named: BTreeSet<&str> = decision
            .missing_all_of
            .iter()
            .chain(&decision.missing_any_of)
            .map(String::as_str)
            .collect();
        if want != named {
            return Some(format!(
                "expected the denial to name [{}], got {got}",
                want.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    None
}
