//! IP lists judged on the client IP as `forwarded::client_chain` resolves it: a spoofed
//! `X-Forwarded-For` from an untrusted peer changes nothing, a trusted proxy's header is
//! believed right to left, and IPv6 / IPv4-mapped addresses match their networks.

use http::HeaderValue;
use ipnet::IpNet;
use mimir_proxy::request::forwarded::client_chain;
use mimir_proxy::traffic::config::{RouteGroup, TrafficConfig};
use mimir_proxy::traffic::groups::RouteGroups;
use mimir_proxy::traffic::ipfilter::{IpDenied, IpFilter};
use std::net::IpAddr;

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|n| n.parse().unwrap()).collect()
}

/// Office networks may use the admin API; one abusive address is denied everywhere.
fn setup() -> (IpFilter, RouteGroups, Vec<IpNet>) {
    let mut cfg = TrafficConfig::default();
    cfg.ip.deny = nets(&["198.51.100.66/32", "2001:db8:bad::/48"]);
    cfg.groups.insert(
        0,
        RouteGroup {
            name: "admin".into(),
            paths: vec![
                "/api/rbac".into(),
                "/api/rbac/**".into(),
                "/api/keys/**".into(),
            ],
            limit: None,
            max_body_bytes: None,
            allow: nets(&["192.0.2.0/24", "2001:db8:1::/48"]),
            deny: Vec::new(),
            on_redis_error: None,
        },
    );
    let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
    (
        IpFilter::new(&cfg, &trusted),
        RouteGroups::new(&cfg.groups).unwrap(),
        trusted,
    )
}

fn client(peer: &str, xff: &[&str], trusted: &[IpNet]) -> IpAddr {
    let values: Vec<HeaderValue> = xff
        .iter()
        .map(|v| HeaderValue::from_str(v).unwrap())
        .collect();
    client_chain(peer.parse().unwrap(), values.iter(), trusted).client_ip
}

#[test]
fn spoofed_forwarded_for_from_untrusted_peer_is_ignored() {
    let (filter, groups, trusted) = setup();
    let admin = groups.find("/api/rbac/permissions");
    assert_eq!(groups.get(admin.unwrap()).name, "admin");
    // An outsider claims to be in the office: the claim is not believed.
    let ip = client("203.0.113.9", &["192.0.2.10"], &trusted);
    assert_eq!(ip.to_string(), "203.0.113.9");
    assert_eq!(
        filter.check(ip, admin),
        Err(IpDenied::Group(admin.unwrap()))
    );
    // The denied address cannot hide behind a forged header either.
    let ip = client("198.51.100.66", &["192.0.2.10, 10.0.0.1"], &trusted);
    assert_eq!(
        filter.check(ip, groups.find("/api/nodes")),
        Err(IpDenied::Global)
    );
    // Elsewhere the outsider is served.
    let ip = client("203.0.113.9", &["192.0.2.10"], &trusted);
    assert_eq!(filter.check(ip, groups.find("/api/nodes")), Ok(()));
}

#[test]
fn trusted_proxy_chain_is_walked_right_to_left() {
    let (filter, groups, trusted) = setup();
    let admin = groups.find("/api/keys/generate");
    // The load balancer (trusted) saw the office client; whatever the client prepended is ignored.
    let ip = client(
        "10.0.0.2",
        &["198.51.100.66, 192.0.2.10", "10.0.0.1"],
        &trusted,
    );
    assert_eq!(ip.to_string(), "192.0.2.10");
    assert_eq!(filter.check(ip, admin), Ok(()));
    // The rightmost untrusted address wins even when the client forges office addresses.
    let ip = client("10.0.0.2", &["192.0.2.10, 203.0.113.9"], &trusted);
    assert_eq!(ip.to_string(), "203.0.113.9");
    assert!(filter.check(ip, admin).is_err());
    // A denied client behind the proxy is denied.
    let ip = client("10.0.0.2", &["198.51.100.66"], &trusted);
    assert_eq!(filter.check(ip, None), Err(IpDenied::Global));
}

#[test]
fn ipv6_and_ipv4_mapped_addresses() {
    let (filter, groups, trusted) = setup();
    let admin = groups.find("/api/rbac");
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d: still the office network.
    let ip = client("::ffff:192.0.2.44", &[], &trusted);
    assert_eq!(ip.to_string(), "192.0.2.44");
    assert_eq!(filter.check(ip, admin), Ok(()));
    // Even if something hands the filter the mapped form directly.
    assert_eq!(
        filter.check("::ffff:192.0.2.44".parse().unwrap(), admin),
        Ok(())
    );
    assert!(filter
        .check("::ffff:198.51.100.66".parse().unwrap(), None)
        .is_err());
    // IPv6 office and denied networks.
    let ip = client("fd00::1", &["[2001:db8:1::abcd]:5555"], &trusted);
    assert_eq!(filter.check(ip, admin), Ok(()));
    let ip = client("2001:db8:bad::1", &["2001:db8:1::1"], &trusted);
    assert_eq!(filter.check(ip, None), Err(IpDenied::Global));
    // A trusted IPv4 proxy over a dual-stack socket, forwarding an IPv6 client.
    let ip = client("::ffff:10.1.1.1", &["2001:db8:1::7"], &trusted);
    assert_eq!(ip.to_string(), "2001:db8:1::7");
    assert_eq!(filter.check(ip, admin), Ok(()));
    // Connection level: untrusted peers meet the global lists, trusted ones wait for the request.
    assert!(!filter.admits_peer("::ffff:198.51.100.66".parse().unwrap()));
    assert!(filter.admits_peer("::ffff:10.1.1.1".parse().unwrap()));
    assert!(filter.admits_peer("2001:db8:1::1".parse().unwrap()));
}

#[test]
fn denial_is_a_403_json_error() {
    let (resp, body) = IpDenied::Global.response("rid-9").unwrap();
    assert_eq!(resp.status.as_u16(), 403);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["request_id"], "rid-9");
    assert!(!v["message"].as_str().unwrap().contains("198.51.100"));
}
