"""Browser sign-in end to end: Debian's chromium (Playwright) signs in at the proxy's /login with
a real OpenID provider (tests/idp, oidc-provider: authorization code + PKCE, state, nonce), the
session cookie carries the user to the core, which only accepts the proxy's signed identity
assertion, and signing out ends the session at the proxy and at the provider.

Needs node with tests/idp/install.sh done, and chromium at /usr/bin/chromium."""

import json
import subprocess
import urllib.parse

import pytest

from conftest import PROXY_BIN, Proxy, auth_toml, make_core, policy_toml


@pytest.fixture(scope="module")
def identity_keys(tmp_path_factory):
    out = tmp_path_factory.mktemp("identity") / "keys"
    subprocess.run([str(PROXY_BIN), "identity-keygen", "--out", str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def asserted_core(tmp_path_factory, index_root, identity_keys):
    """A core that refuses every request without a valid assertion from this proxy's key."""
    instance = make_core(tmp_path_factory, index_root, "asserted-core")
    instance.extra_env = {"MIMIR_PROXY_PUBLIC_KEY_FILE": str(identity_keys / "identity.pub"),
                          "MIMIR_REQUIRE_PROXY_IDENTITY": "true"}
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def web_proxy(tmp_path_factory, asserted_core, idp, identity_keys):
    workdir = tmp_path_factory.mktemp("web-proxy")
    instance = Proxy(workdir, asserted_core.port, extra_toml=(
        auth_toml(workdir)
        + f'[[auth.providers]]\nid = "testidp"\ndisplay_name = "Test IdP"\nissuer = "{idp}"\nsource = "testidp"\n'
          f'client_id = "mimir-web"\nclient_secret = "web-secret"\nscopes = ["roles"]\nrole_claims = ["roles"]\n'
        + f'[identity]\nsigning_key_file = "{identity_keys / "identity.key"}"\n'
        + policy_toml()
    ))
    instance.start()
    yield instance
    instance.stop()


def local_only(context):
    """Everything stays on loopback (the provider's pages name a web font)."""
    def route(r):
        host = urllib.parse.urlsplit(r.request.url).hostname
        return r.continue_() if host in ("localhost", "127.0.0.1") else r.abort()
    context.route("**/*", route)


def sign_in(page, proxy, user):
    """From a protected page: the login page, the provider, and back. Returns the landing URL."""
    page.goto(f"{proxy.base}/api/nodes/types?from=browser")
    assert urllib.parse.urlsplit(page.url).path == "/login"
    assert page.get_by_role("link", name="Sign in with Test IdP").is_visible()
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.locator("input[name=login]").fill(user)
    page.locator("input[name=password]").fill("anything")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{proxy.base}/**")
    return page.url


def session_cookies(context, proxy):
    return {c["name"]: c for c in context.cookies(proxy.base)}


def api(page, method, path, body=None, csrf=True):
    """A same-origin fetch from the signed-in page, as the application's JavaScript would."""
    return page.evaluate(
        """async ([method, path, body, csrf]) => {
            const token = document.cookie.split('; ').find(c => c.startsWith('__Host-mimir_csrf='));
            const headers = {'Content-Type': 'application/json', 'Accept': 'application/json'};
            if (csrf && token) headers['X-CSRF-Token'] = token.split('=')[1];
            const r = await fetch(path, {method, headers, body: body && JSON.stringify(body)});
            return {status: r.status, body: await r.text()};
        }""",
        [method, path, body, csrf],
    )


def test_oidc_sign_in_reaches_the_core_and_sign_out_ends_it(browser, web_proxy, asserted_core):
    context = browser.new_context(ignore_https_errors=True)
    local_only(context)
    page = context.new_page()

    landed = sign_in(page, web_proxy, "alice")
    assert landed == f"{web_proxy.base}/api/nodes/types?from=browser"
    assert page.evaluate("() => document.body.innerText")  # the core answered the page itself

    cookies = session_cookies(context, web_proxy)
    session = cookies["__Host-mimir_session"]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Lax"
    assert session["expires"] > 0
    assert not cookies["__Host-mimir_csrf"]["httpOnly"] and cookies["__Host-mimir_csrf"]["secure"]
    assert "__Host-mimir_login" not in cookies, "the sign-in state cookie is cleared"
    assert "alice" not in session["value"], "the session cookie is encrypted"

    # A write through the session: the core (which only trusts signed assertions) attributes it to
    # the provider's subject, qualified by the provider's source, with the developer role the ID
    # token carried.
    created = api(page, "POST", "/api/nodes", {"type": "memory", "properties": {"title": "from chromium"}})
    assert created["status"] in (200, 201), created
    node = json.loads(created["body"])
    node = node.get("node", node)
    assert node["created_by"] == "testidp|alice"

    # The same write without the CSRF token is refused before it reaches the core.
    refused = api(page, "POST", "/api/nodes", {"type": "memory", "properties": {"title": "forged"}}, csrf=False)
    assert refused["status"] == 403 and "CSRF" in refused["body"]

    # Signed in: /login offers the sign-out form; it ends the session here and at the provider.
    page.goto(f"{web_proxy.base}/login")
    assert "alice" in page.locator("main").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(f"{web_proxy.base}/login")
    assert "__Host-mimir_session" not in session_cookies(context, web_proxy)
    assert page.get_by_role("link", name="Sign in with Test IdP").is_visible()

    # Signed out: the protected page sends the browser to the login page again.
    page.goto(f"{web_proxy.base}/api/nodes/types")
    assert urllib.parse.urlsplit(page.url).path == "/login"
    context.close()


def test_other_origins_cannot_use_the_session(browser, web_proxy):
    """A form on another page posting to the proxy: from another site the SameSite=Lax cookie
    stays home (401); from a sibling origin of the same site (another port of localhost), which
    does get the cookie, the CSRF check refuses it (403) before the core is reached."""
    form = (f'<form method="post" action="{web_proxy.base}/api/nodes" enctype="text/plain">'
            '<input name=\'{"type":"memory","properties":{"title":"csrf","x":"\' value=\'"}}\'>'
            '<button>go</button></form>')
    context = browser.new_context(ignore_https_errors=True)
    local_only(context)
    page = context.new_page()
    sign_in(page, web_proxy, "ada")

    page.goto("about:blank")
    page.set_content(form)
    with page.expect_navigation():
        page.get_by_role("button", name="go").click()
    assert '"error":"unauthorized"' in page.content()

    sibling = "https://localhost:1/offers"
    page.route(sibling, lambda route: route.fulfill(content_type="text/html", body=form))
    page.goto(sibling)
    with page.expect_navigation():
        page.get_by_role("button", name="go").click()
    assert "cross-site request refused" in page.content()
    context.close()
