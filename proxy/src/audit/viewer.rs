//! The read-only audit viewer at `/admin/audit` (main listener, after authentication and the
//! `audit:read` route rule): one self-contained HTML page (inline style and script, allowed by
//! their hashes in a strict Content-Security-Policy; nothing loaded from elsewhere) and the
//! JSON it reads, `/admin/audit/events`: the newest matching records and a time series of
//! requests and denials, read from the audit file and its rotated predecessors.

use http::Method;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::query::{self, Filter};
use super::rotate;
use crate::reply::Reply;

pub const PAGE_PATH: &str = "/admin/audit";
pub const EVENTS_PATH: &str = "/admin/audit/events";
/// Records returned when the request does not say.
const DEFAULT_LIMIT: usize = 200;
const MAX_LIMIT: usize = 1000;
/// Most bytes of audit files read for one answer, newest files first; older ones are left out
/// (the answer says `truncated`).
const MAX_SCAN_BYTES: u64 = 256 * 1024 * 1024;
/// Chart bucket widths (seconds); the smallest giving at most `MAX_BUCKETS` buckets is used.
const BUCKET_SECONDS: &[i64] = &[60, 300, 900, 3600, 6 * 3600, 86400];
const MAX_BUCKETS: i64 = 120;
/// Statuses counted as denials in the chart.
const DENIAL_STATUSES: &[u64] = &[401, 403, 429];

const MARKUP: &str = include_str!("viewer/page.html");
const STYLE: &str = include_str!("viewer/page.css");
const SCRIPT: &str = include_str!("viewer/page.js");

/// Whether the viewer answers `path`.
pub fn handles(path: &str) -> bool {
    path == PAGE_PATH
        || path
            .strip_prefix(PAGE_PATH)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Answers a viewer request. `file` is the active audit file (`None`: no file sink).
pub async fn serve(
    file: Option<PathBuf>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    request_id: &str,
) -> Reply {
    if method != Method::GET && method != Method::HEAD {
        return Reply::method_not_allowed("GET, HEAD", request_id);
    }
    match path {
        PAGE_PATH => page(),
        EVENTS_PATH => {
            let Some(file) = file else {
                return Reply::error(
                    404,
                    "not_found",
                    "the audit file sink is not enabled",
                    request_id,
                );
            };
            let params = match Params::parse(query.unwrap_or("")) {
                Ok(params) => params,
                Err(message) => return Reply::error(400, "bad_request", &message, request_id),
            };
            let read = tokio::task::spawn_blocking(move || events(&file, &params)).await;
            match read {
                Ok(Ok(body)) => Reply::json(200, body),
                Ok(Err(e)) => {
                    tracing::error!("audit viewer: {e:#}");
                    Reply::error(
                        500,
                        "internal_error",
                        "cannot read the audit log",
                        request_id,
                    )
                }
                Err(_) => Reply::error(
                    500,
                    "internal_error",
                    "cannot read the audit log",
                    request_id,
                ),
            }
        }
        _ => Reply::error(404, "not_found", "no such page", request_id),
    }
}

fn page() -> Reply {
    static PAGE: OnceLock<(String, String)> = OnceLock::new();
    let (html, csp) = PAGE.get_or_init(|| {
        let html = MARKUP
            .replace("/*STYLE*/", STYLE)
            .replace("/*SCRIPT*/", SCRIPT);
        let csp = format!(
            "default-src 'none'; script-src '{}'; style-src '{}'; connect-src 'self'; \
             img-src 'none'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
            source_hash(SCRIPT),
            source_hash(STYLE)
        );
        (html, csp)
    });
    Reply {
        status: 200,
        content_type: "text/html; charset=utf-8",
        headers: vec![
            ("content-security-policy", csp.clone()),
            ("referrer-policy", "no-referrer".into()),
            ("x-frame-options", "DENY".into()),
        ],
        body: bytes::Bytes::from(html.clone()),
    }
}

/// A CSP source expression allowing exactly this inline text.
fn source_hash(text: &str) -> String {
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

#[derive(Debug, Default)]
struct Params {
    filter: Filter,
    limit: usize,
}

impl Params {
    fn parse(query: &str) -> Result<Self, String> {
        let mut p = Params {
            limit: DEFAULT_LIMIT,
            ..Params::default()
        };
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if value.is_empty() {
                continue;
            }
            let value = value.into_owned();
            match name.as_ref() {
                "user" => p.filter.user = Some(value),
                "action" => p.filter.action = Some(value),
                "outcome" if value == "success" || value == "failure" => {
                    p.filter.outcome = Some(value)
                }
                "outcome" => return Err("outcome is success or failure".into()),
                "since" => p.filter.since = Some(query::parse_time(&value)?),
                "until" => p.filter.until = Some(query::parse_time(&value)?),
                "limit" => {
                    p.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| format!("limit is 1 to {MAX_LIMIT}"))?
                }
                other => return Err(format!("unknown parameter {other:?}")),
            }
        }
        Ok(p)
    }
}

/// The audit files to read, oldest first, newest kept within [`MAX_SCAN_BYTES`]; and whether
/// older files were left out.
fn files(active: &Path) -> std::io::Result<(Vec<PathBuf>, bool)> {
    let mut all: Vec<PathBuf> = rotate::list_rotated(active)?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    if active.exists() {
        all.push(active.to_owned());
    }
    let mut kept = Vec::new();
    let mut bytes = 0;
    let mut truncated = false;
    for path in all.into_iter().rev() {
        bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
        if bytes > MAX_SCAN_BYTES && !kept.is_empty() {
            truncated = true;
            break;
        }
        kept.push(path);
    }
    kept.reverse();
    Ok((kept, truncated))
}

/// The newest `limit` records matching the filter (newest first), how many matched, and the
/// requests and denials over time matching the user and time filters.
fn events(active: &Path, params: &Params) -> anyhow::Result<Value> {
    let (files, truncated) = files(active)?;
    let chart_filter = Filter {
        action: None,
        outcome: None,
        ..params.filter.clone()
    };
    let mut newest: VecDeque<Map<String, Value>> = VecDeque::with_capacity(params.limit);
    let mut matched = 0u64;
    // Unix minute → (requests, denials).
    let mut per_minute: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    query::scan(&files, |_, _, record| {
        // A line being appended while we read is not a record yet.
        let Some(record) = record else { return Ok(()) };
        if record.get("event.action").and_then(Value::as_str) == Some("http-request")
            && chart_filter.matches(&record)
        {
            if let Some(minute) = minute_of(&record) {
                let status = record
                    .get("http.response.status_code")
                    .and_then(Value::as_u64);
                let entry = per_minute.entry(minute).or_default();
                entry.0 += 1;
                if status.is_some_and(|s| DENIAL_STATUSES.contains(&s)) {
                    entry.1 += 1;
                }
            }
        }
        if params.filter.matches(&record) {
            matched += 1;
            if newest.len() == params.limit {
                newest.pop_front();
            }
            newest.push_back(record);
        }
        Ok(())
    })?;
    let records: Vec<Value> = newest.into_iter().rev().map(Value::Object).collect();
    Ok(json!({
        "records": records,
        "matched": matched,
        "truncated": truncated,
        "series": series(&per_minute),
    }))
}

fn minute_of(record: &Map<String, Value>) -> Option<i64> {
    let at = record.get("@timestamp")?.as_str()?;
    let at = OffsetDateTime::parse(at, &Rfc3339).ok()?;
    Some(at.unix_timestamp().div_euclid(60) * 60)
}

/// Per-minute counts regrouped into at most [`MAX_BUCKETS`] buckets of one width, empty ones
/// included so the chart's time axis is linear.
fn series(per_minute: &BTreeMap<i64, (u64, u64)>) -> Value {
    let (Some((&first, _)), Some((&last, _))) =
        (per_minute.first_key_value(), per_minute.last_key_value())
    else {
        return json!({"bucket_seconds": 60, "points": []});
    };
    let width = BUCKET_SECONDS
        .iter()
        .copied()
        .find(|w| (last - first) / w < MAX_BUCKETS)
        .unwrap_or(86400);
    let start = first.div_euclid(width) * width;
    let count = ((last - start) / width + 1) as usize;
    let mut points = vec![(0u64, 0u64); count];
    for (minute, (requests, denials)) in per_minute {
        let i = ((minute - start) / width) as usize;
        points[i].0 += requests;
        points[i].1 += denials;
    }
    let points: Vec<Value> = points
        .into_iter()
        .enumerate()
        .map(|(i, (requests, denials))| {
            let t = start + i as i64 * width;
            let at = OffsetDateTime::from_unix_timestamp(t)
                .ok()
                .and_then(|t| t.format(&Rfc3339).ok());
            json!({"t": at, "requests": requests, "denials": denials})
        })
        .collect();
    json!({"bucket_seconds": width, "points": points})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_parameters() {
        assert!(handles("/admin/audit"));
        assert!(handles("/admin/audit/events"));
        assert!(!handles("/admin/auditx"));
        let p =
            Params::parse("user=alice&outcome=failure&since=2025-01-01T00:00:00Z&limit=5").unwrap();
        assert_eq!(p.filter.user.as_deref(), Some("alice"));
        assert_eq!(p.limit, 5);
        assert!(Params::parse("limit=0").is_err());
        assert!(Params::parse("outcome=maybe").is_err());
        assert!(Params::parse("since=yesterday").is_err());
        assert!(Params::parse("bogus=1").is_err());
        assert_eq!(Params::parse("user=").unwrap().filter.user, None);
    }

    #[test]
    fn series_fills_gaps_and_widens_buckets() {
        let mut m = BTreeMap::new();
        m.insert(0, (3, 1));
        m.insert(180, (2, 0));
        let s = series(&m);
        assert_eq!(s["bucket_seconds"], 60);
        assert_eq!(s["points"].as_array().unwrap().len(), 4);
        assert_eq!(s["points"][0]["denials"], 1);
        m.insert(86400 * 2, (1, 1));
        let s = series(&m);
        assert_eq!(s["bucket_seconds"], 3600);
        assert_eq!(s["points"][0]["requests"], 5);
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_code() {
        let reply = page();
        let csp = &reply.headers[0].1;
        assert!(csp.starts_with("default-src 'none'"));
        assert!(csp.contains(&source_hash(SCRIPT)));
        let html = String::from_utf8(reply.body.to_vec()).unwrap();
        assert!(html.contains(SCRIPT) && html.contains(STYLE));
        assert!(
            !html.contains("src=") && !html.contains("href="),
            "nothing loaded"
        );
    }
}
