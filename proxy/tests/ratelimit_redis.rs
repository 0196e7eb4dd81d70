//! Shared limits against a real `redis-server` started by the test (Debian's `redis-server`;
//! `REDIS_SERVER_BIN` overrides `/usr/bin/redis-server`; with `CI=true` a missing binary fails).
//! Two replica processes (this test binary, re-run as a child) spend one budget; Redis killed
//! mid-test triggers each group's documented fallback; the limiter recovers when Redis returns.

use mimir_proxy::traffic::config::{OnError, Period, Rate, TrafficConfig};
use mimir_proxy::traffic::{Cause, LimitKeys, Limiter};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn redis_bin() -> Option<PathBuf> {
    let path = std::env::var_os("REDIS_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/redis-server".into());
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} not found: install Debian's redis-server (apt-get install -y redis-server) or set REDIS_SERVER_BIN",
        path.display()
    );
    eprintln!("skipping: {} not found", path.display());
    None
}

struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(bin: &PathBuf, port: u16) -> Self {
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The MCP group at `mcp` per caller, the auth group at `auth`, the API group at `api`; no
/// per-IP limit. Redis at `url`.
fn config(url: &str, mcp: Rate, auth: Rate, api: Rate) -> TrafficConfig {
    let mut cfg = TrafficConfig {
        per_ip: None,
        ..TrafficConfig::default()
    };
    cfg.redis.url = url.into();
    cfg.redis.retry_ms = 300;
    cfg.redis.timeout_ms = 500;
    for g in &mut cfg.groups {
        g.limit = match g.name.as_str() {
            "mcp" => Some(mcp),
            "auth" => Some(auth),
            "api" => Some(api),
            _ => None,
        };
        g.on_redis_error = match g.name.as_str() {
            "mcp" => Some(OnError::Open),
            "api" => Some(OnError::Local),
            _ => g.on_redis_error, // auth: closed by default
        };
    }
    cfg
}

fn keys<'a>(l: &Limiter, path: &str, user: &'a str) -> LimitKeys<'a> {
    LimitKeys {
        ip: IpAddr::from([192, 0, 2, 1]),
        user: Some(user),
        api_key: None,
        group: l.groups().find(path),
        tools: &[],
    }
}

const SHARED_BURST: u32 = 25;
const PER_REPLICA: u32 = 40;

/// One replica: waits for the common start time, then spends `PER_REPLICA` requests of one
/// user against the shared budget and prints how many were allowed.
#[tokio::test]
#[ignore = "child process of two_replicas_share_one_budget"]
async fn replica_child() {
    let url = std::env::var("RL_REPLICA_URL").expect("run by two_replicas_share_one_budget");
    let start_ms: u128 = std::env::var("RL_START_AT_MS").unwrap().parse().unwrap();
    let hourly = Rate::new(1, Period::Hour, SHARED_BURST);
    let l = Limiter::new(&config(&url, hourly, hourly, hourly)).unwrap();
    let k = keys(&l, "/mcp", "shared-user");
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    tokio::time::sleep(Duration::from_millis(start_ms.saturating_sub(now_ms) as u64)).await;
    let mut allowed = 0;
    for _ in 0..PER_REPLICA {
        match l.check(&k).await {
            Ok(Some(_)) => allowed += 1,
            Ok(None) => panic!("no limit applied: Redis unreachable?"),
            Err(limited) => assert_eq!(limited.cause, Cause::Exceeded),
        }
    }
    println!("allowed={allowed}");
}

#[test]
fn two_replicas_share_one_budget() {
    let Some(bin) = redis_bin() else { return };
    let redis = Redis::start(&bin, free_port());
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 1500;
    let exe = std::env::current_exe().unwrap();
    let replicas: Vec<Child> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "replica_child",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("RL_REPLICA_URL", redis.url())
                .env("RL_START_AT_MS", start.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut counts = Vec::new();
    for r in replicas {
        let out = r.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "replica failed:\n{text}");
        let n: u32 = text
            .lines()
            .find_map(|l| l.split("allowed=").nth(1))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no count in:\n{text}"));
        counts.push(n);
    }
    // One budget: together exactly the burst (the rate adds one request per hour), however the
    // replicas interleaved; two budgets would have allowed twice as many.
    assert_eq!(
        counts.iter().sum::<u32>(),
        SHARED_BURST,
        "per replica: {counts:?}"
    );
}

#[tokio::test]
async fn shared_limit_is_exact_and_keys_are_opaque() {
    let Some(bin) = redis_bin() else { return };
    let redis = Redis::start(&bin, free_port());
    let rate = Rate::new(4, Period::Second, 5); // one request per 250 ms
    let hourly = Rate::new(1, Period::Hour, 1);
    let l = Limiter::new(&config(&redis.url(), rate, hourly, hourly)).unwrap();
    let k = keys(&l, "/mcp", "alice@example.com");
    for left in (0..5).rev() {
        let a = l.check(&k).await.unwrap().expect("limited by Redis");
        assert_eq!((a.spec.name.as_str(), a.remaining), ("group-mcp", left));
    }
    let refused = l.check(&k).await.unwrap_err();
    assert_eq!(refused.cause, Cause::Exceeded);
    assert!(
        refused.retry_after <= Duration::from_millis(250),
        "{refused:?}"
    );
    // One request per 250 ms refills: at least two after 600 ms, and no more than the time
    // that really passed (the machine may be slow) allows.
    let refused_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut allowed = 0u128;
    while l.check(&k).await.is_ok() {
        allowed += 1;
        assert!(allowed < 20, "never refused");
    }
    let most = refused_at.elapsed().as_millis() / 250 + 1;
    assert!(
        (2..=most).contains(&allowed),
        "allowed {allowed}, at most {most}"
    );

    // Bucket keys expire and never show who they count.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let names: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("mimir:rl:group-mcp:"), "{names:?}");
    assert!(!names[0].contains("alice"));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&names[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 1250,
        "ttl {ttl} ms: the time until the bucket is full again"
    );
}

#[tokio::test]
async fn shared_tool_limit_costs_one_per_call_all_or_nothing() {
    let Some(bin) = redis_bin() else { return };
    let redis = Redis::start(&bin, free_port());
    let hourly = Rate::new(1, Period::Hour, 1);
    let mut cfg = config(&redis.url(), hourly, hourly, hourly);
    cfg.mcp_tools
        .tools
        .insert("memory_node".into(), Rate::new(1, Period::Hour, 3));
    cfg.mcp_tools.default = Some(Rate::new(1, Period::Hour, 5));
    let l = Limiter::new(&cfg).unwrap();
    let call = |tools: &'static [&'static str]| LimitKeys {
        ip: IpAddr::from([192, 0, 2, 1]),
        user: Some("alice"),
        api_key: None,
        group: None,
        tools,
    };
    // Two calls of a tool in one batch cost two.
    let a = l
        .check(&call(&["memory_node", "todo", "memory_node"]))
        .await
        .unwrap()
        .expect("limited by Redis");
    assert_eq!((a.spec.name.as_str(), a.remaining), ("tool-memory_node", 1));
    // Two more do not fit in the one left: refused, and no bucket of the batch is charged.
    let refused = l
        .check(&call(&["todo", "memory_node", "memory_node"]))
        .await
        .unwrap_err();
    assert_eq!(refused.spec.name, "tool-memory_node");
    assert_eq!(refused.cause, Cause::Exceeded);
    // More calls than the burst never pass, and cost nothing.
    let over = l
        .check(&call(&[
            "memory_node",
            "memory_node",
            "memory_node",
            "memory_node",
        ]))
        .await
        .unwrap_err();
    assert_eq!(
        (over.spec.name.as_str(), over.cause),
        ("tool-memory_node", Cause::OverBurst)
    );
    let a = l.check(&call(&["memory_node"])).await.unwrap().unwrap();
    assert_eq!((a.spec.name.as_str(), a.remaining), ("tool-memory_node", 0));
    let a = l.check(&call(&["todo"])).await.unwrap().unwrap();
    assert_eq!((a.spec.name.as_str(), a.remaining), ("tool-default", 3));
}

#[tokio::test]
async fn redis_outage_applies_each_groups_fallback_then_recovers() {
    let Some(bin) = redis_bin() else { return };
    let port = free_port();
    let mut redis = Redis::start(&bin, port);
    let generous = Rate::new(1000, Period::Minute, 100);
    let api = Rate::new(1, Period::Hour, 3);
    let l = Limiter::new(&config(&redis.url(), generous, generous, api)).unwrap();
    let (auth, mcp, api_keys) = (
        keys(&l, "/auth/login", "u"),
        keys(&l, "/mcp", "u"),
        keys(&l, "/api/nodes", "u"),
    );
    assert!(l.check(&auth).await.unwrap().is_some());
    assert!(l.check(&mcp).await.unwrap().is_some());

    redis.kill();
    // auth (default): fail closed, 503 with a retry hint.
    let refused = l.check(&auth).await.unwrap_err();
    assert_eq!(refused.cause, Cause::Unavailable);
    assert_eq!(refused.spec.name, "group-auth");
    let (resp, _) = refused.response("rid").unwrap();
    assert_eq!(resp.status.as_u16(), 503);
    assert!(resp.headers.get("retry-after").is_some());
    // mcp (open): let through without a limit.
    for _ in 0..200 {
        assert_eq!(l.check(&mcp).await, Ok(None));
    }
    // api (local): this replica's own bucket, same rate.
    for _ in 0..3 {
        assert!(l.check(&api_keys).await.unwrap().is_some());
    }
    assert_eq!(l.check(&api_keys).await.unwrap_err().cause, Cause::Exceeded);

    // Redis is back (empty): after retry_ms the shared budget is used again.
    let _redis = Redis::start(&bin, port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match l.check(&auth).await {
            Ok(Some(a)) => {
                assert_eq!(a.spec.name, "group-auth");
                break;
            }
            Err(e) if e.cause == Cause::Unavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("after recovery: {other:?}"),
        }
    }
    // The shared API bucket starts fresh in the new Redis: three more.
    for _ in 0..3 {
        assert!(l.check(&api_keys).await.unwrap().is_some());
    }
    assert!(l.check(&api_keys).await.is_err());
}
