//! The draft as a policy file: only the keys nginx set, each with the directive it came from.
//! Everything else keeps the built-in defaults (docs/configuration.md).

use ipnet::IpNet;
use std::fmt::Write;

use super::draft::{Draft, Rate, Sourced};
use super::report::Loc;

/// A TOML string literal.
fn quoted(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

fn rate(r: &Rate) -> String {
    format!(
        "{{ requests = {}, per = \"{}\", burst = {} }}",
        r.requests,
        r.per.as_str(),
        r.burst
    )
}

fn from(at: &Loc) -> String {
    format!("# {at} {}\n", at.directive)
}

fn nets(list: &[Sourced<IpNet>]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|n| format!("  {}, # {}", quoted(&n.value.to_string()), n.at))
        .collect();
    format!("[\n{}\n]", items.join("\n"))
}

struct Section {
    name: &'static str,
    body: String,
}

impl Section {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            body: String::new(),
        }
    }

    fn key(&mut self, at: &Loc, key: &str, value: &str) {
        let _ = writeln!(self.body, "{}{key} = {value}", from(at));
    }

    fn comment(&mut self, at: &Loc, text: &str) {
        let _ = writeln!(self.body, "# {at} {}: {text}", at.directive);
    }
}

pub fn policy(draft: &Draft, source: &str) -> String {
    let mut out = format!(
        "# Imported from {source} by `mimir-proxy import-nginx`. Only what nginx set is here;\n\
         # every other option keeps its built-in default (docs/configuration.md).\n\
         # Check it with `mimir-proxy check-config <this file>`.\n"
    );
    let mut server = Section::new("server");
    if let Some(l) = &draft.listen {
        server.key(&l.at, "listen", &quoted(&l.value.to_string()));
    }
    if let Some(l) = &draft.redirect_listen {
        server.key(&l.at, "http_redirect_listen", &quoted(&l.value.to_string()));
    }
    let mut tls = Section::new("tls");
    for (slot, key) in [
        (&draft.cert, "cert"),
        (&draft.key, "key"),
        (&draft.client_ca, "client_ca"),
    ] {
        if let Some(v) = slot {
            tls.key(&v.at, key, &quoted(&v.value));
        }
    }
    if let Some(at) = &draft.protocols {
        tls.comment(at, "the proxy's built-in versions, TLS 1.2 and TLS 1.3");
    }
    let mut upstream = Section::new("upstream");
    if let Some(u) = &draft.upstream {
        upstream.key(&u.at, "address", &quoted(&u.value.address));
        if let Some(sni) = &u.value.tls {
            upstream.key(&u.at, "tls", "true");
            upstream.key(&u.at, "sni", &quoted(sni));
        }
    }
    let mut headers = Section::new("headers");
    if let Some(first) = draft.trusted_proxies.first() {
        headers.key(&first.at, "trusted_proxies", &nets(&draft.trusted_proxies));
    }
    let mut auth = Section::new("auth");
    if let Some(at) = &draft.api_key_check {
        auth.key(at, "enabled", "true");
    }
    if let Some(r) = &draft.resource {
        auth.key(&r.at, "resource", &quoted(&r.value));
    }
    let mut traffic = Section::new("traffic");
    if let Some(r) = &draft.per_ip {
        traffic.key(&r.at, "per_ip", &rate(&r.value));
    }
    if let Some(r) = &draft.per_api_key {
        traffic.key(&r.at, "per_api_key", &rate(&r.value));
    }
    let mut ip = Section::new("traffic.ip");
    if let Some(first) = draft.allow.first() {
        ip.key(&first.at, "allow", &nets(&draft.allow));
    }
    if let Some(first) = draft.deny.first() {
        ip.key(&first.at, "deny", &nets(&draft.deny));
    }
    for section in [server, tls, upstream, headers, auth, traffic, ip] {
        if !section.body.is_empty() {
            let _ = write!(out, "\n[{}]\n{}", section.name, section.body);
        }
    }
    out
}
