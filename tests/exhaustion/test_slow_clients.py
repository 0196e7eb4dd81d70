"""Slow clients with slowhttptest (Debian package): slowloris (headers never finished), slow
body (R-U-Dead-Yet) and slow read (a tiny receive window), 500 connections each."""

import re
import shutil
import subprocess

import pytest

from .harness import under_attack

# slowhttptest's mode flag and its options beyond the common ones.
ATTACKS = {
    "slowloris": ["-H", "-i", "5", "-x", "24"],
    "slow body": ["-B", "-i", "5", "-s", "65536", "-t", "POST", "-x", "24"],
    # /login: the largest page anyone may ask for; 10 requests pipelined on each connection,
    # read 32 bytes every 5 s through a window of 64-128 bytes.
    "slow read": ["-X", "-w", "64", "-y", "128", "-n", "5", "-z", "32", "-k", "10"],
}
# Slow body: the OAuth token endpoint, public, which reads its form body before it can refuse
# anyone (an API route answers 401 before reading a body sent without a credential).
PATHS = {"slowloris": "/api/nodes/types", "slow body": "/token", "slow read": "/login"}


def slowhttptest(port: int, name: str):
    def attack(stop):
        # Line-buffered: its status lines survive the SIGTERM that ends it.
        argv = ["stdbuf", "-oL", "slowhttptest", *ATTACKS[name], "-c", "500", "-r", "200", "-l", "60", "-p", "3",
                "-u", f"https://localhost:{port}{PATHS[name]}"]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        stop.wait()
        process.terminate()
        out, _ = process.communicate(timeout=20)
        # Its last status lines: connection counts and whether its own probe was served.
        lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in out.splitlines()]
        return [line for line in lines if line.startswith(("pending:", "connected:", "error:", "closed:", "service available"))][-5:]
    return attack


@pytest.mark.parametrize("name", list(ATTACKS))
def test_slow_clients_do_not_starve_a_well_behaved_one(gateway, capsys, name):
    if not shutil.which("slowhttptest"):
        pytest.fail("slowhttptest is not installed (Debian package slowhttptest; .ci/run installs it)")
    figures = under_attack(gateway, capsys, name, slowhttptest(gateway.port, name), seconds=15)
    assert figures["rss_mib_peak"] < 256, figures
