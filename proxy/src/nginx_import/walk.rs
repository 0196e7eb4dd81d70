//! Walks the parsed configuration block by block and hands each directive to its translator.
//! Security directives count site-wide (`http`, `server`, `location /`); anywhere else, and for
//! every directive without an equivalent, the directive is reported.

use nginx_lint_parser::ast::{Config, Directive};
use std::collections::HashMap;

use super::access::{self, Rule};
use super::draft::{Draft, Sourced};
use super::limits::{self, Zone};
use super::report::{Findings, Loc};
use super::tls;
use super::upstream::{self, Groups};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Main,
    Http,
    /// `redirects`: the block only sends clients to `https://`.
    Server {
        redirects: bool,
    },
    /// `location /`: everything not matched elsewhere.
    Site,
    /// Any other location, `if`, or a block without a policy equivalent.
    Elsewhere,
}

struct Walk<'a> {
    file: &'a str,
    draft: Draft,
    f: Findings,
    zones: HashMap<String, Zone>,
    groups: Groups,
    client_ca: Option<Sourced<String>>,
    verify_client: Option<Loc>,
}

/// The draft policy and the findings for one parsed file.
pub fn translate(config: &Config, file: &str) -> (Draft, Findings) {
    let mut walk = Walk {
        file,
        draft: Draft::default(),
        f: Findings::default(),
        zones: HashMap::new(),
        groups: Groups::new(),
        client_ca: None,
        verify_client: None,
    };
    // Zones and upstream blocks may be referenced before they are defined.
    for d in config.all_directives() {
        let at = walk.loc(d);
        match d.name.as_str() {
            "limit_req_zone" => {
                if let Some((name, zone)) = limits::zone(&args(d), &at, &mut walk.f) {
                    walk.zones.insert(name, zone);
                }
            }
            "upstream" => {
                let servers = children(d)
                    .filter(|s| s.name == "server")
                    .filter_map(|s| args(s).first().map(|a| (a.clone(), walk.loc(s))))
                    .collect();
                if let Some(name) = args(d).first() {
                    walk.groups.insert(name.clone(), servers);
                }
            }
            _ => {}
        }
    }
    walk.block(config.directives(), Scope::Main);
    match (walk.client_ca.take(), walk.verify_client.take()) {
        (Some(ca), Some(_)) => walk.draft.client_ca = Some(ca),
        (Some(ca), None) => walk.f.untranslated(
            &ca.at,
            "without `ssl_verify_client on` no certificate is required",
        ),
        (None, Some(at)) => walk
            .f
            .untranslated(&at, "no ssl_client_certificate names the CA"),
        (None, None) => {}
    }
    walk.f.0.sort_by_key(|finding| finding.at.line);
    (walk.draft, walk.f)
}

fn children(d: &Directive) -> impl Iterator<Item = &Directive> {
    d.block.iter().flat_map(|b| b.directives())
}

/// Argument values; variables keep their `$`. The parser splits `https://$host$uri` into
/// pieces; pieces with nothing between them are one nginx argument again.
fn args(d: &Directive) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut end = None;
    for a in &d.args {
        let text = if a.is_variable() { &a.raw } else { a.as_str() };
        match out.last_mut() {
            Some(last) if end == Some(a.span.start.offset) && !a.is_quoted() => last.push_str(text),
            _ => out.push(text.to_owned()),
        }
        end = Some(a.span.end.offset);
    }
    out
}

impl Walk<'_> {
    fn loc(&self, d: &Directive) -> Loc {
        Loc {
            file: self.file.to_owned(),
            line: d.span.start.line,
            directive: d.name.clone(),
        }
    }

    fn block<'d>(&mut self, directives: impl Iterator<Item = &'d Directive>, scope: Scope) {
        let mut rules: Vec<Rule> = Vec::new();
        for d in directives {
            let at = self.loc(d);
            let a = args(d);
            let site_wide = matches!(scope, Scope::Http | Scope::Server { .. } | Scope::Site);
            match (d.name.as_str(), scope) {
                ("http", Scope::Main) => self.block(children(d), Scope::Http),
                ("server", Scope::Main | Scope::Http) => {
                    let redirects = redirects_only(d);
                    self.block(children(d), Scope::Server { redirects })
                }
                ("location", Scope::Server { .. }) if a == ["/"] => {
                    self.block(children(d), Scope::Site)
                }
                // Read before the walk; translated where they are used.
                ("limit_req_zone", _) | ("upstream", Scope::Main | Scope::Http) => {}
                ("return", Scope::Server { redirects: true }) => {}
                ("include", _) => self.f.untranslated(
                    &at,
                    "included files are not followed: import each of them on its own",
                ),
                (_, Scope::Elsewhere) => self.f.untranslated(
                    &at,
                    "inside a location other than / or an if: the policy applies site-wide \
                     (per-path rules: config/routes.toml, [[traffic.groups]])",
                ),
                ("if", _) if self.api_key_check(d, &a, &at) => {}
                ("location" | "if", _) => {
                    self.f.untranslated(
                        &at,
                        "the policy has no per-location or conditional rules; the block's \
                         directives follow",
                    );
                    self.block(children(d), Scope::Elsewhere)
                }
                ("listen", Scope::Server { redirects }) => {
                    tls::listen(&a, redirects, &at, &mut self.draft, &mut self.f)
                }
                ("server_name", Scope::Server { redirects: false }) => {
                    tls::server_name(&a, &mut self.draft, &at, &mut self.f)
                }
                ("server_name", Scope::Server { redirects: true }) => {}
                ("ssl_certificate", _) if site_wide => {
                    tls::path(&a, &mut self.draft.cert, "certificate", &at, &mut self.f)
                }
                ("ssl_certificate_key", _) if site_wide => {
                    tls::path(&a, &mut self.draft.key, "private key", &at, &mut self.f)
                }
                ("ssl_client_certificate", _) if site_wide => {
                    tls::path(&a, &mut self.client_ca, "client CA", &at, &mut self.f)
                }
                ("ssl_verify_client", _) if site_wide => {
                    if tls::verify_client(&a, &at, &mut self.f) {
                        self.verify_client = Some(at);
                    }
                }
                ("ssl_protocols", _) => tls::protocols(&a, &mut self.draft, &at, &mut self.f),
                ("set_real_ip_from", _) => tls::real_ip_from(&a, &mut self.draft, &at, &mut self.f),
                ("real_ip_header", _) => tls::real_ip_header(&a, &at, &mut self.f),
                ("limit_req", _) if site_wide => {
                    limits::limit(&a, &self.zones, &mut self.draft, &at, &mut self.f)
                }
                ("allow" | "deny", _) if site_wide => {
                    if let Some(rule) = access::rule(d.name == "allow", &a, &at, &mut self.f) {
                        rules.push(rule);
                    }
                }
                ("proxy_pass", Scope::Site | Scope::Server { .. }) => {
                    upstream::proxy_pass(&a, &self.groups, &mut self.draft, &at, &mut self.f)
                }
                ("proxy_set_header", _) if forwarding_header(&a) => {}
                ("proxy_set_header", _) => self.f.untranslated(
                    &at,
                    "the proxy sets only its own forwarding and identity headers",
                ),
                _ => self.f.untranslated(&at, "no equivalent in the policy"),
            }
        }
        access::translate(&rules, &mut self.draft, &mut self.f);
    }

    /// `if ($http_x_api_key != "…") { return 401; }`: one shared key for everyone. The proxy
    /// authenticates every request instead; the key itself is never copied anywhere.
    fn api_key_check(&mut self, d: &Directive, a: &[String], at: &Loc) -> bool {
        let joined = a.join(" ");
        let condition: Vec<&str> = joined
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split_whitespace()
            .filter(|t| *t != "(" && *t != ")")
            .collect();
        let is_check = matches!(condition.as_slice(), [var, "!=", _] if var.eq_ignore_ascii_case("$http_x_api_key"));
        let body: Vec<Vec<String>> = children(d)
            .map(|c| std::iter::once(c.name.clone()).chain(args(c)).collect())
            .collect();
        let refuses = matches!(body.as_slice(), [ret] if ret.len() == 2 && ret[0] == "return" && (ret[1] == "401" || ret[1] == "403"));
        if !(is_check && refuses) {
            return false;
        }
        self.draft.api_key_check = Some(at.clone());
        self.f.note(
            at,
            "the shared key is not imported: give each client its own key with \
             `mimir-proxy keys create --name NAME --roles ROLES` (sent as X-API-Key or Bearer)",
        );
        true
    }
}

/// A server block whose only job is `return 30x https://…`.
fn redirects_only(server: &Directive) -> bool {
    let mut redirect = false;
    for d in children(server) {
        match d.name.as_str() {
            "return" => {
                let a = args(d);
                redirect = matches!(a.as_slice(), [code, url]
                    if ["301", "302", "307", "308"].contains(&code.as_str())
                        && url.starts_with("https://"));
            }
            "location" | "proxy_pass" | "root" => return false,
            _ => {}
        }
    }
    redirect
}

/// Headers the proxy sets itself, from what it saw.
fn forwarding_header(a: &[String]) -> bool {
    let [name, _] = a else { return false };
    [
        "host",
        "x-real-ip",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
    ]
    .contains(&name.to_ascii_lowercase().as_str())
}
