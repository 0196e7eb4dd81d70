//! `listen`, `server_name`, `ssl_*` and `set_real_ip_from`: the listeners, certificates and
//! trusted proxies.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::draft::{set_once, Draft, Sourced};
use super::report::{Findings, Loc};

/// `listen` of a server block. `redirects` says the block only redirects to `https://`.
pub fn listen(args: &[String], redirects: bool, at: &Loc, draft: &mut Draft, f: &mut Findings) {
    let Some(addr) = args.first().and_then(|a| socket_addr(a)) else {
        f.untranslated(
            at,
            "only ip:port, [ipv6]:port, *:port and port are understood",
        );
        return;
    };
    if args.iter().any(|a| a == "proxy_protocol") {
        f.untranslated(at, "the PROXY protocol is not supported");
        return;
    }
    if args.iter().any(|a| a == "ssl") {
        set_once(&mut draft.listen, addr, at, "HTTPS listener", f);
    } else if redirects {
        set_once(
            &mut draft.redirect_listen,
            addr,
            at,
            "HTTP redirect listener",
            f,
        );
    } else {
        f.untranslated(
            at,
            "plain HTTP: the proxy serves HTTPS only (a block that only redirects to https:// \
             becomes server.http_redirect_listen)",
        );
    }
}

fn socket_addr(arg: &str) -> Option<SocketAddr> {
    if let Ok(port) = arg.parse::<u16>() {
        return Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Some(port) = arg.strip_prefix("*:") {
        return socket_addr(port);
    }
    arg.parse().ok()
}

/// `server_name`: one plain name becomes `auth.resource` (the audience of the proxy's tokens).
pub fn server_name(args: &[String], draft: &mut Draft, at: &Loc, f: &mut Findings) {
    let plain = |n: &&String| {
        !n.is_empty() && *n != "_" && !n.starts_with('~') && !n.contains('*') && !n.contains('$')
    };
    match args.iter().filter(plain).collect::<Vec<_>>().as_slice() {
        [name] => set_once(
            &mut draft.resource,
            format!("https://{}", name.to_ascii_lowercase()),
            at,
            "resource name",
            f,
        ),
        [] => f.untranslated(at, "no plain host name: set auth.resource by hand"),
        [first, ..] => {
            f.note(
                at,
                format!("several names: auth.resource takes the first, {first}"),
            );
            set_once(
                &mut draft.resource,
                format!("https://{}", first.to_ascii_lowercase()),
                at,
                "resource name",
                f,
            );
        }
    }
}

/// A file path argument (`ssl_certificate`, `ssl_certificate_key`, `ssl_client_certificate`).
pub fn path(
    args: &[String],
    slot: &mut Option<Sourced<String>>,
    what: &str,
    at: &Loc,
    f: &mut Findings,
) {
    match args {
        [path] if !path.contains('$') && !path.starts_with("data:") => {
            set_once(slot, path.clone(), at, what, f)
        }
        _ => f.untranslated(at, "one plain file path expected (no variables, no data:)"),
    }
}

/// `ssl_protocols`: the proxy always offers TLS 1.2 and 1.3, never less.
pub fn protocols(args: &[String], draft: &mut Draft, at: &Loc, f: &mut Findings) {
    let modern = |p: &String| p == "TLSv1.2" || p == "TLSv1.3";
    let has = |v: &str| args.iter().any(|p| p == v);
    if !(has("TLSv1.2") && has("TLSv1.3")) {
        f.untranslated(at, "the proxy always offers TLS 1.2 and TLS 1.3");
    } else if !args.iter().all(modern) {
        f.note(
            at,
            "protocols older than TLS 1.2 are dropped: the proxy never offers them",
        );
        draft.protocols = Some(at.clone());
    } else {
        draft.protocols = Some(at.clone());
    }
}

/// `ssl_verify_client on` with `ssl_client_certificate` is mutual TLS (`tls.client_ca`).
pub fn verify_client(args: &[String], at: &Loc, f: &mut Findings) -> bool {
    match args {
        [on] if on == "on" => true,
        [off] if off == "off" => false,
        _ => {
            f.untranslated(at, "only on/off: the proxy requires a certificate or none");
            false
        }
    }
}

/// `set_real_ip_from`: whose `X-Forwarded-For` is believed.
pub fn real_ip_from(args: &[String], draft: &mut Draft, at: &Loc, f: &mut Findings) {
    match args.first().and_then(|a| super::access::network(a)) {
        Some(net) => draft.trusted_proxies.push(Sourced {
            value: net,
            at: at.clone(),
        }),
        None => f.untranslated(at, "an address or CIDR network expected"),
    }
}

/// `real_ip_header`: the proxy reads `X-Forwarded-For` (walked from the right).
pub fn real_ip_header(args: &[String], at: &Loc, f: &mut Findings) {
    if !matches!(args, [h] if h.eq_ignore_ascii_case("X-Forwarded-For") || h.eq_ignore_ascii_case("X-Real-IP"))
    {
        f.untranslated(at, "the proxy reads X-Forwarded-For only");
    }
}
