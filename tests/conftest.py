"""Runs the real mimir-core and mimir-proxy binaries for the end-to-end suites (tests/mcp, tests/browser).

The binary is not built here: set MIMIR_CORE_BIN (default target/debug/mimir-core, built by
`cargo build -p mimir-core`). Each core gets a free 127.0.0.1 port, its own data directory, and
an index root with a few files (some of them sensitive, one binary, one outside the root).
"""

import contextlib
import os
import pathlib
import socket
import subprocess
import time
import urllib.request

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

# The contract (`mimir_core::mcp::TOOL_NAMES`); the proxy's per-tool rules use these names.
TOOL_NAMES = frozenset({
    "memory_node", "memory_edge", "memory_batch", "memory_lock", "todo", "todo_list", "get_task_context",
    "memory_clear", "vector_search_nodes", "get_embedding_stats", "index_folder", "remove_folder", "list_folders",
})
CORE_BIN = pathlib.Path(os.environ.get("MIMIR_CORE_BIN", REPO / "target" / "debug" / "mimir-core"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A child process that is ready once `ready_url` answers 200; `stop` terminates it."""

    name = "service"

    def __init__(self, log: pathlib.Path):
        self.log = log
        self.process = None

    @property
    def url(self) -> str:
        """The MCP endpoint under `base`, which each service defines."""
        return f"{self.base}/mcp"

    def spawn(self, argv, env, ready_url: str) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail(f"{self.name} did not become ready within 30 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class Core(Service):
    """One mimir-core process; `start` again after `stop` reuses the same data directory."""

    name = "mimir-core"

    def __init__(self, data_dir: pathlib.Path, index_root: pathlib.Path, log: pathlib.Path):
        super().__init__(log)
        self.data_dir, self.index_root = data_dir, index_root
        self.port = None
        # Set before `start`, e.g. the proxy's public key for identity assertions.
        self.extra_env = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not CORE_BIN.is_file():
            pytest.fail(f"mimir-core binary not found at {CORE_BIN}: run `cargo build -p mimir-core` or set MIMIR_CORE_BIN")
        self.port = free_port()
        env = {
            **os.environ,
            "MIMIR_CORE_BIND": f"127.0.0.1:{self.port}",
            "MIMIR_DATA_DIR": str(self.data_dir),
            "MIMIR_INDEX_ROOTS": str(self.index_root),
            "RUST_LOG": "warn",
        }
        env.pop("MIMIR_ALLOWED_ORIGINS", None)
        env.update(self.extra_env)
        self.spawn([str(CORE_BIN)], env, f"{self.base}/health")


@pytest.fixture(scope="session")
def tool_names() -> frozenset:
    return TOOL_NAMES


@pytest.fixture(scope="session")
def index_root(tmp_path_factory) -> pathlib.Path:
    """<root>/docs with three text files, sensitive files and a binary; <root>/../outside."""
    base = tmp_path_factory.mktemp("index")
    root = base / "root"
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "readme.md").write_text("# Mimir readme\nThe gateway protects the knowledge graph.\n")
    (docs / "guide.txt").write_text("Operators rotate keys every quarter.\n")
    (docs / "sub" / "deep.md").write_text("Nested notes about tokio runtimes.\n")
    (docs / ".env").write_text("DATABASE_PASSWORD=hunter2\n")
    (docs / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (docs / "server.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (docs / "blob.bin").write_bytes(bytes([0xFF, 0xFE, 0x00, 0x81]))
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside the root\n")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    return root


def make_core(tmp_path_factory, index_root, name: str) -> Core:
    base = tmp_path_factory.mktemp(name)
    data = base / "data"
    data.mkdir()
    return Core(data, index_root, base / "core.log")


@pytest.fixture(scope="session")
def core(tmp_path_factory, index_root):
    """A core shared by the tests that do not restart it."""
    instance = make_core(tmp_path_factory, index_root, "core")
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def fresh_core(tmp_path_factory, index_root):
    """A core of the test's own, which the test may stop and start."""
    instance = make_core(tmp_path_factory, index_root, "fresh")
    yield instance
    instance.stop()


PROXY_BIN = pathlib.Path(os.environ.get("MIMIR_PROXY_BIN", REPO / "target" / "debug" / "mimir-proxy"))


class Proxy(Service):
    """One mimir-proxy process with a freshly generated dev CA, in front of `upstream_port`.
    `extra_toml` is appended to its policy file (e.g. an `[auth]` section)."""

    name = "mimir-proxy"

    def __init__(self, workdir: pathlib.Path, upstream_port: int, extra_toml: str = ""):
        super().__init__(workdir / "proxy.log")
        self.workdir, self.upstream_port, self.extra_toml = workdir, upstream_port, extra_toml
        self.port, self.admin_port = free_port(), free_port()
        self.ca = workdir / "certs" / "ca.pem"
        self.config = workdir / "policy.toml"

    @property
    def base(self) -> str:
        # `localhost` so the certificate's DNS name is what the client verifies.
        return f"https://localhost:{self.port}"

    def write_config(self) -> None:
        if not PROXY_BIN.is_file():
            pytest.fail(f"mimir-proxy binary not found at {PROXY_BIN}: run `cargo build -p mimir-proxy` or set MIMIR_PROXY_BIN")
        certs = self.workdir / "certs"
        if not self.ca.is_file():
            subprocess.run([str(PROXY_BIN), "gen-certs", "--dir", str(certs)], check=True, capture_output=True)
        self.config.write_text(
            f'[server]\nlisten = "127.0.0.1:{self.port}"\nadmin_listen = "127.0.0.1:{self.admin_port}"\n'
            f'grace_period_seconds = 1\n'
            f'[tls]\ncert = "{certs / "server.pem"}"\nkey = "{certs / "server.key"}"\n'
            f'[upstream]\naddress = "127.0.0.1:{self.upstream_port}"\n'
            f'[log]\nlevel = "warn"\n{self.extra_toml}'
        )

    def create_key(self, name: str, roles: str) -> str:
        """An API key made with `mimir-proxy keys create` (the config needs an `[auth]` keys_file)."""
        self.write_config()
        out = subprocess.run([str(PROXY_BIN), "keys", "create", "--config", str(self.config), "--name", name,
                              "--roles", roles, "--expires", "1d"],
                             env=proxy_env(), check=True, capture_output=True, text=True).stdout
        key = out.strip()
        if not key.startswith("mimir_") or len(key.split()) != 1:
            pytest.fail(f"no key in the output of `keys create`: {out!r}")
        return key

    def start(self) -> None:
        self.write_config()
        self.spawn([str(PROXY_BIN), "run", "--config", str(self.config)], proxy_env(),
                   f"http://127.0.0.1:{self.admin_port}/readyz")


def proxy_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("MIMIR_")}


def auth_toml(workdir: pathlib.Path) -> str:
    """Authentication on, with the keys and lockdown files in `workdir`."""
    return f'[auth]\nkeys_file = "{workdir / "keys.json"}"\nlockdown_file = "{workdir / "lockdown"}"\n'


def policy_toml() -> str:
    """`[authz]` naming the repository's shipped policy by absolute path."""
    return f'[authz]\nrbac = "{REPO / "config" / "rbac.json"}"\nroutes = "{REPO / "config" / "routes.toml"}"\n'


@pytest.fixture(scope="session")
def proxy(tmp_path_factory, core):
    """The real proxy over HTTPS in front of the shared core, authentication on; `api_key` is an
    admin key created with the CLI."""
    workdir = tmp_path_factory.mktemp("proxy")
    instance = Proxy(workdir, core.port, extra_toml=auth_toml(workdir) + policy_toml())
    instance.api_key = instance.create_key("mcp-tests", "admin")
    instance.start()
    yield instance
    instance.stop()


IDP_DIR = REPO / "tests" / "idp"
# The audience of the test provider's client-credentials access tokens.
IDP_RESOURCE = "https://mimir.test"


@contextlib.contextmanager
def running_idp(resource: str):
    """A real OpenID provider (tests/idp/idp.mjs, oidc-provider) on a free loopback port whose
    access tokens carry `resource` as audience; yields its issuer URL. Needs tests/idp/install.sh;
    MIMIR_TEST_NODE names the node binary."""
    if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("oidc-provider is not installed: run tests/idp/install.sh")
    node = os.environ.get("MIMIR_TEST_NODE", "node")
    process = subprocess.Popen([node, str(IDP_DIR / "idp.mjs"), str(free_port()), resource],
                               cwd=IDP_DIR, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline().strip()
    if not line.startswith("ready "):
        process.kill()
        pytest.fail(f"the OpenID provider did not start: {line!r}")
    try:
        yield line.removeprefix("ready ")
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def idp():
    """The test OpenID provider for IDP_RESOURCE, shared by the session."""
    with running_idp(IDP_RESOURCE) as issuer:
        yield issuer
