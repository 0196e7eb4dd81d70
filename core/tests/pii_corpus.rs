//! The PII detector against a corpus of true and false positives, and what each mode does to
//! a written node.

use mimir_core::governance::pii::{self, PiiMode};
use mimir_core::governance::view::{Classification, GovernedStore};
use mimir_core::governance::{Sensitivity, SensitivityDefaults};
use mimir_core::store::embedded::EmbeddedStore;
use mimir_core::store::{GraphStore, NewNode, WriteOp, WriteResult};
use serde_json::{json, Value};
use std::sync::Arc;

/// Texts and the kinds they hold (none: a false positive to avoid).
const CORPUS: &[(&str, &[&str])] = &[
    ("write to jane.doe+news@example.co.uk today", &["email"]),
    ("ops@mail.internal.example.com", &["email"]),
    ("call +49 30 1234 5678 after lunch", &["phone"]),
    ("US office: (415) 555-0132", &["phone"]),
    ("fax 212-555-0187", &["phone"]),
    ("card 4111 1111 1111 1111 exp 12/29", &["credit_card"]),
    ("amex 378282246310005", &["credit_card"]),
    ("pay to DE89 3704 0044 0532 0130 00", &["iban"]),
    ("GB82WEST12345698765432", &["iban"]),
    ("ssn 123-45-6789 on file", &["us_ssn"]),
    ("server at 192.168.10.42 is down", &["ip_address"]),
    ("ipv6 2001:db8:85a3::8a2e:370:7334 seen", &["ip_address"]),
    ("key AKIAIOSFODNN7EXAMPLE leaked", &["secret"]),
    (
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        &["secret"],
    ),
    ("api_key = 'x7Gq2LmP9vRt4WzK'", &["secret"]),
    ("-----BEGIN PRIVATE KEY----- MIIEvQ", &["secret"]),
    (
        "mail bob@example.org from 10.0.0.1",
        &["email", "ip_address"],
    ),
    // False positives: ordinary numbers, dates, versions, code and prose.
    ("order 4111 1111 1111 1112 shipped", &[]),
    ("invoice 1234567890123", &[]),
    ("meeting on 2024-01-15 at 12:30:45", &[]),
    ("see RFC 2616 section 14.9", &[]),
    ("use std::net::IpAddr and Vec::new()", &[]),
    ("version 1.2.3 released", &[]),
    ("DE89 3704 0044 0532 0130 01 has a bad check", &[]),
    ("ssn-like 000-12-3456 and 666-12-3456", &[]),
    ("address 999.1.1.1 is not an IP", &[]),
    ("the password policy needs 12 chars", &[]),
    ("@mention someone in the chat", &[]),
    ("temperature is 21.5 degrees, 3 of 4", &[]),
];

#[test]
fn corpus() {
    let mut failures = Vec::new();
    for (text, expected) in CORPUS {
        let mut found: Vec<&str> = pii::scan(text).iter().map(|(_, k)| k.as_str()).collect();
        found.sort();
        found.dedup();
        let mut expected = expected.to_vec();
        expected.sort();
        if found != expected {
            failures.push(format!("{text:?}: found {found:?}, expected {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn masking_replaces_only_the_values() {
    assert_eq!(
        pii::mask("mail bob@example.org or call 212-555-0187."),
        "mail [redacted:email] or call [redacted:phone]."
    );
    assert_eq!(
        pii::mask("api_key=x7Gq2LmP9vRt4WzK"),
        "api_key=[redacted:secret]"
    );
}

async fn write(mode: PiiMode, properties: Value) -> (mimir_core::store::Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = Arc::new(EmbeddedStore::open(&dir.path().join("s.sqlite3")).expect("open"));
    let rules = Arc::new(Classification {
        defaults: SensitivityDefaults::parse("person=confidential").expect("defaults"),
        pii_mode: mode,
    });
    let view = GovernedStore::new(inner, rules, Sensitivity::Restricted);
    let new = NewNode {
        id: Some("n".into()),
        node_type: "memory".into(),
        properties: properties.as_object().cloned().expect("object"),
    };
    match view
        .apply(vec![WriteOp::AddNode(new)], Some("w"))
        .await
        .expect("write")
        .pop()
    {
        Some(WriteResult::Node(node)) => (node, dir),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn modes() {
    let text = json!({"note": "reach me at jane@example.com", "tags": ["ssn 123-45-6789"]});
    let (tagged, _d) = write(PiiMode::Tag, text.clone()).await;
    assert_eq!(tagged.pii, ["email", "us_ssn"]);
    assert_eq!(tagged.sensitivity, Some(Sensitivity::Internal));
    assert_eq!(tagged.properties["note"], "reach me at jane@example.com");

    let (raised, _d) = write(PiiMode::Raise, text.clone()).await;
    assert_eq!(raised.sensitivity, Some(Sensitivity::Confidential));
    let (kept, _d) = write(
        PiiMode::Raise,
        json!({"note": "x", "sensitivity": "restricted"}),
    )
    .await;
    assert_eq!(
        kept.sensitivity,
        Some(Sensitivity::Restricted),
        "raise never lowers"
    );
    assert!(kept.pii.is_empty());

    let (masked, _d) = write(PiiMode::Mask, text).await;
    assert_eq!(masked.properties["note"], "reach me at [redacted:email]");
    assert_eq!(masked.properties["tags"], json!(["ssn [redacted:us_ssn]"]));
    assert_eq!(masked.pii, ["email", "us_ssn"]);
}

#[tokio::test]
async fn updates_are_scanned_and_a_clean_node_loses_its_tags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = Arc::new(EmbeddedStore::open(&dir.path().join("s.sqlite3")).expect("open"));
    let view = GovernedStore::new(
        inner.clone(),
        Arc::new(Classification::default()),
        Sensitivity::Restricted,
    );
    let add = WriteOp::AddNode(NewNode {
        id: Some("n".into()),
        node_type: "memory".into(),
        ..NewNode::default()
    });
    let update = |note: &str| WriteOp::UpdateNode {
        id: "n".into(),
        properties: json!({"note": note}).as_object().cloned().expect("object"),
    };
    view.apply(vec![add, update("ip 10.1.2.3")], None)
        .await
        .expect("batch");
    let stored = inner.get_node("n").await.expect("get").expect("node");
    assert_eq!(
        stored.properties["pii"],
        json!(["ip_address"]),
        "a batch's own update is scanned"
    );
    view.apply(vec![update("nothing personal")], None)
        .await
        .expect("update");
    let node = view.get_node("n").await.expect("get").expect("node");
    assert!(node.pii.is_empty(), "{node:?}");
    assert_eq!(node.sensitivity, Some(Sensitivity::Internal));
}
