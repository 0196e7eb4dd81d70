"""docs/quickstart.md as the tests run it. Every fenced block of the page follows a
`<!-- quickstart: NAME -->` comment; the tests take blocks by name and run them as written, with
only the page's ports (8443, 9090, 8081) and the placeholders they name replaced."""

import os
import pathlib
import re
import ssl
import subprocess
import tomllib

import httpx

from conftest import Service, free_port, proxy_env

REPO = pathlib.Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "quickstart.md"
TARGET = REPO / "target" / "debug"
BINARIES = {
    "mimir-gate": pathlib.Path(os.environ.get("MIMIR_GATE_BIN", TARGET / "mimir-gate")),
    "mimir-core": pathlib.Path(os.environ.get("MIMIR_CORE_BIN", TARGET / "mimir-core")),
    "mimir-proxy": pathlib.Path(os.environ.get("MIMIR_PROXY_BIN", TARGET / "mimir-proxy")),
}
BLOCK = re.compile(r"<!-- quickstart: ([\w-]+) -->\n```(\w+)\n(.*?)```", re.S)


def under_ci() -> bool:
    return os.environ.get("CI", "") not in ("", "false")


def doc_blocks() -> dict:
    """NAME → text of every marked block; a fenced block without a marker is an error."""
    text = DOC.read_text()
    found = {name: body for name, _lang, body in BLOCK.findall(text)}
    fences = len(re.findall(r"^```\w+$", text, re.M))
    assert fences == len(found), f"{DOC}: {fences - len(found)} fenced block(s) without a quickstart marker"
    return found


class Gate(Service):
    name = "mimir-gate"


def exec_last_command(script: str) -> str:
    """The script with its last command (after any VAR=value prefixes) run by `exec`, so that
    stopping the shell stops the server it started."""
    lines = script.replace("\\\n", " ").strip().splitlines()
    lines[-1] = re.sub(r"^((?:[A-Za-z_][A-Za-z0-9_]*=\S+\s+)*)", r"\1exec ", lines[-1])
    return "\n".join(lines)


class Quickstart:
    """A fresh directory holding only the checkout's config/ and nginx-compat/ (the page's
    relative paths start there) where the page's blocks run, with the binaries under test on
    PATH and free ports in place of the page's."""

    def __init__(self, root: pathlib.Path):
        for binary in BINARIES.values():
            assert binary.is_file(), f"{binary} not found: run `cargo build --workspace --bins`"
        self.root = root
        bin_dir = root / "bin"
        bin_dir.mkdir()
        for name, binary in BINARIES.items():
            (bin_dir / name).symlink_to(binary)
        self.ports = {"8443": free_port(), "9090": free_port(), "8081": free_port()}
        # The page's listeners are the policy file's and the core's defaults; only the ports
        # differ, so that tests can run side by side.
        self.env = proxy_env() | {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "MIMIR_PROXY_LISTEN": f"127.0.0.1:{self.ports['8443']}",
            "MIMIR_PROXY_ADMIN_LISTEN": f"127.0.0.1:{self.ports['9090']}",
            "MIMIR_CORE_BIND": f"127.0.0.1:{self.ports['8081']}",
            "MIMIR_UPSTREAM": f"127.0.0.1:{self.ports['8081']}",
        }
        self.gate = None
        self.starts = 0

    def script(self, name: str, replace: dict = None) -> str:
        text = re.sub(r":(8443|9090|8081)\b", lambda m: f":{self.ports[m.group(1)]}", doc_blocks()[name])
        for old, new in (replace or {}).items():
            assert old in text, f"the quickstart's {name!r} block no longer has {old!r}"
            text = text.replace(old, new)
        return text

    def run(self, name: str, replace: dict = None, env: dict = None) -> str:
        """Runs a block to completion (failing on any failed command); its standard output."""
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", self.script(name, replace)], cwd=self.root,
                              env=self.env | (env or {}), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"quickstart block {name!r} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, name: str, replace: dict = None) -> Gate:
        """Starts a block whose last command is the server, as a second terminal would."""
        self.stop()
        self.starts += 1
        self.gate = Gate(self.root / f"{name}-{self.starts}.log")
        self.gate.spawn(["bash", "-c", exec_last_command(self.script(name, replace))], self.env,
                        f"http://127.0.0.1:{self.ports['9090']}/readyz")
        return self.gate

    def stop(self) -> None:
        if self.gate:
            self.gate.stop()
            self.gate = None

    def client(self) -> httpx.Client:
        """Like the page's `curl --cacert certs/dev/ca.pem`: only the generated CA is trusted."""
        context = ssl.create_default_context(cafile=self.root / "certs" / "dev" / "ca.pem")
        return httpx.Client(base_url=f"https://localhost:{self.ports['8443']}", verify=context)

    def password(self, user: str) -> str:
        """The development user's password, printed by the running gate."""
        log = self.gate.log.read_text()
        found = re.search(rf"^\s+{user}\s+(\S+)\s+roles:", log, re.MULTILINE)
        assert found, f"no password printed for {user}: {log[-2000:]}"
        return found.group(1)

    def token(self, user: str) -> str:
        with self.client() as client:
            answer = client.post("/auth/login", json={"username": user, "password": self.password(user)})
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]


def apply_toml(path: pathlib.Path, snippet: str) -> None:
    """Edits a copy of config/policy.toml as the page says: the snippet's keys replace those of
    the file's existing tables, its arrays of tables are appended. The result must read back with
    every value of the snippet."""
    text = path.read_text()
    for section in re.split(r"(?m)^(?=\[)", snippet.strip()):
        header, _, body = section.partition("\n")
        if header.startswith("[["):
            text += "\n" + section
            continue
        start = text.index(f"\n{header}\n") + 1
        following = re.compile(r"(?m)^\[").search(text, start + len(header))
        end = following.start() if following else len(text)
        table = text[start:end]
        for line in filter(str.strip, body.splitlines()):
            key = line.split("=", 1)[0].strip()
            table, replaced = re.subn(rf"(?m)^{re.escape(key)}\s*=.*$", lambda _m, line=line: line, table, count=1)
            assert replaced == 1, f"{path} has no {key} in {header}"
        text = text[:start] + table + text[end:]
    path.write_text(text)
    assert_contains(tomllib.loads(text), tomllib.loads(snippet), path.name)


def assert_contains(actual, expected, where: str) -> None:
    if isinstance(expected, dict):
        for key, value in expected.items():
            assert key in actual, f"{where}: no {key}"
            assert_contains(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list) and expected and isinstance(expected[0], dict):
        for item in expected:
            assert item in actual, f"{where}: {item} missing"
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"
