//! In-memory limits on a fake clock: each key kind lets exactly its burst through at once and
//! then one request per interval; keys are independent; the key cap holds under a flood;
//! brute-force tracking blocks sources (never names) and alerts once; IPv6 clients are counted
//! per network.

use futures_util::FutureExt;
use governor::clock::FakeRelativeClock;
use mimir_proxy::traffic::bruteforce::{Alert, AlertSink, BruteForce, Credential};
use mimir_proxy::traffic::config::{Period, Rate, TrafficConfig};
use mimir_proxy::traffic::source::SourceKeys;
use mimir_proxy::traffic::{Cause, Decision, LimitKeys, Limiter};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Only the limits a test sets.
fn bare() -> TrafficConfig {
    let mut cfg = TrafficConfig {
        per_ip: None,
        ..TrafficConfig::default()
    };
    for g in &mut cfg.groups {
        g.limit = None;
    }
    cfg
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn keys<'a>(ip: IpAddr) -> LimitKeys<'a> {
    LimitKeys {
        ip,
        user: None,
        api_key: None,
        group: None,
        tools: &[],
    }
}

fn now<T>(f: impl std::future::Future<Output = T>) -> T {
    f.now_or_never().expect("in-memory limits never wait")
}

/// Asserts GCRA behaviour of whatever `check` charges: `burst` at once, then refused with a
/// retry of one interval, then exactly one request per interval over a minute of steady
/// traffic at twice the rate.
fn assert_exact(clock: &FakeRelativeClock, rate: Rate, name: &str, check: impl Fn() -> Decision) {
    let interval = rate.interval();
    for i in 0..rate.burst.get() {
        let a =
            check().unwrap_or_else(|l| panic!("{name}: request {i} of the burst refused: {l:?}"));
        let a = a.expect("a limit applied");
        assert_eq!(a.spec.name, name);
        assert_eq!(a.remaining, rate.burst.get() - 1 - i);
    }
    let refused = check().expect_err("burst + 1 must be refused");
    assert_eq!(refused.cause, Cause::Exceeded);
    assert_eq!(refused.spec.name, name);
    assert_eq!(refused.retry_after, interval);
    clock.advance(interval - Duration::from_nanos(1));
    assert!(check().is_err(), "{name}: one nanosecond early");
    clock.advance(Duration::from_nanos(1));
    assert!(check().is_ok(), "{name}: on time");
    let mut allowed = 0;
    let period = Duration::from_secs(rate.per.seconds());
    let steps = 2 * rate.requests.get();
    for _ in 0..steps {
        clock.advance(period / steps);
        allowed += u32::from(check().is_ok());
    }
    assert_eq!(
        allowed,
        rate.requests.get(),
        "{name}: steady rate over one period"
    );
}

#[test]
fn per_ip_limit_is_exact_and_per_address() {
    let clock = FakeRelativeClock::default();
    let rate = Rate::new(30, Period::Minute, 5);
    let cfg = TrafficConfig {
        per_ip: Some(rate),
        ..bare()
    };
    let l = Limiter::with_clock(&cfg, clock.clone()).unwrap();
    assert_exact(&clock, rate, "ip", || now(l.check_ip(ip("192.0.2.1"))));
    // Other addresses, IPv6 included, have their own budget.
    assert!(now(l.check_ip(ip("192.0.2.2"))).is_ok());
    assert_exact(&clock, rate, "ip", || now(l.check_ip(ip("2001:db8::1"))));
}

#[test]
fn an_ipv6_client_is_counted_by_its_network() {
    let hourly = Rate::new(1, Period::Hour, 2);
    let mut cfg = TrafficConfig {
        per_ip: Some(hourly),
        ..bare()
    };
    let health = cfg.groups.iter_mut().find(|g| g.name == "health").unwrap();
    health.limit = Some(hourly);
    let l = Limiter::with_clock(&cfg, FakeRelativeClock::default()).unwrap();
    let allowed = |addr: &str| now(l.check_ip(ip(addr))).is_ok();
    // Two addresses of one /64 spend one budget; the next /64 has its own.
    assert!(allowed("2001:db8::1") && allowed("2001:db8::ffff:2"));
    assert!(!allowed("2001:db8::3"));
    assert!(allowed("2001:db8:0:1::1"));
    // IPv4, and IPv4-mapped IPv6, count the whole address.
    assert!(allowed("::ffff:192.0.2.3") && allowed("192.0.2.3"));
    assert!(!allowed("192.0.2.3"));
    assert!(allowed("::ffff:192.0.2.4"));
    // Route-group limits of anonymous callers too.
    let probe = |addr: &str| {
        let keys = LimitKeys {
            group: l.groups().find("/health"),
            ..keys(ip(addr))
        };
        now(l.check(&keys)).is_ok()
    };
    assert!(probe("2001:db8:5::1") && probe("2001:db8:5::2"));
    assert!(!probe("2001:db8:5::3"));

    // The prefix is configurable: at /48 the /64s of one /48 are one client.
    cfg.ipv6_prefix = 48;
    let wide = Limiter::with_clock(&cfg, FakeRelativeClock::default()).unwrap();
    let allowed = |addr: &str| now(wide.check_ip(ip(addr))).is_ok();
    assert!(allowed("2001:db8::1") && allowed("2001:db8:0:ffff::1"));
    assert!(!allowed("2001:db8:0:1234::1"));
    assert!(allowed("2001:db8:1::1"));
}

#[test]
fn per_user_and_per_api_key_limits_are_exact() {
    let clock = FakeRelativeClock::default();
    let user_rate = Rate::new(10, Period::Second, 4);
    let key_rate = Rate::new(120, Period::Minute, 7);
    let cfg = TrafficConfig {
        per_user: Some(user_rate),
        per_api_key: Some(key_rate),
        ..bare()
    };
    let l = Limiter::with_clock(&cfg, clock.clone()).unwrap();
    let alice = LimitKeys {
        user: Some("alice"),
        ..keys(ip("192.0.2.1"))
    };
    assert_exact(&clock, user_rate, "user", || now(l.check(&alice)));
    // The same user from another address shares the budget; another user does not.
    clock.advance(Duration::from_secs(10));
    for _ in 0..4 {
        assert!(now(l.check(&alice)).is_ok());
    }
    let moved = LimitKeys {
        ip: ip("198.51.100.9"),
        ..alice
    };
    assert!(now(l.check(&moved)).is_err());
    let bob = LimitKeys {
        user: Some("bob"),
        ..alice
    };
    assert!(now(l.check(&bob)).is_ok());

    let agent = LimitKeys {
        api_key: Some("key_7f3a"),
        ..keys(ip("192.0.2.1"))
    };
    assert_exact(&clock, key_rate, "api-key", || now(l.check(&agent)));
}

#[test]
fn route_group_limits_count_the_caller() {
    let clock = FakeRelativeClock::default();
    let cfg = bare();
    let mut cfg = TrafficConfig {
        groups: cfg.groups,
        ..bare()
    };
    let mcp = Rate::new(200, Period::Minute, 20);
    let health = Rate::new(10, Period::Second, 20);
    cfg.groups
        .iter_mut()
        .find(|g| g.name == "mcp")
        .unwrap()
        .limit = Some(mcp);
    cfg.groups
        .iter_mut()
        .find(|g| g.name == "health")
        .unwrap()
        .limit = Some(health);
    let l = Limiter::with_clock(&cfg, clock.clone()).unwrap();
    let group = l.groups().find("/mcp");
    let by_key = LimitKeys {
        user: Some("alice"),
        api_key: Some("key_1"),
        group,
        ..keys(ip("192.0.2.1"))
    };
    assert_exact(&clock, mcp, "group-mcp", || now(l.check(&by_key)));
    // The group counts the API key when there is one: the same user without it is fresh.
    let by_user = LimitKeys {
        api_key: None,
        ..by_key
    };
    assert!(now(l.check(&by_user)).is_ok());
    // Unauthenticated health checks count the client IP.
    let probe = LimitKeys {
        group: l.groups().find("/health"),
        ..keys(ip("10.0.0.5"))
    };
    assert_exact(&clock, health, "group-health", || now(l.check(&probe)));
    // A path in no group is not limited by any group.
    let other = LimitKeys {
        group: l.groups().find("/static/app.js"),
        ..probe
    };
    assert_eq!(now(l.check(&other)), Ok(None));
}

#[test]
fn tool_limits_per_tool_and_default() {
    let clock = FakeRelativeClock::default();
    let named = Rate::new(6, Period::Minute, 2);
    let fallback = Rate::new(60, Period::Minute, 3);
    let mut cfg = bare();
    cfg.mcp_tools.tools.insert("memory_node".into(), named);
    cfg.mcp_tools.default = Some(fallback);
    let l = Limiter::with_clock(&cfg, clock.clone()).unwrap();
    let call = |tools: &'static [&'static str]| LimitKeys {
        user: Some("alice"),
        tools,
        ..keys(ip("192.0.2.1"))
    };
    assert_exact(&clock, named, "tool-memory_node", || {
        now(l.check(&call(&["memory_node"])))
    });
    assert_exact(&clock, fallback, "tool-default", || {
        now(l.check(&call(&["vector_search_nodes"])))
    });
    // The default limit is per tool: another unlisted tool has its own budget.
    assert!(now(l.check(&call(&["todo"]))).is_ok());
}

#[test]
fn a_batch_costs_one_per_call_all_or_nothing() {
    let clock = FakeRelativeClock::default();
    let named = Rate::new(6, Period::Minute, 3);
    let mut cfg = bare();
    cfg.mcp_tools.tools.insert("memory_node".into(), named);
    cfg.mcp_tools.default = Some(Rate::new(60, Period::Minute, 5));
    let l = Limiter::with_clock(&cfg, clock.clone()).unwrap();
    let call = |tools: &'static [&'static str]| LimitKeys {
        user: Some("alice"),
        tools,
        ..keys(ip("192.0.2.1"))
    };
    // Two calls of a tool in one batch cost two.
    let a = now(l.check(&call(&["memory_node", "todo", "memory_node"])))
        .unwrap()
        .unwrap();
    assert_eq!((a.spec.name.as_str(), a.remaining), ("tool-memory_node", 1));
    // Two more do not fit in the one left: refused, and the bucket keeps its one.
    let refused = now(l.check(&call(&["memory_node", "memory_node"]))).unwrap_err();
    assert_eq!(refused.spec.name, "tool-memory_node");
    assert_eq!(refused.cause, Cause::Exceeded);
    assert_eq!(refused.retry_after, named.interval());
    // More calls than the burst never pass, and cost nothing.
    let over = now(l.check(&call(&[
        "memory_node",
        "memory_node",
        "memory_node",
        "memory_node",
    ])))
    .unwrap_err();
    assert_eq!(
        (over.spec.name.as_str(), over.cause),
        ("tool-memory_node", Cause::OverBurst)
    );
    let a = now(l.check(&call(&["memory_node"]))).unwrap().unwrap();
    assert_eq!((a.spec.name.as_str(), a.remaining), ("tool-memory_node", 0));
    // The other tool was charged once, by the first batch only.
    let a = now(l.check(&call(&["todo"]))).unwrap().unwrap();
    assert_eq!((a.spec.name.as_str(), a.remaining), ("tool-default", 3));
}

#[test]
fn tightest_limit_is_reported_and_switch_disables() {
    let clock = FakeRelativeClock::default();
    let cfg = TrafficConfig {
        per_user: Some(Rate::new(100, Period::Minute, 50)),
        per_api_key: Some(Rate::new(100, Period::Minute, 3)),
        ..bare()
    };
    let l = Limiter::with_clock(&cfg, clock.clone()).unwrap();
    let k = LimitKeys {
        user: Some("alice"),
        api_key: Some("k"),
        ..keys(ip("192.0.2.1"))
    };
    let a = now(l.check(&k)).unwrap().unwrap();
    assert_eq!((a.spec.name.as_str(), a.remaining), ("api-key", 2));
    let off = Limiter::with_clock(
        &TrafficConfig {
            rate_limits: false,
            ..cfg
        },
        clock,
    )
    .unwrap();
    for _ in 0..10 {
        assert_eq!(now(off.check(&k)), Ok(None));
    }
}

#[test]
fn key_flood_stays_within_the_cap() {
    let clock = FakeRelativeClock::default();
    let cfg = TrafficConfig {
        per_ip: Some(Rate::new(60, Period::Minute, 5)),
        max_keys: 1000,
        ..bare()
    };
    let l = Limiter::with_clock(&cfg, clock.clone()).unwrap();
    let known = ip("192.0.2.1");
    assert!(now(l.check_ip(known)).is_ok());
    let mut flood_allowed = 0;
    for i in 0..20_000u32 {
        // Distinct /64s: addresses within one /64 would be one key.
        let spoofed = IpAddr::from(std::net::Ipv6Addr::from(
            0x2001_0db8_u128 << 96 | u128::from(i) << 64,
        ));
        flood_allowed += u32::from(now(l.check_ip(spoofed)).is_ok());
    }
    assert_eq!(l.tracked_keys(), 1000, "never more keys than the cap");
    // 999 flood keys got their own bucket; the rest shared one bucket of burst 5.
    assert_eq!(flood_allowed, 999 + 5);
    // The address tracked before the flood keeps its own budget.
    assert!(now(l.check_ip(known)).is_ok());
    // Once idle buckets are full again the sweep frees them.
    clock.advance(Duration::from_secs(10));
    l.sweep();
    assert_eq!(l.tracked_keys(), 0);
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Alert>>);

#[async_trait::async_trait]
impl AlertSink for Recorder {
    async fn alert(&self, alert: Alert) {
        self.0.lock().unwrap().push(alert);
    }
}

#[test]
fn brute_force_blocks_the_source_never_a_name() {
    let clock = FakeRelativeClock::default();
    let sink = Arc::new(Recorder::default());
    let cfg = TrafficConfig::default().bruteforce; // 5 failures / 60 s, block 300 s
    let bf = BruteForce::with_clock(
        &cfg,
        1000,
        SourceKeys::default(),
        sink.clone(),
        clock.clone(),
    );
    let attacker = ip("203.0.113.7");
    // Five failures a minute are tolerated (the alert is for more than five).
    for i in 0..5 {
        assert!(bf.check(attacker).is_ok());
        now(bf.record_failure(attacker, Some(&format!("user{i}")), Credential::Password));
    }
    assert!(sink.0.lock().unwrap().is_empty());
    now(bf.record_failure(attacker, Some("user5"), Credential::Password));
    let alerts = sink.0.lock().unwrap().clone();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].ip, attacker);
    assert_eq!(alerts[0].username.as_deref(), Some("user5"));
    assert_eq!(alerts[0].blocked_for, Duration::from_secs(300));
    let blocked = bf.check(attacker).unwrap_err();
    assert_eq!(blocked.retry_after, Duration::from_secs(300));
    let (resp, _) = blocked.response("rid").unwrap();
    assert_eq!(resp.status.as_u16(), 429);
    assert_eq!(resp.headers.get("retry-after").unwrap(), "300");
    // Another address is not blocked.
    assert!(bf.check(ip("198.51.100.1")).is_ok());

    // Failures for one name (or key id) from six addresses block none of them: a name is not
    // secret, and blocking it would let anyone lock its owner out.
    for i in 0..6u8 {
        let from = IpAddr::from([198, 51, 100, 10 + i]);
        now(bf.record_failure(from, Some("root"), Credential::ApiKey));
    }
    assert_eq!(sink.0.lock().unwrap().len(), 1);
    assert!(bf.check(ip("198.51.100.10")).is_ok());

    // An IPv6 client is its /64: six addresses of one /64 are one source.
    for i in 1..=6u16 {
        let from = IpAddr::from([0x2001, 0xdb8, 0, 7, 0, 0, 0, i]);
        now(bf.record_failure(from, None, Credential::Password));
    }
    let alerts = sink.0.lock().unwrap().clone();
    assert_eq!(alerts.len(), 2);
    assert_eq!(
        alerts[1].ip,
        ip("2001:db8:0:7::6"),
        "the full address is reported"
    );
    assert!(bf.check(ip("2001:db8:0:7:abcd::1")).is_err());
    assert!(bf.check(ip("2001:db8:0:8::1")).is_ok(), "the next /64");
    // Blocks end.
    clock.advance(Duration::from_secs(300));
    assert!(bf.check(attacker).is_ok());
}
