"""Raw HTTP/2 over TLS for the attacks: frames are written with hyperframe and hpack (the
python-hyper packages under `h2`), so the client can break the protocol's rules on purpose."""

import socket
import ssl
import threading

import hpack
from hyperframe.frame import ContinuationFrame, DataFrame, HeadersFrame, SettingsFrame

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class H2:
    """One TLS connection that spoke the HTTP/2 preface. A thread reads and discards what the
    server sends (unless `drain` is false: the flood tests stop reading on purpose) and notes
    when the server closes the connection."""

    def __init__(self, port: int, context: ssl.SSLContext, drain: bool = True, timeout: float = 5):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = context.wrap_socket(raw, server_hostname="localhost")
        if self.sock.selected_alpn_protocol() != "h2":
            raise ConnectionError("the server did not select h2")
        self.encoder = hpack.Encoder()
        self.closed = threading.Event()
        self.received = 0
        self.send(PREFACE + SettingsFrame(0).serialize())
        if drain:
            threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        try:
            while data := self.sock.recv(65536):
                self.received += len(data)
        except OSError:
            pass
        self.closed.set()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

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
