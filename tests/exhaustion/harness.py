"""What the resource-exhaustion tests share: the gateway under attack, and `under_attack`, which
measures a well-behaved client (probe.py) before and during an attack. Its latencies are printed,
not asserted (docs/testing.md has the figures).

On a machine with two cores or more the measurement keeps attacker and defender apart, as they
would be on a network: the proxy, the core and the probe run on the first half of the CPUs, this
process (whose threads and children are the attack) on the rest. Otherwise the attacker's own CPU
use, not the proxy's defences, would decide the probe's latency."""

import contextlib
import json
import os
import pathlib
import re
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

from conftest import Proxy
from .probe import Probe, tls_context
from .relay import Relay

PROBE_SCRIPT = pathlib.Path(__file__).with_name("probe.py")
# One probe request every 10 ms: some 500 samples in the baseline, 1 000+ under attack.
PROBE_INTERVAL = 0.01


class Gateway:
    def __init__(self, proxy: Proxy, core_pid: int, key: str, relay: Relay | None = None):
        self.proxy, self.core_pid, self.key, self.relay = proxy, core_pid, key, relay
        self.port = proxy.port

    def tls(self, alpn: list[str]) -> ssl.SSLContext:
        return tls_context(str(self.proxy.ca), alpn)

    def probe(self) -> Probe:
        """A probe in this process, for a quick check that the proxy still serves."""
        return Probe(self.port, self.key, str(self.proxy.ca))

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


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of `pid` onto `cpus` (threads created later inherit their creator's)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(tid), cpus)


@contextlib.contextmanager
def apart(gateway: Gateway):
    """Defender CPUs for the proxy and core, attacker CPUs for this process; yields both sets
    (no defender CPUs on a single CPU, where nothing is pinned)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        yield set(), set(cpus)
        return
    defender, attacker = set(cpus[:len(cpus) // 2]), set(cpus[len(cpus) // 2:])
    pin(gateway.proxy.process.pid, defender)
    pin(gateway.core_pid, defender)
    pin(os.getpid(), attacker)
    try:
        yield defender, attacker
    finally:
        everything = set(cpus)
        pin(os.getpid(), everything)
        pin(gateway.core_pid, everything)  # the core outlives this test


def sample(gateway: Gateway, seconds: float, cpus: set[int]) -> list[tuple[float, int]]:
    """The probe's samples over `seconds`, taken in a process of its own on `cpus`."""
    argv = [sys.executable, str(PROBE_SCRIPT), "--port", str(gateway.port), "--key", gateway.key,
            "--ca", str(gateway.proxy.ca), "--seconds", str(seconds), "--interval", str(PROBE_INTERVAL),
            "--cpus", ",".join(map(str, sorted(cpus)))]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    assert out.returncode == 0, f"the probe failed: {out.stderr[-2000:]}"
    return [tuple(pair) for pair in json.loads(out.stdout)]


def p99(samples: list[tuple[float, int]]) -> float:
    return statistics.quantiles([latency for latency, _ in samples], n=100)[98]


def under_attack(gateway: Gateway, capsys, name: str, attack, seconds: float = 12.0) -> dict:
    """Probes for a baseline, then runs `attack(stop_event)` in a thread while probing again.
    Asserts the probe was served throughout and returns the figures (also printed, past
    pytest's output capture)."""
    peak_rss = [0.0]
    sampling = threading.Event()

    def watch_memory():
        while not sampling.wait(0.1):
            peak_rss[0] = max(peak_rss[0], gateway.rss_mib())

    with apart(gateway) as (defender, attacker_cpus):
        watcher = threading.Thread(target=watch_memory, daemon=True)
        watcher.start()
        baseline = sample(gateway, seconds / 2, defender)
        rss_before = gateway.rss_mib()
        stop = threading.Event()
        outcome = {}
        attacker = threading.Thread(target=lambda: outcome.setdefault("result", attack(stop)), daemon=True)
        attacker.start()
        time.sleep(1.0)  # the attack reaches full strength
        during = sample(gateway, seconds, defender)
        stop.set()
        attacker.join(timeout=30)
        sampling.set()
        watcher.join()
    figures = {
        "attack": name,
        "p99_ms_before": round(p99(baseline) * 1000, 2),
        "p99_ms_during": round(p99(during) * 1000, 2),
        "ratio": round(p99(during) / p99(baseline), 2),
        "samples": [len(baseline), len(during)],
        "cpus": {"defender": sorted(defender), "attacker": sorted(attacker_cpus)},
        "rss_mib_before": round(rss_before, 1),
        "rss_mib_peak": round(peak_rss[0], 1),
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
