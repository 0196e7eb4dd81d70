"""A well-behaved client: one kept-alive HTTP/1.1 connection from PROBE_SOURCE (another peer than
the attacks' 127.0.0.1), one authenticated GET every `interval` seconds, each latency and status
kept. Run as a script it samples in a process of its own, so that the attack's Python threads
never hold the interpreter lock while a probe request is timed; it prints the samples as JSON."""

import argparse
import json
import os
import ssl
import sys
import time

import httpx

PROBE_SOURCE = "127.0.0.2"
PROBE_PATH = "/api/nodes/types"


def tls_context(ca: str, alpn: list[str]) -> ssl.SSLContext:
    """A client context trusting the gateway's dev CA, offering `alpn`."""
    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(alpn)
    return context


class Probe:
    def __init__(self, port: int, key: str, ca: str, interval: float = 0.05):
        self.interval = interval
        self.client = httpx.Client(
            base_url=f"https://localhost:{port}",
            headers={"Authorization": f"Bearer {key}"},
            transport=httpx.HTTPTransport(verify=tls_context(ca, ["http/1.1"]), local_address=PROBE_SOURCE),
            timeout=10,
        )

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
            time.sleep(self.interval)
        return results

    def close(self) -> None:
        self.client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--cpus", default="", help="comma-separated CPUs to run on")
    args = parser.parse_args()
    if args.cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.cpus.split(",")})
    probe = Probe(args.port, args.key, args.ca, args.interval)
    probe.sample(1.0)  # connection set up and warmed, not counted
    json.dump(probe.sample(args.seconds), sys.stdout)
    probe.close()


if __name__ == "__main__":
    main()
