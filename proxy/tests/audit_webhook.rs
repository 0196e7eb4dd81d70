//! Webhook delivery against a real HTTP receiver (axum on loopback): while the receiver is down
//! records wait in the spool; when it comes up every record arrives exactly once, in order, in
//! upstream Mimir's `{"events":[…]}` envelope, with the configured Authorization header.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use flate2::read::GzDecoder;
use mimir_proxy::audit::config::{AuditConfig, Destination};
use mimir_proxy::audit::{Audit, AuditEvent};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Received {
    seqs: Arc<Mutex<Vec<u64>>>,
    batches: Arc<Mutex<usize>>,
}

async fn receive(State(r): State<Received>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer hook-token") {
        return StatusCode::UNAUTHORIZED;
    }
    let body = if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        let mut plain = Vec::new();
        GzDecoder::new(&body[..]).read_to_end(&mut plain).unwrap();
        plain
    } else {
        body.to_vec()
    };
    let envelope: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let events = envelope["events"].as_array().unwrap();
    r.seqs
        .lock()
        .unwrap()
        .extend(events.iter().map(|e| e["seq"].as_u64().unwrap()));
    *r.batches.lock().unwrap() += 1;
    StatusCode::OK
}

/// A loopback address nothing listens on (yet).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn serve(addr: SocketAddr, received: Received) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let app = Router::new()
        .route("/audit", post(receive))
        .with_state(received);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    })
}

fn config(dir: &std::path::Path, addr: SocketAddr, gzip: bool) -> AuditConfig {
    let mut cfg = AuditConfig {
        enabled: true,
        destinations: vec![Destination::File, Destination::Webhook],
        ..AuditConfig::default()
    };
    cfg.file.path = dir.join("audit.log");
    cfg.webhook.url = format!("http://{addr}/audit");
    cfg.webhook.auth_header = Some("Bearer hook-token".into());
    cfg.webhook.batch_size = 25;
    cfg.webhook.batch_interval_ms = 100;
    cfg.webhook.max_backoff_ms = 200;
    cfg.webhook.gzip = gzip;
    cfg.webhook.spool_dir = dir.join("spool");
    cfg
}

async fn wait_for(received: &Received, n: usize) {
    for _ in 0..200 {
        if received.seqs.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_then_up_gets_everything_once_in_order() {
    for gzip in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let addr = free_addr();
        let audit = Audit::start(&config(dir.path(), addr, gzip)).unwrap();
        for i in 0..60 {
            audit
                .record(AuditEvent::logout(&format!("u{i}")))
                .await
                .unwrap();
        }
        // Several failed attempts while nothing listens.
        tokio::time::sleep(Duration::from_millis(600)).await;
        for i in 60..110 {
            audit
                .record(AuditEvent::logout(&format!("u{i}")))
                .await
                .unwrap();
        }
        let received = Received::default();
        let server = serve(addr, received.clone()).await;
        wait_for(&received, 110).await;
        audit.shutdown().await.unwrap();
        let seqs = received.seqs.lock().unwrap().clone();
        assert_eq!(seqs, (1..=110).collect::<Vec<u64>>(), "gzip={gzip}");
        assert!(*received.batches.lock().unwrap() >= 110 / 25);
        server.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_records_are_delivered_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let cfg = config(dir.path(), addr, false);
    let audit = Audit::start(&cfg).unwrap();
    for i in 0..40 {
        audit
            .record(AuditEvent::logout(&format!("u{i}")))
            .await
            .unwrap();
    }
    audit.shutdown().await.unwrap();

    let received = Received::default();
    let server = serve(addr, received.clone()).await;
    let audit = Audit::start(&cfg).unwrap();
    for i in 40..50 {
        audit
            .record(AuditEvent::logout(&format!("u{i}")))
            .await
            .unwrap();
    }
    wait_for(&received, 50).await;
    audit.shutdown().await.unwrap();
    assert_eq!(
        received.seqs.lock().unwrap().clone(),
        (1..=50).collect::<Vec<u64>>()
    );
    server.abort();
}
