//! Slow clients (slowloris): the whole HTTP/1 request head must arrive within
//! `limits.client_header_timeout_seconds` of the connection becoming ready for a request.
//! pingora bounds each read, not the head, so a client trickling one byte at a time would never
//! trip it. The head is read here within one deadline and handed to pingora's parser as the
//! start of the request (`set_pipelined_prefix`); pingora parses it without reading again.

use bytes::BytesMut;
use pingora::protocols::Stream;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Why no request head was read; the caller closes the connection without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoHead {
    /// The client closed or failed, or sent nothing before the deadline (an idle keep-alive
    /// connection ends this way).
    Ended,
    /// The deadline passed with a head begun: a slow client.
    TooSlow,
    /// More than `max_bytes` arrived without the head ending.
    TooLarge,
}

/// Reads until the end of the request head.
pub async fn read(
    stream: &mut Stream,
    deadline: Duration,
    max_bytes: usize,
) -> Result<BytesMut, NoHead> {
    let mut buf = BytesMut::with_capacity(4096);
    let reading = async {
        let mut scanned = 0;
        loop {
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return Err(NoHead::Ended),
                Ok(_) => {}
            }
            if head_complete(&buf, scanned) {
                return Ok(());
            }
            if buf.len() > max_bytes {
                return Err(NoHead::TooLarge);
            }
            scanned = buf.len();
        }
    };
    let outcome = tokio::time::timeout(deadline, reading).await;
    match outcome {
        Ok(Ok(())) => Ok(buf),
        Ok(Err(end)) => Err(end),
        // Line breaks alone are what parsers skip between requests: still idle.
        Err(_) if buf.iter().all(|b| matches!(b, b'\r' | b'\n')) => Err(NoHead::Ended),
        Err(_) => Err(NoHead::TooSlow),
    }
}

/// Whether `buf` holds a blank line ending the head; bytes before `scanned` were already
/// searched. Empty lines before the request line (which parsers skip) do not count.
fn head_complete(buf: &[u8], scanned: usize) -> bool {
    let Some(start) = buf.iter().position(|b| !matches!(b, b'\r' | b'\n')) else {
        return false;
    };
    let from = scanned.saturating_sub(3).max(start);
    let rest = &buf[from..];
    // Every request passes here: jump from line end to line end instead of sliding a window.
    memchr::memchr_iter(b'\n', rest)
        .any(|at| matches!(&rest[at + 1..], [b'\n', ..] | [b'\r', b'\n', ..]))
}

#[cfg(test)]
mod tests {
    use super::head_complete;

    #[test]
    fn finds_the_end_of_the_head() {
        assert!(head_complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0));
        assert!(head_complete(b"GET / HTTP/1.1\nHost: a\n\nbody", 0));
        assert!(!head_complete(b"GET / HTTP/1.1\r\nHost: a\r\n", 0));
        // Leading empty lines are not the end of a head.
        assert!(!head_complete(b"\r\n\r\nGET / HTTP/1.1\r\n", 0));
        assert!(head_complete(b"\r\nGET / HTTP/1.1\r\n\r\n", 0));
        // The blank line may straddle two reads.
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(head_complete(head, head.len() - 2));
    }
}
