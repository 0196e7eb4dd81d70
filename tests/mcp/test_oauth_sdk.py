"""End-to-end: the official MCP Python SDK signs in by itself through the gateway's OAuth
authorization server — discovery, dynamic registration, authorization code with PKCE, consent,
token — with a person's part played by Debian's chromium (Playwright): once as a dev user, once
brokered to a real OpenID provider (tests/idp, oidc-provider). Then it lists and calls tools,
its access token is renewed with the refresh token, and a revoked grant stops working.

Needs chromium at /usr/bin/chromium and node with tests/idp/install.sh done."""

import http.server
import json
import subprocess
import threading
import time
import urllib.parse

import anyio
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from playwright.async_api import async_playwright

from conftest import PROXY_BIN, Proxy, auth_toml, free_port, policy_toml, proxy_env
from test_mcp_sdk import ok, run
from test_through_proxy import tls_context

CHROMIUM = "/usr/bin/chromium"
DEV_USER = ("alice", "Alice-pass-1")


class DevUserProxy(Proxy):
    """A proxy whose process knows the dev user `alice` (developer)."""

    def start(self) -> None:
        self.write_config()
        env = {**proxy_env(), "MIMIR_DEV_USER_ALICE": f"{DEV_USER[0]}:{DEV_USER[1]}:developer"}
        self.spawn([str(PROXY_BIN), "run", "--config", str(self.config)], env,
                   f"http://127.0.0.1:{self.admin_port}/readyz")


@pytest.fixture(scope="module")
def oauth_proxy(tmp_path_factory, core, idp):
    """Access tokens live 2 s so that the SDK has to renew them within the test."""
    workdir = tmp_path_factory.mktemp("oauth-proxy")
    instance = DevUserProxy(workdir, core.port, extra_toml=(
        auth_toml(workdir)
        + f'[[auth.providers]]\nid = "testidp"\ndisplay_name = "Test IdP"\nissuer = "{idp}"\nsource = "testidp"\n'
          f'client_id = "mimir-web"\nclient_secret = "web-secret"\nscopes = ["roles"]\nrole_claims = ["roles"]\n'
        + '[oauth]\naccess_token_seconds = 2\n'
        + f'[audit]\nenabled = true\ndestinations = ["file"]\n[audit.file]\npath = "{workdir / "audit.log"}"\n'
        + '[traffic]\nrate_limits = false\n'
        + policy_toml()
    ))
    instance.start()
    yield instance
    instance.stop()


class Callback:
    """The client's loopback redirect URI (RFC 8252), as MCP desktop clients run it."""

    def __init__(self):
        self.port = free_port()
        self.result = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                outer.result = query
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"signed in; you can close this window")

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    async def wait(self) -> AuthorizationCodeResult:
        with anyio.fail_after(30):
            while self.result is None:
                await anyio.sleep(0.05)
        if "code" not in self.result:
            pytest.fail(f"the authorization server answered with an error: {self.result}")
        return AuthorizationCodeResult(code=self.result["code"], state=self.result.get("state"),
                                       iss=self.result.get("iss"))

    def close(self):
        self.server.shutdown()


class Storage:
    def __init__(self):
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


async def sign_in_with_dev_user(page):
    await page.locator("#username").fill(DEV_USER[0])
    await page.locator("#password").fill(DEV_USER[1])
    await page.get_by_role("button", name="Sign in").click()


async def sign_in_at_the_provider(page):
    await page.get_by_role("link", name="Sign in with Test IdP").click()
    # The provider's alice (a developer there), not the dev user of the same name.
    await page.locator("input[name=login]").fill("alice")
    await page.locator("input[name=password]").fill("anything")
    await page.get_by_role("button", name="Sign-in").click()
    await page.get_by_role("button", name="Continue").click()


async def oauth_session(proxy, sign_in, body, seen: dict, storage: Storage):
    """An SDK session that signs in through `proxy` with chromium doing the person's part
    (`sign_in` on the gateway's login page, then Allow on the consent page); the SDK keeps its
    registration and tokens in `storage`."""
    callback = Callback()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(ignore_https_errors=True)

        async def only_loopback(route):
            host = urllib.parse.urlsplit(route.request.url).hostname
            await (route.continue_() if host in ("localhost", "127.0.0.1") else route.abort())

        await context.route("**/*", only_loopback)
        page = await context.new_page()

        async def redirect_handler(url: str) -> None:
            seen["authorize"] = url
            await page.goto(url)
            assert urllib.parse.urlsplit(page.url).path == "/login"
            await sign_in(page)
            await page.wait_for_selector("#allow")
            seen["consent"] = await page.content()
            await page.locator("#allow").click()

        provider = OAuthClientProvider(
            server_url=proxy.url,
            client_metadata=OAuthClientMetadata(
                client_name="SDK test agent", redirect_uris=[callback.uri],
                grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                token_endpoint_auth_method="none"),
            storage=storage, redirect_handler=redirect_handler, callback_handler=callback.wait)
        try:
            async with httpx2.AsyncClient(verify=tls_context(proxy), auth=provider, timeout=30) as http:
                async with streamable_http_client(proxy.url, http_client=http) as (read, write):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
                        await body(session, storage)
        finally:
            callback.close()
            await browser.close()


def token_request(proxy, form: dict) -> tuple[int, dict]:
    async def post():
        async with httpx2.AsyncClient(verify=tls_context(proxy), timeout=10) as http:
            response = await http.post(f"{proxy.base}/token", data=form)
            return response.status_code, response.json()
    return anyio.run(post)


def status_with(proxy, token: str) -> int:
    async def get():
        async with httpx2.AsyncClient(verify=tls_context(proxy), timeout=10) as http:
            response = await http.get(f"{proxy.base}/api/nodes/types",
                                      headers={"Authorization": f"Bearer {token}"})
            return response.status_code
    return anyio.run(get)


def audit_actions(proxy, user: str) -> list:
    """`event.action` of the authorization server's records about `user` (or its client), in
    chain order, once the writer has caught up."""
    records = []
    for _ in range(50):
        lines = (proxy.workdir / "audit.log").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        if any(r["event.action"] == "oauth-grant-revoked" and r.get("user.id") == user for r in records):
            break
        time.sleep(0.1)
    return [r["event.action"] for r in records
            if r["event.action"].startswith("oauth-") and r.get("user.id") in (user, None)]


def test_sdk_signs_in_as_a_dev_user_refreshes_and_is_revoked(oauth_proxy, tool_names):
    seen = {}
    first_tokens = {}

    async def body(session, storage):
        listed = await session.list_tools()
        # Alice is a developer: every tool but the admin-only memory_clear.
        assert {tool.name for tool in listed.tools} == tool_names - {"memory_clear"}
        added = await ok(session, "memory_node", {"operation": "add", "type": "memory",
                                                  "properties": {"title": "via oauth"}})
        assert added["node"].get("created_by") == "dev|alice"
        first_tokens.update(storage.tokens.model_dump())
        # The access token lives 2 s: the SDK renews it with the refresh token before the call.
        await anyio.sleep(2.5)
        await ok(session, "memory_node", {"operation": "get", "id": added["node"]["id"]})
        assert storage.tokens.access_token != first_tokens["access_token"]
        assert storage.tokens.refresh_token != first_tokens["refresh_token"], "refresh tokens rotate"

    storage = Storage()
    run(lambda: oauth_session(oauth_proxy, sign_in_with_dev_user, body, seen, storage))
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(seen["authorize"]).query))
    assert query["code_challenge_method"] == "S256"
    assert query["resource"].startswith("https://localhost:")
    assert "SDK test agent" in seen["consent"] and "127.0.0.1" in seen["consent"]
    client_id = storage.client.client_id
    assert client_id.startswith("mgc_")

    # The spent refresh token is refused; presenting it ends the grant, current tokens included.
    status, answer = token_request(oauth_proxy, {"grant_type": "refresh_token", "client_id": client_id,
                                                 "refresh_token": first_tokens["refresh_token"]})
    assert (status, answer["error"]) == (400, "invalid_grant")
    assert status_with(oauth_proxy, storage.tokens.access_token) == 401
    status, answer = token_request(oauth_proxy, {"grant_type": "refresh_token", "client_id": client_id,
                                                 "refresh_token": storage.tokens.refresh_token})
    assert (status, answer["error"]) == (400, "invalid_grant")
    # Every step is in the hash-chained audit trail.
    actions = audit_actions(oauth_proxy, "dev|alice")
    for action in ["oauth-client-registered", "oauth-consent-granted", "oauth-token-issued",
                   "oauth-token-refreshed", "oauth-grant-revoked"]:
        assert action in actions, actions


def test_sdk_signs_in_through_the_organisations_provider_and_an_admin_revokes_it(oauth_proxy, tool_names):
    seen = {}

    async def body(session, storage):
        listed = await session.list_tools()
        assert {tool.name for tool in listed.tools} == tool_names - {"memory_clear"}
        added = await ok(session, "memory_node", {"operation": "add", "type": "memory",
                                                  "properties": {"title": "via sso"}})
        # Known to the core by the provider's source, as in a browser sign-in.
        assert added["node"].get("created_by") == "testidp|alice"

    storage = Storage()
    run(lambda: oauth_session(oauth_proxy, sign_in_at_the_provider, body, seen, storage))
    grants = subprocess.run([str(PROXY_BIN), "oauth", "grants", "--config", str(oauth_proxy.config)],
                            env=proxy_env(), check=True, capture_output=True, text=True).stdout
    assert "testidp|alice" in grants and storage.client.client_id in grants
    subprocess.run([str(PROXY_BIN), "oauth", "revoke", "user", "testidp|alice", "--config", str(oauth_proxy.config)],
                   env=proxy_env(), check=True, capture_output=True)
    # Applied by the running gateway within a second or two. Until then a refresh still works
    # and rotates the token, so each try uses the newest one (a spent one would fail anyway).
    refresh_token = storage.tokens.refresh_token
    deadline = time.monotonic() + 10
    while True:
        status, answer = token_request(oauth_proxy, {"grant_type": "refresh_token",
                                                     "client_id": storage.client.client_id,
                                                     "refresh_token": refresh_token})
        if status != 200 or time.monotonic() > deadline:
            break
        refresh_token = answer["refresh_token"]
        time.sleep(0.5)
    assert (status, answer.get("error")) == (400, "invalid_grant"), json.dumps(answer)
    assert "the grant has ended" not in answer["error_description"]
    assert "already used" not in answer["error_description"], "revoked, not ended by reuse"
