//! Rate-limit response fields (IETF draft-ietf-httpapi-ratelimit-headers, structured-field
//! form) and the refusal response.
//!
//! - `RateLimit-Policy: "group-api";q=100;w=60` — the limit: `q` requests per `w` seconds
//!   (GCRA also allows a burst of `burst` at once; the draft has no parameter for it).
//! - `RateLimit: "group-api";r=19;t=12` — `r` requests left right now, full again in `t` s.
//! - `Retry-After` (seconds) on 429 and 503, except for a request larger than the burst, which
//!   waiting never lets through.

use super::config::Rate;
use super::{Allowance, Cause, LimitSpec, Limited};
use crate::reply::errors::json_error;
use bytes::Bytes;
use http::HeaderValue;
use pingora::http::ResponseHeader;
use pingora::{ErrorType::InvalidHTTPHeader, OrErr};
use std::time::Duration;

/// Whole seconds, rounded up: a client told "0" would retry at once and be refused again.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `RateLimit-Policy` value. Limit names are `[A-Za-z0-9_.-]` (checked with the configuration), so
/// they need no escaping inside the quoted string.
pub fn policy_value(name: &str, rate: &Rate) -> String {
    format!("\"{name}\";q={};w={}", rate.requests, rate.per.seconds())
}

pub fn ratelimit_value(spec: &LimitSpec, remaining: u32, reset: Duration) -> String {
    format!("\"{}\";r={};t={}", spec.name, remaining, ceil_secs(reset))
}

impl Allowance {
    /// Fields to add to the response of an allowed request.
    pub fn headers(&self) -> pingora::Result<[(&'static str, HeaderValue); 2]> {
        let ratelimit = ratelimit_value(&self.spec, self.remaining, self.reset);
        Ok([
            ("ratelimit-policy", self.spec.policy().clone()),
            (
                "ratelimit",
                HeaderValue::try_from(ratelimit)
                    .explain_err(InvalidHTTPHeader, |_| "rate-limit field")?,
            ),
        ])
    }
}

impl Limited {
    pub fn status(&self) -> u16 {
        match self.cause {
            Cause::Exceeded | Cause::OverBurst => 429,
            Cause::Unavailable => 503,
        }
    }

    /// `Retry-After` in seconds, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        ceil_secs(self.retry_after).max(1)
    }

    /// The complete refusal: the proxy's JSON error body, `Retry-After` and, for 429, the
    /// rate-limit fields. The gateway stamps HSTS and the request id as on every response.
    pub fn response(&self, request_id: &str) -> pingora::Result<(ResponseHeader, Bytes)> {
        let message = match self.cause {
            Cause::Exceeded => format!(
                "rate limit {} exceeded; retry in {} s",
                self.spec.name,
                self.retry_after_secs()
            ),
            Cause::OverBurst => format!(
                "rate limit {} allows at most {} calls at once; split the batch",
                self.spec.name, self.spec.rate.burst
            ),
            Cause::Unavailable => "the rate-limit service is unavailable; retry later".into(),
        };
        let (mut resp, body) = json_error(self.status(), &message, request_id)?;
        if self.cause == Cause::OverBurst {
            resp.insert_header("ratelimit-policy", self.spec.policy().clone())?;
            return Ok((resp, body));
        }
        resp.insert_header("retry-after", self.retry_after_secs())?;
        if self.cause == Cause::Exceeded {
            resp.insert_header("ratelimit-policy", self.spec.policy().clone())?;
            resp.insert_header(
                "ratelimit",
                ratelimit_value(&self.spec, 0, self.retry_after),
            )?;
        }
        Ok((resp, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::config::{OnError, Period, Rate};
    use std::sync::Arc;

    fn spec() -> Arc<LimitSpec> {
        Arc::new(
            LimitSpec::new(
                "group-api".into(),
                Rate::new(100, Period::Minute, 20),
                OnError::Local,
            )
            .unwrap(),
        )
    }

    #[test]
    fn allowed_fields() {
        let a = Allowance {
            spec: spec(),
            remaining: 19,
            reset: Duration::from_millis(600),
        };
        assert_eq!(
            a.headers().unwrap(),
            [
                (
                    "ratelimit-policy",
                    HeaderValue::from_static("\"group-api\";q=100;w=60")
                ),
                (
                    "ratelimit",
                    HeaderValue::from_static("\"group-api\";r=19;t=1")
                )
            ]
        );
    }

    #[test]
    fn refusal() {
        let l = Limited {
            spec: spec(),
            retry_after: Duration::from_millis(1200),
            cause: Cause::Exceeded,
        };
        let (resp, body) = l.response("rid").unwrap();
        assert_eq!(resp.status.as_u16(), 429);
        let h = |n| resp.headers.get(n).unwrap().to_str().unwrap().to_owned();
        assert_eq!(h("retry-after"), "2");
        assert_eq!(h("ratelimit"), "\"group-api\";r=0;t=2");
        assert_eq!(h("content-type"), "application/json");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["request_id"], "rid");
        assert!(v["message"].as_str().unwrap().contains("group-api"));

        let down = Limited {
            retry_after: Duration::ZERO,
            cause: Cause::Unavailable,
            ..l
        };
        let (resp, _) = down.response("rid").unwrap();
        assert_eq!(resp.status.as_u16(), 503);
        assert_eq!(resp.headers.get("retry-after").unwrap(), "1");
        assert!(resp.headers.get("ratelimit").is_none());

        let too_big = Limited {
            cause: Cause::OverBurst,
            ..down
        };
        let (resp, body) = too_big.response("rid").unwrap();
        assert_eq!(resp.status.as_u16(), 429);
        assert!(resp.headers.get("retry-after").is_none());
        assert_eq!(
            resp.headers.get("ratelimit-policy").unwrap(),
            "\"group-api\";q=100;w=60"
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["message"]
            .as_str()
            .unwrap()
            .contains("allows at most 20 calls at once"));
    }
}
