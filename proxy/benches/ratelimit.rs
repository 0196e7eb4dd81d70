//! Cost of the rate limiter per request and its memory with many keys.
//!
//! - in memory: the pre-authentication per-IP check and the post-authentication check (user,
//!   route group); target ≤ 200 ns each, with 100 000 keys already tracked;
//! - Redis: one round trip to a local `redis-server` (started here when the binary is found
//!   at `REDIS_SERVER_BIN` or `/usr/bin/redis-server`), reported, no target;
//! - memory: RSS growth for 100 000 distinct keys, and after a flood of 1 000 000 keys against
//!   the default cap of 100 000 (printed before the timings).
//!
//! `cargo bench -p mimir-proxy --bench ratelimit`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use mimir_proxy::traffic::config::{Period, Rate, TrafficConfig};
use mimir_proxy::traffic::{LimitKeys, Limiter};
use std::net::{IpAddr, Ipv6Addr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEYS: u32 = 100_000;

/// The `i`th distinct client: one address per /64 (the addresses of one /64 are one key).
fn ip(i: u32) -> IpAddr {
    IpAddr::from(Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(i) << 64))
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn config() -> TrafficConfig {
    TrafficConfig {
        per_ip: Some(Rate::new(1_000_000, Period::Second, 1_000_000)),
        ..TrafficConfig::default()
    }
}

fn user_keys(l: &Limiter, user: &str) -> LimitKeys<'static> {
    LimitKeys {
        ip: ip(1),
        user: Some(Box::leak(user.to_owned().into_boxed_str())),
        api_key: None,
        group: l.groups().find("/api/nodes"),
        tools: &[],
    }
}

fn memory() {
    let before = rss_kib();
    let l = Limiter::new(&config()).unwrap();
    for i in 0..KEYS {
        let _ = l.check_ip(ip(i)).now_or_never();
    }
    let after = rss_kib();
    println!(
        "memory: {} keys tracked, RSS +{} KiB ({} bytes/key)",
        l.tracked_keys(),
        after - before,
        (after - before) * 1024 / u64::from(KEYS)
    );
    for i in KEYS..10 * KEYS {
        let _ = l.check_ip(ip(i)).now_or_never();
    }
    println!(
        "memory: after 1000000 distinct keys, {} tracked (cap {}), RSS +{} KiB",
        l.tracked_keys(),
        config().max_keys,
        rss_kib() - before
    );
}

fn local(c: &mut Criterion) {
    memory();
    let l = Limiter::new(&config()).unwrap();
    for i in 0..KEYS {
        let _ = l.check_ip(ip(i)).now_or_never();
    }
    let mut i = 0u32;
    c.bench_function("local/check_ip (100k keys tracked)", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            black_box(l.check_ip(black_box(ip(i))).now_or_never())
        })
    });
    c.bench_function("local/check_ip (one address)", |b| {
        b.iter(|| black_box(l.check_ip(black_box(ip(7))).now_or_never()))
    });
    let mut cfg = config();
    cfg.groups[3].limit = Some(Rate::new(1_000_000, Period::Second, 1_000_000));
    cfg.per_user = Some(Rate::new(1_000_000, Period::Second, 1_000_000));
    let l = Limiter::new(&cfg).unwrap();
    let keys = user_keys(&l, "alice@example.com");
    c.bench_function("local/check user + route group", |b| {
        b.iter(|| black_box(l.check(black_box(&keys)).now_or_never()))
    });
}

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> Option<(Redis, u16)> {
    let bin = std::env::var_os("REDIS_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/redis-server".into());
    if !bin.is_file() {
        println!(
            "redis: {} not found, round trip not measured",
            bin.display()
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    let redis = Redis(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((redis, port))
}

fn shared(c: &mut Criterion) {
    let Some((_redis, port)) = start_redis() else {
        return;
    };
    let mut cfg = config();
    cfg.redis.url = format!("redis://127.0.0.1:{port}/");
    cfg.groups[3].limit = Some(Rate::new(1_000_000, Period::Second, 1_000_000));
    let l = Limiter::new(&cfg).unwrap();
    let keys = user_keys(&l, "alice@example.com");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(
        rt.block_on(l.check(&keys)).unwrap().is_some(),
        "Redis answers"
    );
    c.bench_function("redis/check route group (round trip)", |b| {
        b.iter(|| black_box(rt.block_on(l.check(black_box(&keys)))))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = local, shared
}
criterion_main!(benches);
