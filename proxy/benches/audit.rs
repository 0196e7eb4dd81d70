//! Audit file sink throughput with the hash chain: events recorded per second, from request-like
//! events to fsynced lines on disk. `cargo bench -p mimir-proxy --bench audit`.

use mimir_proxy::audit::config::{AuditConfig, Destination, Durability};
use mimir_proxy::audit::{rotate, Audit, AuditEvent, RequestInfo};
use mimir_proxy::request::mcp::{self, McpRequest};
use std::time::{Duration, Instant};

const PRODUCERS: usize = 4;

fn event(i: usize, roles: &[String], mcp: &McpRequest) -> AuditEvent {
    AuditEvent::request(&RequestInfo {
        method: "POST",
        path: "/mcp",
        status: 200,
        duration: Duration::from_micros(850),
        request_id: "0b6f7c2e-5d1a-4c1b-9a43-6f0e2d7c9b11",
        source_ip: Some([10, 1, 2, (i % 250) as u8].into()),
        user_agent: Some("mcp-client/1.4 (python-httpx)"),
        user_id: Some("alice@example.com"),
        roles,
        mcp: Some(mcp),
    })
}

fn run(mode: Durability, total: usize, concurrency: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = AuditConfig {
        enabled: true,
        mode,
        destinations: vec![Destination::File],
        ..AuditConfig::default()
    };
    cfg.file.path = dir.path().join("audit.log");
    let audit = Audit::start(&cfg).expect("start audit");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    runtime.block_on(async {
        let per_task = total / concurrency;
        let tasks: Vec<_> = (0..concurrency)
            .map(|t| {
                let audit = audit.clone();
                tokio::spawn(async move {
                    let roles = vec!["developer".to_string(), "analyst".to_string()];
                    let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"memory_node","arguments":{"operation":"get","id":"n1"}}}"#;
                    let call = mcp::parse(call, 4096, 1).expect("an MCP call");
                    for i in 0..per_task {
                        let e = event(t * per_task + i, &roles, &call);
                        let written = match mode {
                            Durability::Async => audit.record(e).await,
                            Durability::Strict => audit.record_durable(e).await,
                        };
                        written.expect("record");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("producer");
        }
        audit.shutdown().await.expect("shutdown");
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut files: Vec<_> = rotate::list_rotated(&cfg.file.path)
        .expect("list")
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    files.push(cfg.file.path.clone());
    let lines: usize = files
        .iter()
        .map(|f| {
            std::fs::read(f)
                .expect("read")
                .iter()
                .filter(|b| **b == b'\n')
                .count()
        })
        .sum();
    assert_eq!(lines, total, "every event written");
    total as f64 / elapsed
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (async_total, strict_total) = if quick {
        (20_000, 2_048)
    } else {
        (1_000_000, 102_400)
    };
    let async_rate = run(Durability::Async, async_total, PRODUCERS);
    println!("audit file sink, async mode, {PRODUCERS} producers: {async_total} events, {async_rate:.0} events/s");
    let strict_rate = run(Durability::Strict, strict_total, 256);
    println!("audit file sink, strict mode, 256 concurrent requests: {strict_total} events, {strict_rate:.0} events/s");
    println!(
        "strict/async throughput ratio: {:.3}",
        strict_rate / async_rate
    );
}
