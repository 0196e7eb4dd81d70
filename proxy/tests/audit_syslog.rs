//! The syslog sink: the real proxy sends each audit record as an RFC 5424 message to a UDP
//! listener of the test, the same line as in the file; over TCP the messages are framed with
//! CRLF (RFC 6587) and failures get the warning severity.

#[allow(dead_code)]
mod support;

use mimir_proxy::audit::config::{AuditConfig, Destination};
use mimir_proxy::audit::{Audit, AuditEvent};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;
use support::{Options, Proxy, Upstream};

/// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG` → (PRI, APP-NAME, MSGID, SD, MSG).
fn parse_5424(message: &str) -> (u8, String, String, String, String) {
    let (pri, rest) = message
        .strip_prefix('<')
        .and_then(|m| m.split_once('>'))
        .unwrap_or_else(|| panic!("no PRI: {message}"));
    let mut fields = rest.splitn(8, ' ');
    let version = fields.next().unwrap();
    assert_eq!(version, "1", "{message}");
    let timestamp = fields.next().unwrap();
    assert!(timestamp.contains('T'), "{message}");
    let _host = fields.next().unwrap();
    let app = fields.next().unwrap().to_owned();
    let _procid = fields.next().unwrap();
    let msgid = fields.next().unwrap().to_owned();
    let sd = fields.next().unwrap().to_owned();
    let msg = fields.next().unwrap().to_owned();
    (pri.parse().unwrap(), app, msgid, sd, msg)
}

#[tokio::test]
async fn the_proxy_sends_every_record_to_syslog_over_udp() {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let upstream = Upstream::start().await;
    let state = tempfile::tempdir().unwrap();
    let log = state.path().join("audit.log");
    let mut opts = Options::new(&upstream);
    opts.extra_toml = format!(
        "{}\n[audit]\nenabled = true\ndestinations = [\"file\", \"syslog\"]\n\
         [audit.file]\npath = \"{}\"\n\
         [audit.syslog]\naddress = \"udp://{}\"\nfacility = \"local3\"\n",
        support::AUTH_DISABLED,
        log.display(),
        receiver.local_addr().unwrap()
    );
    let mut proxy = Proxy::start(opts).await;
    let client = proxy.client();
    assert_eq!(
        client
            .get(proxy.url("/api/nodes/1"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    proxy.signal("TERM");
    assert!(proxy.wait_exit(Duration::from_secs(20)).is_some());

    let file = std::fs::read_to_string(&log).unwrap();
    let mut buf = vec![0u8; 65536];
    for line in file.lines() {
        let n = receiver.recv(&mut buf).expect("a datagram per record");
        let message = String::from_utf8(buf[..n].to_vec()).unwrap();
        let (pri, app, msgid, sd, msg) = parse_5424(&message);
        // local3 (19) * 8 + notice (5).
        assert_eq!(pri, 19 * 8 + 5, "{message}");
        assert_eq!(
            (app.as_str(), msgid.as_str(), sd.as_str()),
            ("mimir-proxy", "audit", "-")
        );
        assert_eq!(msg, line, "the same chained line as in the file");
    }
    assert!(file.contains("\"http-request\""));
}

#[tokio::test]
async fn tcp_messages_are_framed_and_failures_are_warnings() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = AuditConfig {
        enabled: true,
        destinations: vec![Destination::File, Destination::Syslog],
        ..AuditConfig::default()
    };
    cfg.file.path = dir.path().join("audit.log");
    cfg.syslog.address = format!("tcp://{}", listener.local_addr().unwrap());
    let audit = Audit::start(&cfg).unwrap();
    audit
        .record(AuditEvent::login("alice", &[], "password"))
        .await
        .unwrap();
    audit
        .record(AuditEvent::login_failed(
            Some("mallory"),
            "password",
            "bad credentials",
        ))
        .await
        .unwrap();
    audit.shutdown().await.unwrap();

    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut pris = Vec::new();
    for _ in 0..2 {
        let mut frame = String::new();
        reader.read_line(&mut frame).unwrap();
        assert!(frame.ends_with("\r\n"), "{frame:?}");
        let (pri, _, _, _, msg) = parse_5424(frame.trim_end());
        assert!(serde_json::from_str::<serde_json::Value>(&msg).is_ok());
        pris.push(pri);
    }
    // authpriv (10) * 8 + notice (5), then + warning (4).
    assert_eq!(pris, [85, 84]);
}
