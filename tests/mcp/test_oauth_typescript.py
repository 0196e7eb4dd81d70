"""End-to-end: the official TypeScript MCP SDK (tests/mcp_ts) signs in through the gateway's
OAuth authorization server as a client identified by a Client ID Metadata Document — its
client_id is the https URL of a JSON document this test serves, which the gateway fetches
instead of any registration. The person's part (dev-user sign-in, Allow) is played headlessly
by tests/mcp_ts/oauth_client.mjs; then the SDK lists and calls tools.

Needs node and tests/mcp_ts/install.sh (MIMIR_TEST_NODE names the node binary). Without the
packages the test is skipped, except under CI, where it fails."""

import http.server
import json
import os
import pathlib
import ssl
import subprocess
import threading

import pytest

from conftest import PROXY_BIN, REPO, Proxy, auth_toml, free_port, policy_toml, proxy_env

TS_DIR = REPO / "tests" / "mcp_ts"
DEV_USER = ("alice", "Alice-pass-1")


def need_ts_sdk() -> str:
    """The node binary, once the SDK is installed; skip (fail under CI) otherwise."""
    node = os.environ.get("MIMIR_TEST_NODE", "node")
    missing = []
    if not (TS_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        missing.append("tests/mcp_ts/node_modules (run tests/mcp_ts/install.sh)")
    try:
        subprocess.run([node, "--version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        missing.append(f"node ({node!r}; MIMIR_TEST_NODE names it)")
    if missing:
        message = "the TypeScript MCP SDK test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return node


class DevUserProxy(Proxy):
    """A proxy whose process knows the dev user `alice` (developer)."""

    def start(self) -> None:
        self.write_config()
        env = {**proxy_env(), "MIMIR_DEV_USER_ALICE": f"{DEV_USER[0]}:{DEV_USER[1]}:developer"}
        self.spawn([str(PROXY_BIN), "run", "--config", str(self.config)], env,
                   f"http://127.0.0.1:{self.admin_port}/readyz")


class DocumentServer:
    """Serves one Client ID Metadata Document over HTTPS on 127.0.0.1 (certificate for
    `localhost` from its own CA) and records the requests for it."""

    def __init__(self, certs: pathlib.Path, redirect_uri: str):
        self.port = free_port()
        self.url = f"https://localhost:{self.port}/oauth/client.json"
        self.document = {
            "client_id": self.url,
            "client_name": "TypeScript SDK test agent",
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append({"path": self.path, "accept": self.headers.get("Accept")})
                if self.path != "/oauth/client.json":
                    self.send_error(404)
                    return
                body = json.dumps(outer.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs / "server.pem", certs / "server.key")
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def cimd_setup(tmp_path_factory, core):
    """A gateway that may fetch documents from loopback, trusting only the document server's CA."""
    node = need_ts_sdk()
    workdir = tmp_path_factory.mktemp("ts-oauth-proxy")
    doc_certs = workdir / "document-certs"
    subprocess.run([str(PROXY_BIN), "gen-certs", "--dir", str(doc_certs)], check=True, capture_output=True)
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    documents = DocumentServer(doc_certs, redirect_uri)
    proxy = DevUserProxy(workdir, core.port, extra_toml=(
        auth_toml(workdir)
        + f'[oauth]\nallow_private_document_hosts = true\ndocument_ca_file = "{doc_certs / "ca.pem"}"\n'
        + '[traffic]\nrate_limits = false\n'
        + policy_toml()
    ))
    proxy.start()
    # Node trusts the gateway's CA and the document server's (one bundle, both certificates).
    bundle = workdir / "ca-bundle.pem"
    bundle.write_text(proxy.ca.read_text() + (doc_certs / "ca.pem").read_text())
    yield {"node": node, "proxy": proxy, "documents": documents, "redirect_uri": redirect_uri, "ca": bundle}
    proxy.stop()
    documents.close()


def run_ts_client(setup) -> dict:
    proxy, documents = setup["proxy"], setup["documents"]
    env = {**proxy_env(), "NODE_EXTRA_CA_CERTS": str(setup["ca"])}
    argv = [setup["node"], str(TS_DIR / "oauth_client.mjs"), "--server", proxy.url,
            "--client-metadata-url", documents.url, "--redirect-uri", setup["redirect_uri"],
            "--username", DEV_USER[0], "--password", DEV_USER[1]]
    try:
        done = subprocess.run(argv, cwd=TS_DIR, env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the TypeScript client did not finish within 60 s: {e.stderr}")
    if done.returncode != 0:
        pytest.fail(f"the TypeScript client failed ({done.returncode}):\n{done.stderr[-3000:]}\n"
                    f"gateway log: {proxy.log.read_text()[-2000:]}")
    return json.loads(done.stdout)


def test_typescript_sdk_signs_in_with_a_client_id_metadata_document(cimd_setup, tool_names):
    documents = cimd_setup["documents"]
    summary = run_ts_client(cimd_setup)

    # The SDK used the document URL as its client_id (no dynamic registration) ...
    assert summary["client_id"] == documents.url, summary
    assert summary["authorization_client_id"] == documents.url
    # ... and the gateway fetched the document to learn the client's name and redirect URIs.
    assert any(r["path"] == "/oauth/client.json" for r in documents.requests), documents.requests
    consent = summary["consent_text"]
    assert documents.document["client_name"] in consent and documents.url in consent, consent
    assert "not from the document" not in consent
    assert summary["first_connect_error"] == "UnauthorizedError"
    assert summary["code_challenge_method"] == "S256"
    # RFC 8707: the resource the protected-resource metadata names, the gateway's origin.
    assert summary["resource"] == cimd_setup["proxy"].base
    assert summary["iss"] == cimd_setup["proxy"].base
    assert summary["token_type"].lower() == "bearer" and summary["has_refresh_token"]

    # Alice is a developer: every tool but the admin-only memory_clear.
    assert set(summary["tools"]) == tool_names - {"memory_clear"}
    call = summary["call"]
    assert not call["is_error"], call
    assert call["result"]["success"] is not False, call
    assert call["result"]["node"]["properties"]["title"] == "via ts"
    assert call["result"]["node"].get("created_by") == "dev|alice"
