"""End-to-end: an MCP SDK client authenticates to the proxy with a client-credentials access
token from a real OpenID provider (oidc-provider, tests/idp) and reaches the core; without a
token, or with a forged one, it gets 401 and the Bearer challenge.

Needs node with tests/idp/install.sh done (MIMIR_TEST_NODE names the node binary)."""

import base64
import json
import urllib.parse
import urllib.request

import httpx2
import pytest

from conftest import IDP_RESOURCE as RESOURCE, Proxy
from test_mcp_sdk import ok, run
from test_through_proxy import tls_context, with_session


@pytest.fixture(scope="module")
def auth_proxy(tmp_path_factory, core, idp):
    workdir = tmp_path_factory.mktemp("auth-proxy")
    instance = Proxy(workdir, core.port, extra_toml=(
        f'[auth]\nresource = "{RESOURCE}"\n'
        f'keys_file = "{workdir / "keys.json"}"\nlockdown_file = "{workdir / "lockdown"}"\n'
        f'[[auth.issuers]]\nissuer = "{idp}"\nalgorithms = ["RS256"]\nrole_claims = ["realm_access.roles"]\n'
    ))
    instance.start()
    yield instance
    instance.stop()


def client_credentials_token(issuer: str) -> str:
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": RESOURCE, "scope": "mcp"})
    request = urllib.request.Request(f"{issuer}/token", data=form.encode(), method="POST")
    basic = base64.b64encode(b"mcp-agent:agent-secret").decode()
    request.add_header("Authorization", f"Basic {basic}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


def test_sdk_with_client_credentials_token(auth_proxy, idp, tool_names):
    token = client_credentials_token(idp)

    async def body(session):
        listed = await session.list_tools()
        # The token carries the developer role: every tool but the admin-only memory_clear.
        assert {tool.name for tool in listed.tools} == tool_names - {"memory_clear"}
        added = await ok(session, "memory_node", {"operation": "add", "type": "memory",
                                                  "properties": {"title": "via idp token"}})
        # The core attributes the write to the token's subject qualified by its source (by
        # default the issuer's host and port), injected by the proxy.
        source = urllib.parse.urlsplit(idp).netloc
        assert added["node"].get("created_by") == f"{source}|mcp-agent"

    run(lambda: with_session(auth_proxy, body, headers={"Authorization": f"Bearer {token}"}))


@pytest.mark.parametrize("authorization", [None, "Bearer not.a.jwt", "Basic bWNwOnNlY3JldA=="])
def test_sdk_without_valid_token_gets_the_challenge(auth_proxy, authorization):
    async def body():
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        async with httpx2.AsyncClient(verify=tls_context(auth_proxy), timeout=10) as http:
            response = await http.post(auth_proxy.url, headers=headers,
                                       content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        assert response.status_code == 401
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith('Bearer realm="mimir", resource_metadata="https://')
        assert challenge.split('resource_metadata="')[1].split('"')[0].endswith("/.well-known/oauth-protected-resource")
        assert ('error="invalid_token"' in challenge) == (authorization is not None)

    run(body)
