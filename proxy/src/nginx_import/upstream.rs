//! `proxy_pass` (and the `upstream` block it may name): the proxy forwards everything to one
//! upstream, without rewriting the path.

use std::collections::HashMap;

use super::draft::{set_once, Draft, Upstream};
use super::report::{Findings, Loc};

/// `upstream NAME { server ADDR ...; }` blocks, by name: their servers with locations.
pub type Groups = HashMap<String, Vec<(String, Loc)>>;

pub fn proxy_pass(args: &[String], groups: &Groups, draft: &mut Draft, at: &Loc, f: &mut Findings) {
    let [url] = args else {
        f.untranslated(at, "one URL expected");
        return;
    };
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        f.untranslated(at, "only http:// and https:// upstreams");
        return;
    };
    if url.contains('$') {
        f.untranslated(at, "variables in the upstream URL");
        return;
    }
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    if !path.is_empty() {
        f.untranslated(
            at,
            "a URI part rewrites the path; the proxy forwards it unchanged",
        );
        return;
    }
    let address = match groups.get(authority) {
        Some(servers) => {
            let Some((first, _)) = servers.first() else {
                f.untranslated(at, format!("upstream {authority} has no server"));
                return;
            };
            if servers.len() > 1 {
                f.untranslated(
                    at,
                    format!("upstream {authority} balances over several servers; kept {first}"),
                );
            }
            with_port(first, tls)
        }
        None => with_port(authority, tls),
    };
    let host = address
        .rsplit_once(':')
        .map_or(address.as_str(), |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let upstream = Upstream {
        address,
        tls: tls.then_some(host),
    };
    set_once(&mut draft.upstream, upstream, at, "upstream", f);
}

/// nginx's default ports: 80, or 443 for https.
fn with_port(authority: &str, tls: bool) -> String {
    let has_port = match authority.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    };
    if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Loc {
        Loc {
            file: "t.conf".into(),
            line: 1,
            directive: "proxy_pass".into(),
        }
    }

    fn pass(url: &str, groups: &Groups) -> (Option<Upstream>, Findings) {
        let mut f = Findings::default();
        let mut d = Draft::default();
        proxy_pass(&[url.to_owned()], groups, &mut d, &at(), &mut f);
        (d.upstream.map(|u| u.value), f)
    }

    #[test]
    fn urls_and_upstream_blocks() {
        let none = Groups::new();
        let (u, _) = pass("http://mimir_server:9042", &none);
        assert_eq!(u.unwrap().address, "mimir_server:9042");
        let (u, _) = pass("https://core.internal/", &none);
        let u = u.unwrap();
        assert_eq!(u.address, "core.internal:443");
        assert_eq!(u.tls.as_deref(), Some("core.internal"));
        let (u, _) = pass("http://[::1]:8081", &none);
        assert_eq!(u.unwrap().address, "[::1]:8081");
        let groups = Groups::from([(
            "backend".to_owned(),
            vec![
                ("10.0.0.5:8081".to_owned(), at()),
                ("10.0.0.6:8081".to_owned(), at()),
            ],
        )]);
        let (u, f) = pass("http://backend", &groups);
        assert_eq!(u.unwrap().address, "10.0.0.5:8081");
        assert_eq!(f.untranslated_count(), 1);
        for bad in ["http://x/api/", "unix:/tmp/s", "http://$host"] {
            let (u, f) = pass(bad, &none);
            assert!(u.is_none() && f.untranslated_count() == 1, "{bad}");
        }
    }
}
