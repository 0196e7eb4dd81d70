"""docker-compose.yml: validated by docker-compose itself (`docker-compose config`, which needs no
engine), then checked for the deployment's rules: only the proxy publishes a port, every service
is non-root, read-only, limited and health-checked, and secrets only ever arrive as files.
The secrets script and the proxy's compose policy are exercised for real."""

import os
import pathlib
import re
import shutil
import subprocess
import tomllib

import pytest
import yaml

from conftest import proxy_env

REPO = pathlib.Path(__file__).resolve().parents[2]
PROXY_BIN = pathlib.Path(os.environ.get("MIMIR_PROXY_BIN", REPO / "target" / "debug" / "mimir-proxy"))
COMPOSE = REPO / "docker-compose.yml"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|_AUTH$|CREDENTIAL")


@pytest.fixture(scope="module")
def compose() -> dict:
    """The file as docker-compose resolves it (anchors merged, paths absolute)."""
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose not installed (Debian package docker-compose; see .ci/run)"
    out = subprocess.run([tool, "--file", str(COMPOSE), "config"], cwd=REPO, capture_output=True, text=True,
                         env={k: v for k, v in proxy_env().items() if k != "MIMIR_WORKSPACE"})
    assert out.returncode == 0, out.stderr
    # Anything docker-compose would ignore is a setting that silently does not apply.
    assert "ignored" not in out.stderr and "not supported" not in out.stderr, out.stderr
    return yaml.safe_load(out.stdout)


def mounted_secrets(service: dict) -> set:
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}


def test_only_the_proxy_publishes_a_port(compose):
    services = compose["services"]
    assert {name for name, s in services.items() if s.get("ports")} == {"proxy"}
    published = [(p["published"], p["target"]) for p in services["proxy"]["ports"]]
    assert published in ([(8443, 8443)], [("8443", 8443)])
    assert compose["networks"]["backend"]["internal"] is True
    for name in ("neo4j", "core"):
        assert set(services[name]["networks"]) == {"backend"}, name


def test_every_service_is_non_root_read_only_limited_and_health_checked(compose):
    for name, service in compose["services"].items():
        user = str(service.get("user", "root")).split(":")[0]
        assert user not in ("", "0", "root"), f"{name} runs as root"
        assert service.get("read_only") is True, f"{name} has a writable root filesystem"
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert not service.get("privileged"), name
        assert service.get("network_mode") is None, name
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("cpus") and limits.get("memory"), f"{name} has no resource limits"
        assert service.get("pids_limit"), name
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"


def test_health_checks_use_the_documented_endpoints(compose):
    services = compose["services"]
    assert "http://127.0.0.1:9090/healthz" in services["proxy"]["healthcheck"]["test"]
    assert "http://127.0.0.1:8081/health" in services["core"]["healthcheck"]["test"]
    # Start order follows health, not mere container start.
    assert services["proxy"]["depends_on"]["core"]["condition"] == "service_healthy"
    assert services["core"]["depends_on"]["neo4j"]["condition"] == "service_healthy"


def test_secrets_arrive_only_as_files(compose):
    secrets = compose["secrets"]
    assert set(secrets) >= {"neo4j_auth", "neo4j_password", "token_signing_key", "identity_signing_key",
                            "identity_public_key", "tls_cert", "tls_key"}
    for name, secret in secrets.items():
        assert set(secret) == {"file"}, f"secret {name} is not read from a file"
    used = set()
    for name, service in compose["services"].items():
        mounted = mounted_secrets(service)
        used |= mounted
        for var, value in service.get("environment", {}).items():
            if var.endswith("_FILE"):
                assert value.startswith("/run/secrets/"), f"{name}: {var}={value} is not a Docker secret"
                assert value.removeprefix("/run/secrets/") in mounted, f"{name}: {var} names an unmounted secret"
            else:
                assert not SECRET_NAME.search(var), f"{name}: {var} carries a secret in plain text; use {var}_FILE"
    assert used == set(secrets), f"declared but unused: {set(secrets) - used}"
    env = compose["services"]["core"]["environment"]
    assert env["NEO4J_PASSWORD_FILE"] == "/run/secrets/neo4j_password"
    assert env["MIMIR_PROXY_PUBLIC_KEY_FILE"] == "/run/secrets/identity_public_key"
    assert compose["services"]["proxy"]["environment"]["MIMIR_IDENTITY_SIGNING_KEY_FILE"] == \
        "/run/secrets/identity_signing_key"
    assert compose["services"]["neo4j"]["environment"]["NEO4J_AUTH_FILE"] == "/run/secrets/neo4j_auth"
    text = COMPOSE.read_text()
    assert "BEGIN" not in text and "PRIVATE KEY" not in text


def test_proxy_policy_reads_its_keys_from_mounted_secrets(compose):
    policy = tomllib.loads((REPO / "deploy/compose/policy.toml").read_text())
    mounted = mounted_secrets(compose["services"]["proxy"])
    for path in (policy["tls"]["cert"], policy["tls"]["key"], policy["auth"]["signing_key_file"]):
        assert path.removeprefix("/run/secrets/") in mounted, path


def test_secrets_script_creates_every_secret_the_file_mounts(compose, tmp_path):
    script = REPO / "deploy/compose/make-secrets.sh"
    first = subprocess.run(["bash", str(script), str(tmp_path)], capture_output=True, text=True, check=True)
    for name, secret in compose["secrets"].items():
        created = tmp_path / secret["file"].rsplit("/", 1)[1]
        assert created.is_file() and created.stat().st_size > 0, f"{name}: {created} missing"
    password = (tmp_path / "neo4j-password").read_text()
    assert (tmp_path / "neo4j-auth").read_text() == f"neo4j/{password}"
    assert len(password) >= 32
    for key in ("identity.key", "token-signing.key"):
        out = subprocess.run(["openssl", "pkey", "-in", str(tmp_path / key), "-noout", "-text"],
                             capture_output=True, text=True, check=True)
        assert "ED25519" in out.stdout.upper(), key
    subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "tls.pem")],
                   check=True, capture_output=True)
    assert (tmp_path / "ca.key").stat().st_mode & 0o077 == 0, "the CA key must stay private"
    # A second run keeps every secret: nothing is rotated by accident.
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    second = subprocess.run(["bash", str(script), str(tmp_path)], capture_output=True, text=True, check=True)
    assert "created" in first.stdout and "created" not in second.stdout
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_proxy_accepts_the_compose_policy(tmp_path):
    """The real proxy validates deploy/compose/policy.toml, with the secrets where Docker would put them."""
    if not PROXY_BIN.is_file():
        pytest.fail(f"mimir-proxy binary not found at {PROXY_BIN}: run `cargo build -p mimir-proxy` or set MIMIR_PROXY_BIN")
    subprocess.run(["bash", str(REPO / "deploy/compose/make-secrets.sh"), str(tmp_path)], check=True, capture_output=True)
    env = proxy_env() | {"MIMIR_TLS_CERT": str(tmp_path / "tls.pem"), "MIMIR_TLS_KEY": str(tmp_path / "tls.key")}
    out = subprocess.run([str(PROXY_BIN), "check-config", str(REPO / "deploy/compose/policy.toml")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "OK", out.stderr
