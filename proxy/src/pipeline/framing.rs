//! Request framing and size limits, checked before anything is forwarded.
//!
//! pingora already rejects unparseable headers, obs-fold, conflicting `Content-Length` values and
//! a non-chunked final `Transfer-Encoding`. It tolerates, per RFC 9112, a few ambiguous framings
//! that front-end/back-end disagreement turns into request smuggling; a security proxy has no
//! client that needs them, so they are refused here (and the connection is closed).

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use pingora::http::RequestHeader;

use crate::config::LimitConfig;
use crate::reply::errors::Reject;

/// Framing of an HTTP/1 request. `raw_header` is the header block as received: pingora drops
/// `Content-Length` from the parsed header when `Transfer-Encoding` is present too.
pub fn check_h1_framing(req: &RequestHeader, raw_header: &[u8]) -> Result<(), Reject> {
    let raw_content_lengths = raw_header
        .split(|b| *b == b'\n')
        .skip(1) // request line
        .filter(|line| {
            line.len() > CONTENT_LENGTH.as_str().len()
                && line[..CONTENT_LENGTH.as_str().len()]
                    .eq_ignore_ascii_case(CONTENT_LENGTH.as_str().as_bytes())
                && line[CONTENT_LENGTH.as_str().len()] == b':'
        })
        .count();
    let has_te = req.headers.contains_key(TRANSFER_ENCODING);
    if has_te && raw_content_lengths > 0 {
        return Err(Reject::bad_request(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    if raw_content_lengths > 1
        || req
            .headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes().contains(&b','))
    {
        return Err(Reject::bad_request("duplicate Content-Length"));
    }
    if has_te {
        let mut values = req.headers.get_all(TRANSFER_ENCODING).iter();
        let only_chunked = matches!(
            (values.next(), values.next()),
            (Some(v), None) if v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked")
        );
        if !only_chunked {
            return Err(Reject::bad_request(
                "Transfer-Encoding other than a single \"chunked\"",
            ));
        }
    }
    Ok(())
}

/// Size limits on the request line, the header fields and a declared body.
pub fn check_limits(req: &RequestHeader, limits: &LimitConfig) -> Result<(), Reject> {
    if req.raw_path().len() > limits.max_uri_bytes {
        return Err(Reject::new(414, "request URI too long"));
    }
    // The whole header block as on the HTTP/1 wire (request line, `name: value\r\n` lines,
    // blank line), computed the same way for HTTP/2.
    let request_line = req.method.as_str().len() + 1 + req.raw_path().len() + " HTTP/1.1\r\n".len();
    let fields: usize = req
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let header_bytes = request_line + fields + 2;
    if header_bytes > limits.max_header_bytes {
        return Err(Reject::new(431, "request headers too large"));
    }
    if let Some(length) = req.headers.get(CONTENT_LENGTH) {
        // pingora has already rejected unparseable values; fail closed anyway.
        let length: u64 = std::str::from_utf8(length.as_bytes())
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or(Reject::bad_request("invalid Content-Length"))?;
        if length > limits.max_body_bytes {
            return Err(Reject::new(413, "request body too large"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(headers: &[(&str, &str)]) -> (RequestHeader, Vec<u8>) {
        let mut req = RequestHeader::build("POST", b"/x", None).unwrap();
        let mut raw = b"POST /x HTTP/1.1\r\n".to_vec();
        for (name, value) in headers {
            req.append_header(name.to_string(), *value).unwrap();
            raw.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        (req, raw)
    }

    #[test]
    fn framing() {
        let ok = [
            vec![("Content-Length", "3")],
            vec![("Transfer-Encoding", "chunked")],
            vec![("Transfer-Encoding", " Chunked ")],
            vec![],
        ];
        for headers in ok {
            let (req, raw) = parsed(&headers);
            assert!(check_h1_framing(&req, &raw).is_ok(), "{headers:?}");
        }
        let bad = [
            vec![("Content-Length", "3"), ("Content-Length", "3")],
            vec![("Content-Length", "3,3")],
            vec![("Transfer-Encoding", "gzip, chunked")],
            vec![
                ("Transfer-Encoding", "chunked"),
                ("Transfer-Encoding", "chunked"),
            ],
        ];
        for headers in bad {
            let (req, raw) = parsed(&headers);
            assert_eq!(
                check_h1_framing(&req, &raw).unwrap_err().status,
                400,
                "{headers:?}"
            );
        }
        // pingora removes Content-Length from the parsed header when both are sent.
        let (req, _) = parsed(&[("Transfer-Encoding", "chunked")]);
        let raw = b"POST /x HTTP/1.1\r\ncontent-length: 3\r\nTransfer-Encoding: chunked\r\n";
        assert_eq!(check_h1_framing(&req, raw).unwrap_err().status, 400);
    }

    #[test]
    fn limits() {
        let limits = LimitConfig {
            max_uri_bytes: 10,
            max_header_bytes: 60,
            max_body_bytes: 5,
            ..LimitConfig::default()
        };
        let (req, _) = parsed(&[("Content-Length", "5")]);
        assert!(check_limits(&req, &limits).is_ok());
        let (req, _) = parsed(&[("Content-Length", "6")]);
        assert_eq!(check_limits(&req, &limits).unwrap_err().status, 413);
        let (req, _) = parsed(&[("X-Big", &"a".repeat(40))]);
        assert_eq!(check_limits(&req, &limits).unwrap_err().status, 431);
        let req = RequestHeader::build("GET", b"/0123456789", None).unwrap();
        assert_eq!(check_limits(&req, &limits).unwrap_err().status, 414);
    }
}
