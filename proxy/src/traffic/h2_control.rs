//! HTTP/2 control-frame floods (CVE-2019-9512 PING, -9515 SETTINGS, -9513 PRIORITY, -9518 empty
//! DATA). The h2 codec bounds the memory they cost (one pending acknowledgement at a time) but
//! not the CPU: a client that sends PING or SETTINGS frames as fast as it can keeps a worker
//! busy answering them, and the other clients' requests wait (measured: a well-behaved client's
//! p99 went from 12 ms to 6-13 s under 20 such connections).
//!
//! [`ControlFrameLimit`] wraps an HTTP/2 connection's decrypted stream, reads the frame headers
//! as the bytes pass to the codec, and charges each frame that asks work of the server without
//! carrying a request (SETTINGS and PING that are not acknowledgements, PRIORITY, DATA that is
//! empty and does not end its stream) to a per-connection GCRA budget, as Tomcat's overhead
//! protection and Envoy's flood limits do. Over budget, the read fails: the codec drops the
//! connection, and the connection handler reports the refusal.

use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::SslDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Control frames a connection may send at once, and per second after that: far above what
/// browsers and MCP clients send (a SETTINGS frame, a few PRIORITY frames, keep-alive PINGs).
const BURST: u32 = 200;
const PER_SECOND: u32 = 50;

const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const DATA: u8 = 0x0;
const PRIORITY: u8 = 0x2;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const FLAG_ACK: u8 = 0x1;
const FLAG_END_STREAM: u8 = 0x1;

/// Reads HTTP/2 frame headers out of a byte stream (after the client preface).
#[derive(Debug)]
struct FrameHeaders {
    preface_left: usize,
    header: [u8; FRAME_HEADER_LEN],
    header_len: usize,
    payload_left: usize,
}

impl FrameHeaders {
    fn new() -> Self {
        Self {
            preface_left: PREFACE_LEN,
            header: [0; FRAME_HEADER_LEN],
            header_len: 0,
            payload_left: 0,
        }
    }

    /// Calls `frame(type, flags, length)` for each frame header completed by `bytes`.
    fn feed(&mut self, mut bytes: &[u8], mut frame: impl FnMut(u8, u8, usize)) {
        while !bytes.is_empty() {
            let skip = if self.preface_left > 0 {
                let n = self.preface_left.min(bytes.len());
                self.preface_left -= n;
                n
            } else if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                n
            } else {
                let n = (FRAME_HEADER_LEN - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
                self.header_len += n;
                if self.header_len == FRAME_HEADER_LEN {
                    let h = self.header;
                    let length =
                        usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                    self.header_len = 0;
                    self.payload_left = length;
                    frame(h[3], h[4], length);
                }
                n
            };
            bytes = &bytes[skip..];
        }
    }
}

/// Whether a frame asks work of the server without carrying a request.
fn is_overhead(kind: u8, flags: u8, length: usize) -> bool {
    match kind {
        SETTINGS | PING => flags & FLAG_ACK == 0,
        PRIORITY => true,
        DATA => length == 0 && flags & FLAG_END_STREAM == 0,
        _ => false,
    }
}

/// An HTTP/2 connection's stream with a control-frame budget; see the module docs.
pub struct ControlFrameLimit {
    inner: Stream,
    frames: FrameHeaders,
    budget: DefaultDirectRateLimiter,
    exceeded: Arc<AtomicBool>,
}

impl ControlFrameLimit {
    /// The stream to hand to the HTTP/2 codec, and a flag that is set once it was cut off.
    pub fn wrap(inner: Stream) -> (Stream, Arc<AtomicBool>) {
        let exceeded = Arc::new(AtomicBool::new(false));
        let quota = Quota::per_second(NonZeroU32::new(PER_SECOND).expect("non-zero"))
            .allow_burst(NonZeroU32::new(BURST).expect("non-zero"));
        let limited = Self {
            inner,
            frames: FrameHeaders::new(),
            budget: RateLimiter::direct(quota),
            exceeded: exceeded.clone(),
        };
        (Box::new(limited), exceeded)
    }
}

impl std::fmt::Debug for ControlFrameLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlFrameLimit")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for ControlFrameLimit {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            let mut over = false;
            let budget = &this.budget;
            this.frames
                .feed(&buf.filled()[before..], |kind, flags, length| {
                    if is_overhead(kind, flags, length) && budget.check().is_err() {
                        over = true;
                    }
                });
            if over {
                this.exceeded.store(true, Ordering::Relaxed);
                return Poll::Ready(Err(std::io::Error::other(
                    "HTTP/2 control frames over the connection's budget",
                )));
            }
        }
        read
    }
}

impl AsyncWrite for ControlFrameLimit {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

// The rest of pingora's stream interface is the wrapped stream's.

#[async_trait]
impl Shutdown for ControlFrameLimit {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for ControlFrameLimit {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for ControlFrameLimit {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for ControlFrameLimit {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for ControlFrameLimit {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for ControlFrameLimit {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl Peek for ControlFrameLimit {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            1,
        ];
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn reads_frame_headers_split_anywhere() {
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend(frame(SETTINGS, 0, &[0; 6]));
        bytes.extend(frame(0x1, 0x4, &[7; 300])); // HEADERS
        bytes.extend(frame(PING, FLAG_ACK, &[0; 8]));
        bytes.extend(frame(DATA, 0, &[]));
        for split in [1, 5, 9, 100, bytes.len()] {
            let mut headers = FrameHeaders::new();
            let mut seen = Vec::new();
            for chunk in bytes.chunks(split) {
                headers.feed(chunk, |kind, flags, length| {
                    seen.push((kind, flags, length))
                });
            }
            assert_eq!(
                seen,
                [
                    (SETTINGS, 0, 6),
                    (0x1, 0x4, 300),
                    (PING, FLAG_ACK, 8),
                    (DATA, 0, 0)
                ],
                "chunks of {split}"
            );
        }
    }

    #[test]
    fn counts_frames_that_carry_no_request() {
        assert!(is_overhead(SETTINGS, 0, 6) && is_overhead(PING, 0, 8));
        assert!(!is_overhead(SETTINGS, FLAG_ACK, 0) && !is_overhead(PING, FLAG_ACK, 8));
        assert!(is_overhead(PRIORITY, 0, 5));
        assert!(is_overhead(DATA, 0, 0));
        assert!(!is_overhead(DATA, FLAG_END_STREAM, 0) && !is_overhead(DATA, 0, 10));
        assert!(!is_overhead(0x1, 0, 10) && !is_overhead(0x8, 0, 4));
    }
}
