"""End-to-end: the official MCP Python SDK reaches the core through the real proxy over HTTPS,
verifying the proxy's certificate against the generated dev CA."""

import ssl

import anyio
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from test_mcp_sdk import call, ok, run


def tls_context(proxy) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(proxy.ca))


def key_header(proxy) -> dict:
    return {"Authorization": f"Bearer {proxy.api_key}"}


async def with_session(proxy, body, headers=None):
    """An SDK session through the proxy; `headers` replace the default admin API key."""
    headers = key_header(proxy) if headers is None else headers
    async with httpx2.AsyncClient(verify=tls_context(proxy), headers=headers, timeout=30) as http:
        async with streamable_http_client(proxy.url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await body(session)


def test_sdk_lists_and_calls_tools_through_proxy(proxy, tool_names):
    async def body(session):
        listed = await session.list_tools()
        assert {tool.name for tool in listed.tools} == tool_names
        added = await ok(session, "memory_node", {"operation": "add", "type": "memory",
                                                  "properties": {"title": "via proxy", "content": "over TLS"}})
        node_id = added["node"]["id"]
        got = await ok(session, "memory_node", {"operation": "get", "id": node_id})
        assert got["node"]["properties"]["title"] == "via proxy"
        is_error, _ = await call(session, "memory_node", {"operation": "get"})
        assert is_error

    run(lambda: with_session(proxy, body))


def test_spoofed_identity_header_never_reaches_core(proxy):
    async def body(session):
        added = await ok(session, "memory_node", {"operation": "add", "type": "memory",
                                                  "properties": {"title": "spoof attempt"}})
        assert added["node"].get("created_by") != "mallory"

    run(lambda: with_session(proxy, body, headers={**key_header(proxy), "X-User-ID": "mallory",
                                                        "X-Forwarded-User": "mallory"}))


def test_client_without_dev_ca_is_refused(proxy):
    async def body():
        async with httpx2.AsyncClient(timeout=10) as http:
            with pytest.raises(Exception) as failure:
                await http.get(f"{proxy.base}/health")
            assert "CERTIFICATE_VERIFY_FAILED" in repr(failure.value) or "certificate" in repr(failure.value).lower()

    anyio.run(body)
