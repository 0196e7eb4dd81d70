"""The image and docker-compose.yml, run for real on a Docker engine: the Dockerfile is built
(from the local base images of tests/deploy/base-images.sh), the quickstart's Compose block runs
as written in a fresh copy of the checkout, and the running stack is checked from outside: an
MCP tool called through the published HTTPS port, only that port published, the core out of
reach, non-root read-only containers, secrets from files, no audit record lost on SIGTERM
(`docker compose down`), data kept across a new `up`. The image's size and the time from `up`
to healthy are printed (docs/deployment.md quotes them).

Compose: `docker compose` (v2) where /usr/bin/docker has it, Debian's `docker-compose` (v1)
otherwise; the quickstart's `docker compose` commands reach it through a `docker` on the PATH
that forwards them. The override tests/deploy/compose.embedded.yml puts the core on its embedded
store (no Neo4j image can be made here) and names the local base images."""

import json
import os
import pathlib
import re
import shutil
import socket
import ssl
import subprocess
import time
import uuid

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from quickstart_doc import REPO, doc_blocks, under_ci

DOCKER = os.environ.get("MIMIR_DOCKER", "/usr/bin/docker")
IMAGE = "mimir-gate:local"
BASE_IMAGES = ("mimir-local/rust:1-bookworm", "mimir-local/debian:bookworm-slim")
# The profile that ships; MIMIR_CARGO_PROFILE=release builds in about 60 % of the time, for an
# image whose size is not checked (docs/deployment.md).
PROFILE = os.environ.get("MIMIR_CARGO_PROFILE", "dist")
OVERRIDE = "tests/deploy/compose.embedded.yml"
MAX_IMAGE_BYTES = 120 * 1000 * 1000
HTTPS = "https://localhost:8443"
# Every secret docker-compose.yml mounts, by the file make-secrets.sh writes.
SECRET_FILES = {"neo4j_auth": "neo4j-auth", "neo4j_password": "neo4j-password", "tls_cert": "tls.pem",
                "tls_key": "tls.key", "token_signing_key": "token-signing.key",
                "identity_signing_key": "identity.key", "identity_public_key": "identity.pub"}


def run(argv, check=True, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check:
        assert done.returncode == 0, f"{' '.join(map(str, argv))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def compose_v2() -> bool:
    return os.access(DOCKER, os.X_OK) and run([DOCKER, "compose", "version"], check=False).returncode == 0


def missing() -> list:
    """What a run needs and this machine lacks, each with where it comes from."""
    if not os.access(DOCKER, os.X_OK):
        return [f"the Docker CLI {DOCKER} (Debian package docker.io)"]
    lacking = []
    if run([DOCKER, "info"], check=False).returncode != 0:
        lacking.append(f"a running Docker engine for {DOCKER} (as root: dockerd --storage-driver=vfs; .ci/run starts one)")
    elif absent := [image for image in BASE_IMAGES if run([DOCKER, "image", "inspect", image], check=False).returncode]:
        lacking.append(f"the base images {', '.join(absent)} (bash tests/deploy/base-images.sh)")
    if not compose_v2() and not shutil.which("docker-compose"):
        lacking.append("Docker Compose: `docker compose` or Debian's docker-compose")
    return lacking


@pytest.fixture(scope="module")
def engine():
    lacking = missing()
    if lacking:
        message = "the Docker suite needs " + "; ".join(lacking)
        if under_ci():
            pytest.fail(message)
        pytest.skip(message)


class Site:
    """A copy of the checkout (tracked and new files, as `git ls-files` lists them) where the
    quickstart's Compose block runs, as its own Compose project."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.project = f"{PROJECT_PREFIX}{uuid.uuid4().hex[:8]}"
        files = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).stdout
        for name in filter(None, files.split("\0")):
            source = REPO / name
            if source.is_file():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, root / name)
        bin_dir = root.parent / "bin"
        bin_dir.mkdir()
        docker = bin_dir / "docker"
        docker.write_text(self.docker_shim())
        docker.chmod(0o755)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("MIMIR_", "COMPOSE_"))} | {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "COMPOSE_FILE": f"docker-compose.yml:{OVERRIDE}",
            "COMPOSE_PROJECT_NAME": self.project,
            "MIMIR_CARGO_PROFILE": PROFILE,
            # The engine's BuildKit: the Dockerfile's cache mounts need it.
            "DOCKER_BUILDKIT": "1",
            "COMPOSE_DOCKER_CLI_BUILD": "1",
        }

    @staticmethod
    def docker_shim() -> str:
        """`docker` as the quickstart calls it: /usr/bin/docker (whose BuildKit builds the image)
        and, for `docker compose`, Compose v1 when v2 is not there (exec without a terminal is
        `-T` there; v2 decides that by itself)."""
        if compose_v2():
            return f'#!/bin/sh\nexec {DOCKER} "$@"\n'
        return f"""#!/bin/sh
if [ "$1" = compose ]; then
    shift
    if [ "$1" = exec ] && [ ! -t 0 ]; then shift; exec docker-compose exec -T "$@"; fi
    exec docker-compose "$@"
fi
exec {DOCKER} "$@"
"""

    def sh(self, script: str, timeout=120) -> str:
        done = run(["bash", "-euo", "pipefail", "-c", script], cwd=self.root, env=self.env, timeout=timeout)
        return done.stdout

    def compose(self, *args, timeout=120) -> str:
        return self.sh("docker compose " + " ".join(args), timeout=timeout)

    def container(self, service: str) -> str:
        found = self.compose("ps", "-q", service).split()
        assert len(found) == 1, f"{service}: containers {found}"
        return found[0]

    def inspect(self, service: str) -> dict:
        return json.loads(run([DOCKER, "inspect", self.container(service)]).stdout)[0]

    def health(self, service: str) -> str:
        return self.inspect(service)["State"].get("Health", {}).get("Status", "none")

    def wait_healthy(self, services=("neo4j", "core", "proxy"), timeout=180) -> None:
        deadline = time.monotonic() + timeout
        while (states := {s: self.health(s) for s in services}) != dict.fromkeys(services, "healthy"):
            assert "unhealthy" not in states.values(), f"{states}\n{self.compose('logs', '--no-color', '--tail=50')}"
            assert time.monotonic() < deadline, f"not healthy within {timeout} s: {states}"
            time.sleep(0.5)

    def secret(self, name: str) -> pathlib.Path:
        return self.root / "deploy" / "compose" / "secrets" / name

    def ca(self) -> ssl.SSLContext:
        """Only the CA make-secrets.sh created is trusted, as the quickstart's curl does."""
        return ssl.create_default_context(cafile=self.secret("ca.pem"))

    def scoped(self, name: str) -> str:
        """The engine's name of the project's network or volume `name`."""
        return f"{self.project}_{name}"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


PROJECT_PREFIX = "mimirtest"


def remove_leftovers() -> None:
    """What a run killed before its `down` left: its containers start again with the engine
    (`restart: unless-stopped`) and would hold port 8443."""
    for listing, remove in ((["container", "ls", "--all", "--format", "{{.Names}}"], ["container", "rm", "--force"]),
                            (["network", "ls", "--format", "{{.Name}}"], ["network", "rm"]),
                            (["volume", "ls", "--format", "{{.Name}}"], ["volume", "rm"])):
        ours = [name for name in run([DOCKER, *listing]).stdout.split() if name.startswith(PROJECT_PREFIX)]
        if ours:
            run([DOCKER, *remove, *ours])


@pytest.fixture(scope="module")
def site(engine, tmp_path_factory):
    remove_leftovers()
    assert not port_open(8443), "something already listens on port 8443, which docker-compose.yml publishes"
    root = tmp_path_factory.mktemp("compose") / "checkout"
    root.mkdir()
    site = Site(root)
    try:
        # Built before the quickstart runs, so that the build is timed alone; its `--build` then
        # finds every layer cached.
        started = time.monotonic()
        site.compose("build", timeout=3600)
        site.measured = [f"image build ({PROFILE} profile): {time.monotonic() - started:.0f} s"]
        started = time.monotonic()
        try:
            out = site.sh(doc_blocks()["compose"], timeout=600)
        except AssertionError as failure:
            logs = run(["bash", "-c", "docker compose logs --no-color --tail=40"], cwd=root, env=site.env, check=False)
            raise AssertionError(f"{failure}\ncontainer logs:\n{logs.stdout}") from None
        # The block ends with `keys create`, which prints the new key.
        key = re.search(r"(mimir_\S+)\s*$", out)
        assert key, f"the quickstart's Compose block printed no API key:\n{out}"
        site.key = key.group(1)
        site.measured.append(f"quickstart Compose block, new volumes, to the first HTTPS answer: {time.monotonic() - started:.1f} s")
        yield site
    finally:
        done = run(["bash", "-c", "docker compose down --volumes --remove-orphans"], cwd=root, env=site.env,
                   check=False, timeout=300)
        assert done.returncode == 0, done.stderr


def report(capsys, *lines) -> None:
    """Measurements go to the terminal even when pytest captures output."""
    with capsys.disabled():
        print("".join(f"\n{line}" for line in lines))


def test_the_image_is_small_and_carries_no_secret(site, capsys):
    size = json.loads(run([DOCKER, "image", "inspect", IMAGE]).stdout)[0]["Size"]
    report(capsys, *site.measured, f"image {IMAGE} ({PROFILE} profile): {size / 1e6:.1f} MB")
    if PROFILE == "dist":
        assert size <= MAX_IMAGE_BYTES, f"{IMAGE} is {size / 1e6:.1f} MB, over {MAX_IMAGE_BYTES / 1e6:.0f} MB"
    # docs/deployment.md, "The image".
    version = run([DOCKER, "run", "--rm", "--network", "none", IMAGE, "mimir-proxy", "--version"]).stdout
    assert version.startswith("mimir-proxy "), version
    # What the image adds is the two programs, the default configuration and an empty data
    # directory: no key, no secret, no state.
    listed = run([DOCKER, "run", "--rm", "--network", "none", "--user", "0", IMAGE, "find",
                  "/usr/local", "/etc/mimir", "/var/lib/mimir", "-type", "f"]).stdout.split()
    assert sorted(listed) == ["/etc/mimir/config/policy.toml", "/etc/mimir/config/rbac.json",
                              "/etc/mimir/config/routes.toml", "/usr/local/bin/mimir-core",
                              "/usr/local/bin/mimir-proxy"], listed
    # No key or certificate file anywhere but the system's CA store, and none of the build host's
    # extra CAs (base-images.sh gives them to the build stage only).
    found = run([DOCKER, "run", "--rm", "--network", "none", "--user", "0", IMAGE, "find", "/", "-xdev", "-type", "f",
                 "(", "-name", "*.key", "-o", "-name", "*.pem", "-o", "-name", "*.crt", "-o", "-name", "*.p12", ")",
                 "-not", "-path", "/etc/ssl/certs/*", "-not", "-path", "/usr/share/ca-certificates/*"]).stdout
    assert not found.strip(), f"key or certificate files in the image:\n{found}"


def mcp_session(site: Site, body):
    async def session():
        with anyio.fail_after(60):
            headers = {"Authorization": f"Bearer {site.key}"}
            async with httpx2.AsyncClient(verify=site.ca(), headers=headers, timeout=30) as http:
                async with streamable_http_client(f"{HTTPS}/mcp", http_client=http) as (read, write):
                    async with ClientSession(read, write) as client:
                        await client.initialize()
                        return await body(client)

    return anyio.run(session)


async def tool(client, name, arguments) -> dict:
    result = await client.call_tool(name, arguments)
    assert not result.is_error and len(result.content) == 1, result
    return json.loads(result.content[0].text)


def wait_for_key(site: Site) -> None:
    """The running proxy picks up the key `keys create` wrote within a second or so."""
    deadline = time.monotonic() + 15
    with httpx.Client(base_url=HTTPS, verify=site.ca()) as client:
        while (status := client.get("/api/nodes/types", headers={"Authorization": f"Bearer {site.key}"}).status_code) != 200:
            assert status == 401 and time.monotonic() < deadline, status
            time.sleep(0.2)


def test_an_mcp_tool_answers_through_the_published_https_port(site):
    wait_for_key(site)

    async def body(client):
        assert "memory_node" in {t.name for t in (await client.list_tools()).tools}
        added = await tool(client, "memory_node", {"operation": "add", "type": "memory",
                                                   "properties": {"title": "in compose"}})
        return added["node"]["id"]

    site.node_id = mcp_session(site, body)


def test_only_the_https_port_is_published(site):
    published = {service: site.inspect(service)["NetworkSettings"]["Ports"] or {} for service in ("neo4j", "core", "proxy")}
    bound = {service: {port for port, binding in ports.items() if binding} for service, ports in published.items()}
    assert bound == {"neo4j": set(), "core": set(), "proxy": {"8443/tcp"}}, published
    # The core's and the admin listener's ports answer nowhere on the host.
    for port in (8081, 9090, 7687, 7474):
        assert not port_open(port), f"port {port} is reachable on the host"


def test_the_core_is_out_of_reach_and_has_no_route_out(site):
    core = site.inspect("core")["NetworkSettings"]["Networks"]
    assert set(core) == {site.scoped("backend")}, core
    core_ip = core[site.scoped("backend")]["IPAddress"]
    proxy_ip = site.inspect("proxy")["NetworkSettings"]["Networks"][site.scoped("frontend")]["IPAddress"]
    # A container on the proxy's public network reaches the proxy (the control) but not the core,
    # neither by name nor by address.
    probe = run([DOCKER, "run", "--rm", "--network", site.scoped("frontend"), "-v", f"{site.secret('ca.pem')}:/ca.pem:ro",
                 IMAGE, "sh", "-c",
                 f"curl -sS --max-time 5 --cacert /ca.pem --resolve localhost:8443:{proxy_ip} https://localhost:8443/health"
                 f" && echo; curl -sS --max-time 5 http://core:8081/health && echo CORE-BY-NAME;"
                 f" curl -sS --max-time 5 http://{core_ip}:8081/health && echo CORE-BY-ADDRESS; true"])
    assert '"healthy"' in probe.stdout, probe.stdout + probe.stderr
    assert "CORE-BY" not in probe.stdout, probe.stdout
    # The backend network is internal: no name outside it resolves from the core.
    out = run([DOCKER, "exec", site.container("core"), "curl", "-sS", "--max-time", "5", "http://deb.debian.org/"], check=False)
    assert out.returncode != 0, "the core reached a host outside the backend network"


def test_containers_run_as_non_root_on_read_only_roots(site):
    for service, user in (("neo4j", "7474"), ("core", "10001"), ("proxy", "10001")):
        info = site.inspect(service)
        assert info["Config"]["User"] == f"{user}:{user}", service
        host = info["HostConfig"]
        assert host["ReadonlyRootfs"] is True, service
        assert host["CapDrop"] == ["ALL"] and "no-new-privileges:true" in host["SecurityOpt"], service
        assert host["PidsLimit"] and host["Memory"] and host["NanoCpus"], f"{service} runs without limits"
        ids = run([DOCKER, "exec", site.container(service), "id", "-u"]).stdout.strip()
        assert ids == user, f"{service} runs as uid {ids}"
        written = run([DOCKER, "exec", site.container(service), "touch", "/written"], check=False)
        assert written.returncode != 0 and "Read-only file system" in written.stderr, f"{service}: {written.stderr}"


def test_secrets_are_read_from_files(site):
    values = {name: site.secret(file).read_text().strip() for name, file in SECRET_FILES.items()}
    for service, names in (("neo4j", {"neo4j_auth"}), ("core", {"neo4j_password", "identity_public_key"}),
                           ("proxy", {"tls_cert", "tls_key", "token_signing_key", "identity_signing_key"})):
        info = site.inspect(service)
        mounts = {m["Destination"]: m for m in info["Mounts"]}
        for name in names:
            mount = mounts.get(f"/run/secrets/{name}")
            assert mount and mount["Source"] == str(site.secret(SECRET_FILES[name])), f"{service}: {name} {mount}"
        environment = "\n".join(info["Config"]["Env"])
        for name, value in values.items():
            for line in value.splitlines():
                if len(line) > 8 and "-----" not in line:
                    assert line not in environment, f"{service}: the value of {name} is in its environment"
    # What the core verifies assertions with is the mounted file.
    mounted = run([DOCKER, "exec", site.container("core"), "cat", "/run/secrets/identity_public_key"]).stdout
    assert mounted.strip() == values["identity_public_key"]


def audit_records(site: Site) -> list:
    """The proxy's audit file, read from its volume by a container of the image, after
    `mimir-proxy audit verify` has accepted its chain."""
    script = ("mimir-proxy audit verify /var/lib/mimir/audit/audit.log >&2 && cat /var/lib/mimir/audit/audit.log")
    out = run([DOCKER, "run", "--rm", "--network", "none", "--user", "10001:10001",
               "-v", f"{site.scoped('proxy-state')}:/var/lib/mimir:ro", IMAGE, "sh", "-c", script])
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_sigterm_loses_no_audit_record_and_data_survives_a_new_up(site, capsys):
    if not hasattr(site, "node_id"):
        pytest.fail("no node was created through MCP (test_an_mcp_tool_answers_through_the_published_https_port)")
    marker = f"sigterm-{uuid.uuid4().hex[:12]}"
    # Within the shipped per-group rate limit's burst.
    sent = 12
    with httpx.Client(base_url=HTTPS, verify=site.ca(), headers={"Authorization": f"Bearer {site.key}"}) as client:
        for n in range(sent):
            answer = client.get("/api/nodes/types", headers={"X-Request-ID": f"{marker}-{n}"})
            assert answer.status_code == 200, answer.text
    # The audit trail is asynchronous (deploy/compose/policy.toml): right after the last answer,
    # SIGTERM must flush what is still queued. `down` is `stop` (SIGTERM, SIGKILL after 10 s)
    # then removal; stopping first lets the exit codes show that nothing needed SIGKILL.
    site.compose("stop", timeout=120)
    for service in ("core", "proxy"):
        state = site.inspect(service)["State"]
        assert state["ExitCode"] in (0, 143) and not state["OOMKilled"], f"{service} stopped with {state}"
    site.compose("down", timeout=120)

    records = audit_records(site)
    ours = [r for r in records if r.get("trace.id", "").startswith(marker)]
    assert len(ours) == sent, f"{len(ours)} of {sent} audit records after SIGTERM"
    assert all(r["event.action"] == "http-request" and r["url.path"] == "/api/nodes/types" for r in ours)

    started = time.monotonic()
    site.compose("up", "-d", timeout=300)
    site.wait_healthy()
    report(capsys, f"`docker compose up -d` to all services healthy, volumes kept: {time.monotonic() - started:.1f} s")

    async def body(client):
        return await tool(client, "memory_node", {"operation": "get", "id": site.node_id})

    found = mcp_session(site, body)
    assert found["node"]["properties"]["title"] == "in compose", found
    # docs/deployment.md's check, in the running proxy: the chain goes on across the restart.
    site.compose("exec", "proxy", "mimir-proxy", "audit", "verify", "/var/lib/mimir/audit/audit.log")
