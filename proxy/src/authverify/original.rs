//! The request nginx asks about: method and target from `X-Original-Method` / `X-Original-URI`,
//! the client address from `X-Forwarded-For` (or `X-Real-IP`), believed only from trusted
//! proxies, and the target normalized exactly as the gateway normalizes it.

use http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

use crate::request::forwarded;
use crate::request::normalize::{self, PathOptions};

pub const METHOD_HEADER: &str = "x-original-method";
pub const URI_HEADER: &str = "x-original-uri";
/// Longest method name accepted (the longest registered one is 17 bytes).
const MAX_METHOD: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub method: String,
    /// Normalized path and query: what the checks saw and what nginx must forward.
    pub target: String,
    pub client_ip: IpAddr,
    pub user_agent: Option<String>,
}

impl Original {
    /// The normalized path (no query).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// Why the request cannot be checked: a 400 naming it (nginx is misconfigured, or the target is
/// one the gateway would refuse too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub message: String,
    /// The raw path, cut at the query, for the log and the audit record.
    pub raw_path: String,
    pub client_ip: IpAddr,
}

/// The client behind `peer` (nginx). `X-Real-IP` is read only when there is no
/// `X-Forwarded-For`, and both only from `trusted` peers (`forwarded::client_chain`).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let header = if headers.contains_key("x-forwarded-for") {
        "x-forwarded-for"
    } else {
        "x-real-ip"
    };
    forwarded::client_chain(peer, headers.get_all(header).iter(), trusted).client_ip
}

pub fn read(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[IpNet],
    paths: &PathOptions,
) -> Result<Original, Unreadable> {
    let client_ip = client_ip(peer, headers, trusted);
    let raw_target = single(headers, URI_HEADER);
    let raw_path: String = raw_target
        .map(|t| String::from_utf8_lossy(t.split(|&b| b == b'?').next().unwrap_or_default()))
        .unwrap_or_default()
        .chars()
        .take(256)
        .collect();
    let unreadable = |message: String| Unreadable {
        message,
        raw_path: raw_path.clone(),
        client_ip,
    };
    let method = single(headers, METHOD_HEADER)
        .and_then(|m| std::str::from_utf8(m).ok())
        .filter(|m| is_method(m))
        .ok_or_else(|| unreadable(format!("missing or invalid {METHOD_HEADER} header")))?;
    let raw_target =
        raw_target.ok_or_else(|| unreadable(format!("missing or repeated {URI_HEADER} header")))?;
    let target =
        normalize::normalize_target(raw_target, paths).map_err(|e| unreadable(e.to_string()))?;
    Ok(Original {
        method: method.to_owned(),
        target,
        client_ip,
        user_agent: headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    })
}

/// The value of a header sent exactly once.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value.as_bytes()),
        _ => None,
    }
}

/// An RFC 9110 method token; nginx forwards whatever the client sent.
fn is_method(method: &str) -> bool {
    !method.is_empty()
        && method.len() <= MAX_METHOD
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    const OPTS: PathOptions = PathOptions {
        allow_encoded_slash: false,
        max_bytes: 1024,
    };

    fn loopback() -> Vec<IpNet> {
        vec!["127.0.0.1/32".parse().unwrap()]
    }

    #[test]
    fn the_target_is_normalized_like_the_gateway() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let h = headers(&[
            (METHOD_HEADER, "DELETE"),
            (URI_HEADER, "/api//x/..%2f/../nodes/%61b?q=1"),
        ]);
        // %2f is refused, as in the gateway.
        let err = read(peer, &h, &loopback(), &OPTS).unwrap_err();
        assert!(err.message.contains("%2F"), "{err:?}");
        let h = headers(&[
            (METHOD_HEADER, "DELETE"),
            (URI_HEADER, "/api//x/%2e%2e/nodes/%61b?q=1"),
        ]);
        let original = read(peer, &h, &loopback(), &OPTS).unwrap();
        assert_eq!(original.target, "/api/nodes/ab?q=1");
        assert_eq!(original.path(), "/api/nodes/ab");
        assert_eq!(original.query(), Some("q=1"));
        assert_eq!(original.method, "DELETE");
    }

    #[test]
    fn missing_or_bad_headers_are_refused() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        for h in [
            headers(&[(URI_HEADER, "/x")]),
            headers(&[(METHOD_HEADER, "GET")]),
            headers(&[(METHOD_HEADER, "GE T"), (URI_HEADER, "/x")]),
            headers(&[
                (METHOD_HEADER, "GET"),
                (URI_HEADER, "/x"),
                (URI_HEADER, "/y"),
            ]),
            headers(&[(METHOD_HEADER, "GET"), (URI_HEADER, "http://evil/x")]),
        ] {
            assert!(read(peer, &h, &loopback(), &OPTS).is_err(), "{h:?}");
        }
    }

    #[test]
    fn the_client_address_is_believed_from_trusted_peers_only() {
        let nginx: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "192.0.2.9".parse().unwrap();
        let xff = headers(&[("x-forwarded-for", "203.0.113.7")]);
        let real = headers(&[("x-real-ip", "203.0.113.8")]);
        assert_eq!(
            client_ip(nginx, &xff, &loopback()).to_string(),
            "203.0.113.7"
        );
        assert_eq!(
            client_ip(nginx, &real, &loopback()).to_string(),
            "203.0.113.8"
        );
        assert_eq!(client_ip(other, &xff, &loopback()), other);
        assert_eq!(client_ip(nginx, &xff, &[]), nginx);
    }
}
