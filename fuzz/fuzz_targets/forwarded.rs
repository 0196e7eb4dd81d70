//! The client behind trusted proxies (`request::forwarded::client_chain`, one `X-Forwarded-For`
//! value per line) and the checked authority (`validated_host`, from `Host` or an absolute-form
//! target).
#![no_main]

use http::HeaderValue;
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use mimir_proxy::request::forwarded::{canonical_ip, client_chain, validated_host};
use pingora::http::RequestHeader;
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let trusted: Vec<IpNet> = ["10.0.0.0/8", "127.0.0.0/8", "::1/128", "fd00::/8"]
                .iter()
                .map(|n| n.parse().unwrap())
                .collect();
            let peer: IpAddr = if mode & 4 == 0 {
                "10.1.2.3".parse().unwrap()
            } else {
                "::ffff:127.0.0.1".parse().unwrap()
            };
            let values: Vec<HeaderValue> = data
                .split(|&b| b == b'\n')
                .filter_map(|v| HeaderValue::from_bytes(v).ok())
                .collect();
            let chain = client_chain(peer, values.iter(), &trusted);
            let peer = canonical_ip(peer).to_string();
            assert!(chain.forwarded_for.ends_with(&peer), "{chain:?}");
        }
        1 => {
            let Ok(mut req) = RequestHeader::build("GET", b"/", None) else {
                return;
            };
            for host in data.split(|&b| b == b'\n') {
                if let Ok(value) = HeaderValue::from_bytes(host) {
                    req.append_header(http::header::HOST, value).unwrap();
                }
            }
            check_host(&req);
        }
        _ => {
            if let Ok(req) = RequestHeader::build("GET", data, None) {
                check_host(&req);
            }
        }
    }
});

fn check_host(req: &RequestHeader) {
    if let Ok(host) = validated_host(req) {
        assert!(!host.is_empty() && !host.contains('@'), "{host:?}");
        assert_eq!(host, host.to_ascii_lowercase());
    }
}
