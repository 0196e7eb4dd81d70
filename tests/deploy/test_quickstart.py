"""docs/quickstart.md step 1, as a new user runs it: `mimir-gate` on embedded defaults from a
fresh directory holding only config/, then the page's commands — health, a token for a printed
development user, an authenticated API call, an API key from the CLI, audit verification."""

import os
import pathlib
import re
import shutil
import ssl
import subprocess
import time

import httpx
import pytest

from conftest import Service, free_port, proxy_env

REPO = pathlib.Path(__file__).resolve().parents[2]
TARGET = REPO / "target" / "debug"
GATE_BIN = pathlib.Path(os.environ.get("MIMIR_GATE_BIN", TARGET / "mimir-gate"))
PROXY_BIN = pathlib.Path(os.environ.get("MIMIR_PROXY_BIN", TARGET / "mimir-proxy"))


class Gate(Service):
    name = "mimir-gate"


@pytest.fixture
def stack(tmp_path, monkeypatch):
    for binary in (GATE_BIN, PROXY_BIN):
        if not binary.is_file():
            pytest.fail(f"{binary} not found: run `cargo build --workspace --bins`")
    shutil.copytree(REPO / "config", tmp_path / "config")
    # The page's relative paths (config/, data/, certs/dev/) are relative to where it runs.
    monkeypatch.chdir(tmp_path)
    port, admin, core = free_port(), free_port(), free_port()
    # Only the ports differ from the page, so that tests can run side by side.
    env = proxy_env() | {
        "MIMIR_PROXY_LISTEN": f"127.0.0.1:{port}",
        "MIMIR_PROXY_ADMIN_LISTEN": f"127.0.0.1:{admin}",
        "MIMIR_CORE_BIND": f"127.0.0.1:{core}",
        "MIMIR_UPSTREAM": f"127.0.0.1:{core}",
    }
    gate = Gate(tmp_path / "gate.log")
    gate.spawn([str(GATE_BIN)], env, f"http://127.0.0.1:{admin}/readyz")
    gate.url = f"https://localhost:{port}"
    gate.ca = str(tmp_path / "certs" / "dev" / "ca.pem")
    yield gate
    gate.stop()


def printed_password(log: pathlib.Path, user: str) -> str:
    found = re.search(rf"^\s+{user}\s+(\S+)\s+roles:", log.read_text(), re.MULTILINE)
    assert found, f"no password printed for {user}: {log.read_text()[-2000:]}"
    return found.group(1)


def test_embedded_defaults_as_the_quickstart_shows(stack, tmp_path):
    # Like the page's `curl --cacert certs/dev/ca.pem`: only the generated CA is trusted.
    client = httpx.Client(base_url=stack.url, verify=ssl.create_default_context(cafile=stack.ca))
    assert client.get("/health").status_code == 200
    assert client.get("/api/nodes/types").status_code == 401

    token = client.post("/auth/token", json={
        "grant_type": "password", "username": "developer", "password": printed_password(stack.log, "developer"),
    })
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert client.get("/api/nodes/types", headers=bearer).status_code == 200

    created = subprocess.run([str(PROXY_BIN), "keys", "create", "--config", "config/policy.toml",
                              "--name", "agent", "--roles", "developer"],
                             capture_output=True, text=True, env=proxy_env())
    assert created.returncode == 0, created.stderr
    key = re.search(r"mimir_[0-9a-f]{12}_[A-Za-z0-9_-]+", created.stdout).group(0)
    # The running proxy re-reads the keys file within a second of the change.
    deadline = time.monotonic() + 10
    while (status := client.get("/api/nodes/types", headers={"Authorization": f"Bearer {key}"}).status_code) != 200:
        assert status == 401 and time.monotonic() < deadline, status
        time.sleep(0.2)

    # Records reach the file within the audit fsync interval; the chain verifies at any point.
    verified = subprocess.run([str(PROXY_BIN), "audit", "verify", "data/audit/audit.log"],
                              capture_output=True, text=True, env=proxy_env())
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert (tmp_path / "data").is_dir(), "the embedded store lives under ./data"
    client.close()
