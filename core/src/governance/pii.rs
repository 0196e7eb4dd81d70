//! Detection of personal data and secrets in node properties at write time. Candidates are
//! found with regular expressions and confirmed by checksums or parsers where the kind has one
//! (Luhn for cards, mod-97 for IBANs, address parsing for IPs), so that ordinary numbers are
//! not flagged. Detected values are never logged.

use crate::store::Properties;
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PiiKind {
    Secret,
    Email,
    Iban,
    CreditCard,
    UsSsn,
    IpAddress,
    Phone,
}

impl PiiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Secret => "secret",
            PiiKind::Email => "email",
            PiiKind::Iban => "iban",
            PiiKind::CreditCard => "credit_card",
            PiiKind::UsSsn => "us_ssn",
            PiiKind::IpAddress => "ip_address",
            PiiKind::Phone => "phone",
        }
    }
}

/// What a write does with detected personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PiiMode {
    /// Lists the kinds found in the node's `pii` property.
    #[default]
    Tag,
    /// Tags, and raises the node's sensitivity to at least `confidential`.
    Raise,
    /// Tags, and replaces each detected value with `[redacted:<kind>]`.
    Mask,
}

struct Detector {
    kind: PiiKind,
    pattern: Regex,
    /// Capture group holding the value (0: the whole match).
    group: usize,
    confirm: fn(&str) -> bool,
}

fn always(_: &str) -> bool {
    true
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

fn luhn_card(text: &str) -> bool {
    let digits = digits(text);
    (13..=19).contains(&digits.len()) && luhn::valid(&digits)
}

fn iban(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    compact.parse::<iban::Iban>().is_ok()
}

/// SSA rules: no area 000, 666 or 9xx, no group 00, no serial 0000.
fn us_ssn(text: &str) -> bool {
    let digits = digits(text);
    let (area, rest) = digits.split_at(3);
    let (group, serial) = rest.split_at(2);
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// IPv6 needs three written groups, so `::`, `a::` and the like in code are not addresses.
fn ip(text: &str) -> bool {
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => true,
        Ok(IpAddr::V6(_)) => text.split(':').filter(|g| !g.is_empty()).count() >= 3,
        Err(_) => false,
    }
}

fn phone(text: &str) -> bool {
    (7..=15).contains(&digits(text).len())
}

/// In priority order: a span claimed by an earlier detector is not examined by later ones
/// (a card number is not also a phone number).
static DETECTORS: LazyLock<Vec<Detector>> = LazyLock::new(|| {
    let detector = |kind, pattern: &str, group, confirm| Detector {
        kind,
        pattern: Regex::new(pattern).expect("PII patterns are valid"),
        group,
        confirm,
    };
    vec![
        detector(
            PiiKind::Secret,
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bsk-[A-Za-z0-9_-]{20,}|\bxox[abprs]-[A-Za-z0-9-]{10,}|\bAIza[0-9A-Za-z_-]{35}\b|\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            0,
            always,
        ),
        detector(
            PiiKind::Secret,
            r#"(?i)\b(?:api[_-]?key|secret|token|passw(?:or)?d|access[_-]?key)\b["']?\s*[:=]\s*["']?([^\s"',;]{8,})"#,
            1,
            always,
        ),
        detector(
            PiiKind::Email,
            r"(?i)\b[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b",
            0,
            always,
        ),
        detector(
            PiiKind::Iban,
            r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
            0,
            iban,
        ),
        detector(
            PiiKind::CreditCard,
            // Printed groupings only (4-4-4-4[-3], Amex 4-6-5) or one run of digits, so that
            // digit runs of other identifiers are not read as cards.
            r"\b(?:[0-9]{4}[ -][0-9]{4}[ -][0-9]{4}[ -][0-9]{4}(?:[ -][0-9]{3})?|[0-9]{4}[ -][0-9]{6}[ -][0-9]{5}|[0-9]{13,19})\b",
            0,
            luhn_card,
        ),
        detector(PiiKind::UsSsn, r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b", 0, us_ssn),
        detector(
            PiiKind::IpAddress,
            r"(?i)\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b|(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}",
            0,
            ip,
        ),
        detector(
            PiiKind::Phone,
            r"\+[0-9]{1,3}[ .-]?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{1,4}(?:[ .-]?[0-9]{2,4}){1,4}\b|\([0-9]{3}\) ?[0-9]{3}[ .-][0-9]{4}\b|\b[0-9]{3}[.-][0-9]{3}[.-][0-9]{4}\b",
            0,
            phone,
        ),
    ]
});

/// The detected values of `text`: byte ranges and kinds, sorted, not overlapping.
pub fn scan(text: &str) -> Vec<(std::ops::Range<usize>, PiiKind)> {
    let mut found: Vec<(std::ops::Range<usize>, PiiKind)> = Vec::new();
    for detector in DETECTORS.iter() {
        for captures in detector.pattern.captures_iter(text) {
            let Some(m) = captures.get(detector.group) else {
                continue;
            };
            let range = m.range();
            let claimed = found
                .iter()
                .any(|(r, _)| r.start < range.end && range.start < r.end);
            if !claimed && (detector.confirm)(m.as_str()) {
                found.push((range, detector.kind));
            }
        }
    }
    found.sort_by_key(|(range, _)| range.start);
    found
}

/// `text` with every detected value replaced by `[redacted:<kind>]`.
pub fn mask(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut last = 0;
    for (range, kind) in scan(text) {
        masked.push_str(&text[last..range.start]);
        masked.push_str(&format!("[redacted:{}]", kind.as_str()));
        last = range.end;
    }
    masked.push_str(&text[last..]);
    masked
}

/// The kinds found in the string values (also inside arrays) of `properties`, skipping
/// `skip` keys; in `mask` mode the values are masked in place.
pub fn inspect(properties: &mut Properties, skip: &[&str], masking: bool) -> BTreeSet<PiiKind> {
    let mut kinds = BTreeSet::new();
    for (key, value) in properties.iter_mut() {
        if !skip.contains(&key.as_str()) {
            inspect_value(value, masking, &mut kinds);
        }
    }
    kinds
}

fn inspect_value(value: &mut Value, masking: bool, kinds: &mut BTreeSet<PiiKind>) {
    match value {
        Value::String(text) => {
            let found = scan(text);
            if !found.is_empty() {
                kinds.extend(found.iter().map(|(_, kind)| *kind));
                if masking {
                    *text = mask(text);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| inspect_value(item, masking, kinds)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|item| inspect_value(item, masking, kinds)),
        _ => {}
    }
}
