"""The audit viewer at /admin/audit in Debian's chromium (Playwright): an admin sees the records
of real traffic through the proxy to the core, filters them by user, action, outcome and time,
and the chart of requests and denials; the page loads nothing from elsewhere and runs under its
strict Content-Security-Policy; a non-admin gets 403.

Needs chromium at /usr/bin/chromium and the binaries (MIMIR_CORE_BIN, MIMIR_PROXY_BIN)."""

import datetime
import json
import ssl
import urllib.error
import urllib.request
import urllib.parse

import pytest
from playwright.sync_api import expect

from conftest import Proxy, auth_toml, policy_toml


@pytest.fixture(scope="module")
def audited_proxy(tmp_path_factory, core):
    """The proxy in front of the shared core, with the audit file sink, an admin and a viewer key."""
    workdir = tmp_path_factory.mktemp("audited-proxy")
    instance = Proxy(workdir, core.port, extra_toml=(
        auth_toml(workdir)
        + f'[audit]\nenabled = true\ndestinations = ["file"]\n'
          f'[audit.file]\npath = "{workdir / "audit.log"}"\n'
        + policy_toml()
    ))
    instance.admin_key = instance.create_key("ops", "admin")
    instance.viewer_key = instance.create_key("reader", "viewer")
    instance.start()
    yield instance
    instance.stop()


def call(proxy, path, key=None):
    """GET through the proxy (trusting its dev CA); returns (status, body bytes)."""
    context = ssl.create_default_context(cafile=str(proxy.ca))
    request = urllib.request.Request(proxy.base + path, headers={"X-API-Key": key} if key else {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="module")
def traffic(audited_proxy):
    """Served, forbidden and unauthenticated requests, in the audit log before the page opens."""
    p = audited_proxy
    for _ in range(3):
        assert call(p, "/api/nodes/types", p.admin_key)[0] == 200
    assert call(p, "/api/nodes/types", p.viewer_key)[0] == 200
    assert call(p, "/api/admin/stats", p.viewer_key)[0] == 403
    bogus = "mimir_0123456789ab_" + "z" * 43
    assert call(p, "/api/nodes/types", bogus)[0] == 401
    # The viewer's JSON refuses what it cannot use.
    status, body = call(p, "/admin/audit/events?outcome=maybe", p.admin_key)
    assert status == 400 and b"outcome" in body
    return p


def open_viewer(browser, proxy, key):
    """A page whose every request carries `key`; records requests leaving loopback and console
    errors (CSP violations among them)."""
    context = browser.new_context(ignore_https_errors=True, extra_http_headers={"X-API-Key": key})
    page = context.new_page()
    page.outside, page.errors = [], []

    def route(r):
        if urllib.parse.urlsplit(r.request.url).hostname in ("localhost", "127.0.0.1"):
            return r.continue_()
        page.outside.append(r.request.url)
        return r.abort()

    context.route("**/*", route)
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    response = page.goto(f"{proxy.base}/admin/audit")
    return page, response


def rows(page):
    return page.eval_on_selector_all(
        "#records tbody tr", "trs => trs.map(tr => [...tr.children].map(td => td.textContent))")


def apply(page):
    with page.expect_response(lambda r: "/admin/audit/events" in r.url) as answer:
        page.get_by_role("button", name="Apply").click()
    assert answer.value.status == 200
    # A locator wait: wait_for_function would evaluate a string, which the page's CSP forbids.
    expect(page.locator("#summary")).to_contain_text("matching")


COLUMNS = {"time": 0, "user": 1, "action": 2, "outcome": 3, "status": 4}


def test_admin_sees_and_filters_the_audit_log(browser, traffic):
    page, response = open_viewer(browser, traffic, traffic.admin_key)
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'") and "unsafe-inline" not in csp
    assert "script-src 'sha256-" in csp and "connect-src 'self'" in csp
    page.wait_for_selector("body[data-loaded=true]")

    all_rows = rows(page)
    actions = {r[COLUMNS["action"]] for r in all_rows}
    assert {"http-request", "user-login-failed"} <= actions, all_rows
    # Newest first.
    times = [r[COLUMNS["time"]] for r in all_rows]
    assert times == sorted(times, reverse=True)
    # The chart: requests and the 403/401 denials of the traffic fixture.
    chart = page.locator("#chart")
    assert int(chart.get_attribute("data-requests")) >= 6
    assert int(chart.get_attribute("data-denials")) >= 2
    assert page.locator("#chart rect.requests").count() >= 1
    assert page.locator("#chart rect.denials").count() >= 1

    # Filter by user.
    page.locator("input[name=user]").fill("apikey:reader")
    apply(page)
    reader = rows(page)
    assert reader and {r[COLUMNS["user"]] for r in reader} == {"apikey:reader"}
    assert {r[COLUMNS["status"]] for r in reader} >= {"200", "403"}

    # Filter by outcome and action.
    page.locator("input[name=user]").fill("")
    page.locator("select[name=outcome]").select_option("failure")
    page.locator("select[name=action]").select_option("http-request")
    apply(page)
    failures = rows(page)
    assert failures and all(r[COLUMNS["outcome"]] == "failure" for r in failures)
    assert {r[COLUMNS["status"]] for r in failures} >= {"401", "403"}

    # Filter by time: a window that ended an hour ago holds nothing.
    past = (datetime.datetime.now() - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    page.locator("select[name=outcome]").select_option("")
    page.locator("input[name=until]").fill(past)
    apply(page)
    assert rows(page) == []
    assert page.locator("#summary").text_content().startswith("0 matching")

    assert page.outside == [], "nothing is loaded from elsewhere"
    assert page.errors == [], page.errors


def test_non_admin_is_refused(browser, traffic):
    page, response = open_viewer(browser, traffic, traffic.viewer_key)
    assert response.status == 403
    status, body = call(traffic, "/admin/audit/events", traffic.viewer_key)
    assert status == 403
    assert json.loads(body)["error"]
