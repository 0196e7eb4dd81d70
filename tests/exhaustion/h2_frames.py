"""Raw HTTP/2 over TLS for the attacks: frames are written with hyperframe and hpack (the
python-hyper packages under `h2`), so the client can break the protocol's rules on purpose."""

import select
import socket
import ssl
import threading
import time

import hpack
from hyperframe.frame import ContinuationFrame, DataFrame, HeadersFrame, SettingsFrame

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class H2:
    """One TLS connection that spoke the HTTP/2 preface. The socket is non-blocking after the
    handshake and used from one thread only (an SSL socket read in one thread while another
    writes or closes it can crash the interpreter): each `send` also reads and discards what
    the server sent, unless `drain` is false (the flood tests stop reading on purpose), and
    notes when the server closed the connection. `send` raises TimeoutError when the server
    takes nothing for `timeout` seconds."""

    def __init__(self, port: int, context: ssl.SSLContext, drain: bool = True, timeout: float = 5):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = context.wrap_socket(raw, server_hostname="localhost")
        if self.sock.selected_alpn_protocol() != "h2":
            self.sock.close()
            raise ConnectionError("the server did not select h2")
        self.sock.setblocking(False)
        self.timeout, self.drain = timeout, drain
        self.encoder = hpack.Encoder()
        self.closed = threading.Event()
        self.received = 0
        self.send(PREFACE + SettingsFrame(0).serialize())

    def poll(self) -> None:
        """Reads and discards what has arrived."""
        while True:
            try:
                data = self.sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                return
            except OSError:
                self.closed.set()
                return
            if not data:
                self.closed.set()
                return
            self.received += len(data)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + self.timeout
        while view:
            if self.drain:
                self.poll()
            try:
                view = view[self.sock.send(view):]
                deadline = time.monotonic() + self.timeout
                continue
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the server stopped reading")
            select.select([self.sock] if self.drain else [], [self.sock], [], min(remaining, 0.05))

    def headers(self, stream_id: int, fields: list[tuple[str, str]], end_stream: bool,
                end_headers: bool = True) -> bytes:
        frame = HeadersFrame(stream_id)
        frame.data = self.encoder.encode(fields)
        if end_headers:
            frame.flags.add("END_HEADERS")
        if end_stream:
            frame.flags.add("END_STREAM")
        return frame.serialize()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def request_fields(port: int, path: str, key: str, method: str = "GET", extra=()) -> list[tuple[str, str]]:
    return [(":method", method), (":scheme", "https"), (":authority", f"localhost:{port}"), (":path", path),
            ("authorization", f"Bearer {key}"), *extra]


def continuation(stream_id: int, block: bytes, end_headers: bool = False) -> bytes:
    frame = ContinuationFrame(stream_id)
    frame.data = block
    if end_headers:
        frame.flags.add("END_HEADERS")
    return frame.serialize()


def data(stream_id: int, payload: bytes, end_stream: bool) -> bytes:
    frame = DataFrame(stream_id)
    frame.data = payload
    if end_stream:
        frame.flags.add("END_STREAM")
    return frame.serialize()
