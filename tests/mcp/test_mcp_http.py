"""End-to-end at the HTTP level (httpx): what SDK clients never send — batches, malformed JSON,
missing or foreign sessions, oversized bodies, foreign origins, other HTTP methods."""

import httpx
import pytest

JSON = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def rpc(method, id=1, **params):
    message = {"jsonrpc": "2.0", "id": id, "method": method}
    if params:
        message["params"] = params
    return message


def initialize(client, url, version="2025-03-26", headers=None):
    response = client.post(url, headers={**JSON, **(headers or {})}, json=rpc(
        "initialize", protocolVersion=version, capabilities={}, clientInfo={"name": "raw", "version": "1"}))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response


@pytest.fixture
def http():
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture
def session(core, http):
    """Headers of a fresh 2025-03-26 session (the revision that has batches)."""
    sid = initialize(http, core.url).headers["mcp-session-id"]
    return {**JSON, "Mcp-Session-Id": sid}


def test_initialize_negotiates_the_version_and_opens_distinct_sessions(core, http):
    first = initialize(http, core.url, "2025-03-26")
    assert first.json()["result"]["protocolVersion"] == "2025-03-26"
    server = first.json()["result"]["serverInfo"]
    assert server["name"] == "mimir-core" and server["version"]
    assert initialize(http, core.url, "2024-11-05").json()["result"]["protocolVersion"] == "2024-11-05"
    newer = initialize(http, core.url, "2099-01-01")
    assert newer.json()["result"]["protocolVersion"] == "2025-06-18"
    assert len(first.headers["mcp-session-id"]) == 32
    assert first.headers["mcp-session-id"] != newer.headers["mcp-session-id"]


def test_batches(core, http, session, tool_names):
    batch = [
        rpc("ping", 1),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        rpc("tools/list", 2),
        rpc("tools/call", 3, name="memory_node", arguments={"operation": "add", "type": "memory",
                                                          "properties": {"title": "from a batch"}}),
        rpc("no/such/method", 4),
        rpc("initialize", 5, protocolVersion="2025-03-26"),
        "not an object",
    ]
    response = http.post(core.url, headers=session, json=batch)
    assert response.status_code == 200
    replies = response.json()
    assert [r["id"] for r in replies] == [1, 2, 3, 4, 5, None]
    assert replies[0]["result"] == {}
    assert {t["name"] for t in replies[1]["result"]["tools"]} == tool_names
    assert replies[2]["result"].get("isError") is not True
    assert "from a batch" in replies[2]["result"]["content"][0]["text"]
    assert "structuredContent" not in replies[2]["result"]  # not part of 2025-03-26
    assert replies[3]["error"]["code"] == -32601
    assert replies[4]["error"]["code"] == -32600  # initialize must not be batched
    assert replies[5]["error"]["code"] == -32600


def test_batches_of_notifications_and_empty_batches(core, http, session):
    only_notifications = [{"jsonrpc": "2.0", "method": "notifications/initialized"},
                          {"jsonrpc": "2.0", "id": 99, "result": {}}]
    response = http.post(core.url, headers=session, json=only_notifications)
    assert response.status_code == 202 and response.content == b""
    response = http.post(core.url, headers=session, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert response.status_code == 202 and response.content == b""
    empty = http.post(core.url, headers=session, content=b"[]")
    assert empty.status_code == 400
    assert empty.json() == {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Invalid Request: empty batch"}}


def test_malformed_json_is_a_400_parse_error(core, http, session):
    response = http.post(core.url, headers=session, content=b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert response.status_code == 400
    body = response.json()
    assert body["id"] is None and body["error"]["code"] == -32700
    invalid = http.post(core.url, headers=session, json={"jsonrpc": "2.0", "id": 7, "params": {}})
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == -32600 and invalid.json()["id"] == 7


def test_requests_need_a_known_session(core, http, session):
    missing = http.post(core.url, headers=JSON, json=rpc("ping"))
    assert missing.status_code == 400 and missing.json()["error"]["code"] == -32600
    unknown = http.post(core.url, headers={**JSON, "Mcp-Session-Id": "0" * 32}, json=rpc("ping"))
    assert unknown.status_code == 404
    ok = http.post(core.url, headers=session, json=rpc("ping", 8))
    assert ok.status_code == 200 and ok.json() == {"jsonrpc": "2.0", "id": 8, "result": {}}
    bad_version = http.post(core.url, headers={**session, "MCP-Protocol-Version": "1999-01-01"}, json=rpc("ping"))
    assert bad_version.status_code == 400


def test_sessions_are_bound_to_the_user(core, http):
    sid = initialize(http, core.url, headers={"X-User-ID": "alice"}).headers["mcp-session-id"]
    headers = {**JSON, "Mcp-Session-Id": sid}
    assert http.post(core.url, headers={**headers, "X-User-ID": "alice"}, json=rpc("ping")).status_code == 200
    assert http.post(core.url, headers={**headers, "X-User-ID": "mallory"}, json=rpc("ping")).status_code == 404


def test_tool_errors_over_raw_http(core, http, session):
    unknown = http.post(core.url, headers=session, json=rpc("tools/call", 1, name="rm_rf", arguments={})).json()
    assert unknown["error"] == {"code": -32602, "message": "Unknown tool: rm_rf"}
    not_object = http.post(core.url, headers=session, json=rpc("tools/call", 2, name="todo", arguments=[1])).json()
    assert not_object["error"]["code"] == -32602
    wrong = http.post(core.url, headers=session, json=rpc("tools/call", 3, name="todo",
                                                          arguments={"operation": "get", "todo_id": True})).json()
    assert wrong["result"]["isError"] is True
    assert "'todo_id' must be a string" in wrong["result"]["content"][0]["text"]
    cursor = http.post(core.url, headers=session, json=rpc("tools/list", 4, cursor="abc")).json()
    assert cursor["error"]["code"] == -32602


def test_oversized_bodies_are_refused(core, http, session):
    huge = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + b"x" * (2 * 1024 * 1024) + b'"}}'
    response = http.post(core.url, headers=session, content=huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == -32600


def test_headers_are_validated(core, http, session):
    foreign = http.post(core.url, headers={**session, "Origin": "https://evil.example"}, json=rpc("ping"))
    assert foreign.status_code == 403
    local = http.post(core.url, headers={**session, "Origin": "http://localhost:6274"}, json=rpc("ping"))
    assert local.status_code == 200
    text = http.post(core.url, headers={**session, "Content-Type": "text/plain"}, content=b'{"jsonrpc":"2.0","id":1,"method":"ping"}')
    assert text.status_code == 415
    html = http.post(core.url, headers={**session, "Accept": "text/html"}, json=rpc("ping"))
    assert html.status_code == 406


def test_get_is_not_allowed_and_delete_ends_the_session(core, http, session):
    get = http.get(core.url, headers=session)
    assert get.status_code == 405 and get.headers["allow"] == "POST, DELETE"
    assert http.delete(core.url).status_code == 400
    assert http.delete(core.url, headers=session).status_code == 204
    assert http.delete(core.url, headers=session).status_code == 404
    assert http.post(core.url, headers=session, json=rpc("ping")).status_code == 404
