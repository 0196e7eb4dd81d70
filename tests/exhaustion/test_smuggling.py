"""Request smuggling through proxy -> core: each attempt carries a second request to
/smuggled-N hidden where a parser that disagrees with the proxy's would find it. The relay
between proxy and core parses what the core is sent; no /smuggled target may appear there."""

import socket
import ssl
import time

import pytest

from .h2_frames import H2, data, request_fields


@pytest.fixture
def gateway(relayed_gateway):
    """Every test here reads what the core was sent."""
    return relayed_gateway


def smuggled(n: int) -> str:
    return f"GET /smuggled-{n} HTTP/1.1\r\nHost: localhost\r\n\r\n"


# (name, front request head and body up to where the hidden request starts)
H1_PAIRS = [
    ("CL.TE", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("TE.CL", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n"),
    ("TE.TE duplicate", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n"),
    ("TE.TE space before colon", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("TE.TE tab", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:\tchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("TE.TE vertical tab", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: \x0bchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("TE.TE folded", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("TE.TE quoted", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: \"chunked\"\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("TE.TE list", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("TE.TE bare LF", "POST /api/nodes HTTP/1.1\r\nHost: localhost\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("TE.TE mixed case", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\ntRaNsFeR-eNcOdInG: cHuNkEd\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("CL.CL", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n"),
    ("CL sign", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nContent-Length: +0\r\n\r\n"),
    ("chunk size overflow", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n"),
    ("chunk extension LF", "POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n2;\n\r\nxx\r\n0\r\n\r\n"),
]


def h1_exchange(gateway, raw: bytes) -> bytes:
    """Sends `raw` on one HTTP/1.1 connection and reads until the proxy closes it (or 3 s)."""
    sock = gateway.tls(["http/1.1"]).wrap_socket(socket.create_connection(("127.0.0.1", gateway.port), timeout=3),
                                                 server_hostname="localhost")
    answer = b""
    try:
        sock.sendall(raw)
        while chunk := sock.recv(65536):
            answer += chunk
    except (TimeoutError, ssl.SSLError, OSError):
        pass
    finally:
        sock.close()
    return answer


def authorized(gateway, head: str) -> str:
    """The front request with the gateway's key, so that the proxy would forward it."""
    line, rest = head.split("\r\n", 1)
    return f"{line}\r\nAuthorization: Bearer {gateway.key}\r\n{rest}"


def test_the_relay_sees_a_request_smuggled_past_the_proxy(gateway):
    """The check below can fail: two pipelined requests sent straight to the relay (as a
    proxy that forwarded a smuggled one would) are both seen."""
    seen = len(gateway.relay.targets())  # the proxy's own health checks
    with socket.create_connection(("127.0.0.1", gateway.relay.port)) as sock:
        sock.sendall(f"POST /api/nodes HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}{smuggled(0)}".encode())
        deadline = time.monotonic() + 5
        while len(gateway.relay.targets()) < seen + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert gateway.relay.targets()[seen:] == ["/api/nodes", "/smuggled-0"]


def test_http1_smuggling_pairs_never_reach_the_core(gateway):
    # A body that holds a request, correctly framed, is only a body: the control.
    body = smuggled(0)
    answer = h1_exchange(gateway, authorized(
        gateway, f"POST /api/nodes HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode())
    assert answer.startswith(b"HTTP/1.1 "), answer
    answers = {}
    for n, (name, front) in enumerate(H1_PAIRS, start=1):
        answer = h1_exchange(gateway, (authorized(gateway, front) + smuggled(n)).encode())
        answers[name] = answer.split(b"\r\n", 1)[0].decode(errors="replace")
        assert answer.count(b"HTTP/1.1 ") <= 1, f"{name}: two answers on one connection:\n{answer!r}"
    targets = gateway.relay.targets()
    assert "/api/nodes" in targets, "the control request did not reach the core"
    assert not [t for t in targets if "smuggled" in t or t == "unparsable"], (targets, answers)
    # The proxy still serves.
    probe = gateway.probe()
    assert {status for _, status in probe.sample(0.3)} == {200}
    probe.close()


H2_DOWNGRADES = [
    ("content-length shorter than the body", [("content-length", "0")]),
    ("content-length longer than the body", [("content-length", "300")]),
    ("transfer-encoding chunked", [("transfer-encoding", "chunked")]),
    ("two content-lengths", [("content-length", "2"), ("content-length", "44")]),
    ("CRLF in a header value", [("x-note", "a\r\nContent-Length: 0\r\n\r\nGET /smuggled-h2 HTTP/1.1")]),
    ("CRLF in a header name", [("x-note\r\ntransfer-encoding", "chunked")]),
    ("upper-case transfer-encoding", [("Transfer-Encoding", "chunked")]),
    ("connection header", [("connection", "keep-alive, transfer-encoding")]),
]


@pytest.mark.parametrize("name,extra", H2_DOWNGRADES, ids=[n for n, _ in H2_DOWNGRADES])
def test_http2_downgrade_smuggling_never_reaches_the_core(gateway, name, extra):
    context = gateway.tls(["h2"])
    h2 = H2(gateway.port, context)
    fields = request_fields(gateway.port, "/api/nodes", gateway.key, method="POST",
                            extra=[("content-type", "text/plain"), *extra])
    body = ("0\r\n\r\n" if name.startswith("transfer") else "{}") + smuggled(99)
    h2.send(h2.headers(1, fields, end_stream=False) + data(1, body.encode(), end_stream=True))
    time.sleep(1.0)
    h2.close()
    targets = gateway.relay.targets()
    assert not [t for t in targets if "smuggled" in t or t == "unparsable"], targets
    probe = gateway.probe()
    assert {status for _, status in probe.sample(0.3)} == {200}
    probe.close()
