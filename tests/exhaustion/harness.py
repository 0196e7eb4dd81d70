"""What the resource-exhaustion tests share: the gateway under attack, a well-behaved client
(`Probe`) calling the core through it from 127.0.0.2 (another peer than the attacks'
127.0.0.1), and `under_attack`, which measures that client before and during an attack. Its
latencies are printed, not asserted (docs/testing.md has the figures)."""

import pathlib
import re
import ssl
import statistics
import threading
import time
import urllib.request

import httpx

from conftest import Proxy
from .relay import Relay

PROBE_SOURCE = "127.0.0.2"
PROBE_PATH = "/api/nodes/types"


class Gateway:
    def __init__(self, proxy: Proxy, relay: Relay, key: str):
        self.proxy, self.relay, self.key = proxy, relay, key
        self.port = proxy.port

    def tls(self, alpn: list[str]) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.proxy.ca))
        context.set_alpn_protocols(alpn)
        return context

    def rss_mib(self) -> float:
        status = pathlib.Path(f"/proc/{self.proxy.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024

    def alive(self) -> bool:
        return self.proxy.process.poll() is None

    def refused(self) -> dict[str, int]:
        """`mimir_proxy_connections_refused_total` by reason."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.proxy.admin_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        pattern = r'^mimir_proxy_connections_refused_total\{reason="([a-z0-9_]+)"\} (\d+)'
        return {reason: int(n) for reason, n in re.findall(pattern, text, re.M)}


class Probe:
    """A well-behaved client: one kept-alive HTTP/1.1 connection from PROBE_SOURCE, one
    authenticated GET every `interval` seconds, each latency and status kept."""

    def __init__(self, gateway: Gateway, interval: float = 0.05):
        self.gateway, self.interval = gateway, interval
        self.client = httpx.Client(
            base_url=f"https://localhost:{gateway.port}",
            headers={"Authorization": f"Bearer {gateway.key}"},
            transport=httpx.HTTPTransport(verify=gateway.tls(["http/1.1"]), local_address=PROBE_SOURCE),
            timeout=10,
        )
        self.peak_rss = 0.0

    def sample(self, seconds: float) -> list[tuple[float, int]]:
        """(latency, status) of the requests made in `seconds`; a failure counts as status 0."""
        results = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                status = self.client.get(PROBE_PATH).status_code
            except httpx.HTTPError:
                status = 0
            results.append((time.perf_counter() - started, status))
            self.peak_rss = max(self.peak_rss, self.gateway.rss_mib())
            time.sleep(self.interval)
        return results

    def close(self) -> None:
        self.client.close()


def p99(samples: list[tuple[float, int]]) -> float:
    return statistics.quantiles([latency for latency, _ in samples], n=100)[98]


def under_attack(gateway: Gateway, capsys, name: str, attack, seconds: float = 12.0) -> dict:
    """Probes for a baseline, then runs `attack(stop_event)` in a thread while probing again.
    Asserts the probe was served throughout and returns the figures (also printed, past
    pytest's output capture)."""
    probe = Probe(gateway)
    probe.sample(1.0)  # connection set up and warmed
    baseline = probe.sample(seconds / 2)
    rss_before = gateway.rss_mib()
    stop = threading.Event()
    outcome = {}
    attacker = threading.Thread(target=lambda: outcome.setdefault("result", attack(stop)), daemon=True)
    attacker.start()
    time.sleep(1.0)  # the attack reaches full strength
    during = probe.sample(seconds)
    stop.set()
    attacker.join(timeout=30)
    probe.close()
    figures = {
        "attack": name,
        "p99_ms_before": round(p99(baseline) * 1000, 2),
        "p99_ms_during": round(p99(during) * 1000, 2),
        "ratio": round(p99(during) / p99(baseline), 2),
        "rss_mib_before": round(rss_before, 1),
        "rss_mib_peak": round(probe.peak_rss, 1),
        "refused": gateway.refused(),
        "attacker": outcome.get("result"),
    }
    with capsys.disabled():
        print(f"\n[exhaustion] {figures}")
    failed = [status for _, status in baseline + during if status != 200]
    assert not failed, f"{name}: the well-behaved client got {failed[:10]} ({len(failed)} failures)"
    assert gateway.alive(), f"{name}: the proxy exited"
    assert not attacker.is_alive(), f"{name}: the attack did not stop"
    return figures

