"""End-to-end: the official MCP Python SDK (a client nobody here wrote) against the real core.

Every tool and every operation is called and its result checked. Requires `mcp` 2.x (its
Streamable HTTP client is `streamable_http_client`, over `httpx2`).
"""

import json
import time
from contextlib import asynccontextmanager

import anyio
import httpx2
import mcp
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


def run(test):
    """Runs an async test body with a deadline, so a hung call fails instead of blocking."""

    async def bounded():
        with anyio.fail_after(120):
            await test()

    anyio.run(bounded)


@asynccontextmanager
async def connect(url, headers=None, session_ids=None):
    """An initialized SDK session; `session_ids` collects the Mcp-Session-Id values seen."""

    async def record(response):
        if session_ids is not None and "mcp-session-id" in response.headers:
            session_ids.append(response.headers["mcp-session-id"])

    async with httpx2.AsyncClient(headers=headers or {}, event_hooks={"response": [record]}, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def call(session, tool, arguments):
    """(is_error, parsed JSON of the text content); the structured content must agree."""
    result = await session.call_tool(tool, arguments)
    assert len(result.content) == 1 and result.content[0].type == "text"
    body = json.loads(result.content[0].text)
    if result.structured_content is not None:
        assert result.structured_content == body
    return result.is_error, body


async def ok(session, tool, arguments):
    is_error, body = await call(session, tool, arguments)
    assert not is_error, body
    assert body.get("success") is not False, body
    return body


async def fails(session, tool, arguments):
    """The error message of a call that must fail as a tool error (never a stack trace)."""
    is_error, body = await call(session, tool, arguments)
    assert is_error, body
    assert body["success"] is False and set(body) == {"success", "error"}, body
    assert "stack" not in body["error"].lower() and "panicked" not in body["error"]
    return body["error"]


async def confirmed(session, tool, arguments):
    """Runs a destructive call through both confirmation steps; returns (preview, result)."""
    preview = await ok(session, tool, arguments)
    assert preview["needsConfirmation"] is True, preview
    assert len(preview["confirmationId"]) == 32
    result = await ok(session, tool, {**arguments, "confirm": True, "confirmationId": preview["confirmationId"]})
    return preview, result


# ---------------------------------------------------------------------------------------------


def test_handshake_and_tool_list(core, tool_names):
    async def body():
        async with connect(core.url) as session:
            info = session.initialize_result
            assert info.server_info.name == "mimir-core"
            # The SDK offers a newer revision; the core answers with its latest.
            assert info.protocol_version == "2025-06-18"
            assert info.capabilities.tools is not None
            tools = (await session.list_tools()).tools
            assert {t.name for t in tools} == tool_names
            assert len(tools) == len(tool_names)
            for tool in tools:
                assert tool.input_schema["type"] == "object", tool.name
                assert tool.description
            await session.send_ping()

    run(body)


def test_high_level_client_falls_back_to_initialize(core, tool_names):
    async def body():
        # mcp.Client first probes `server/discover` (2026 protocol); the core refuses it and
        # the client falls back to the initialize handshake.
        async with mcp.Client(core.url) as client:
            assert client.protocol_version == "2025-06-18"
            assert {t.name for t in (await client.list_tools()).tools} == tool_names

    run(body)


def test_two_clients_get_different_sessions(core):
    async def body():
        first, second = [], []
        async with connect(core.url, session_ids=first) as a, connect(core.url, session_ids=second) as b:
            await a.send_ping()
            await b.send_ping()
        assert first and second
        assert first[0] != second[0]

    run(body)


def test_memory_node_operations(core):
    async def body():
        async with connect(core.url, headers={"X-User-ID": "alice"}) as s:
            node = (await ok(s, "memory_node", {
                "operation": "add", "type": "memory",
                "properties": {"title": "Quokka facts", "content": "Quokkas live on Rottnest Island",
                               "details": {"source": "field notes", "year": 2024}, "tags": ["animals", "australia"]},
            }))["node"]
            assert node["type"] == "memory" and node["created_by"] == "alice"
            node_id = node["id"]

            got = (await ok(s, "memory_node", {"operation": "get", "id": node_id}))["node"]
            assert got["properties"] == {
                "title": "Quokka facts", "content": "Quokkas live on Rottnest Island",
                "details_source": "field notes", "details_year": 2024, "tags": ["animals", "australia"],
            }

            chosen = (await ok(s, "memory_node", {"operation": "add", "type": "concept", "id": "concept-quokka",
                                                  "properties": {"name": "quokka"}}))["node"]
            assert chosen["id"] == "concept-quokka"

            updated = (await ok(s, "memory_node", {"operation": "update", "id": node_id,
                                                   "properties": {"title": "Quokka facts v2", "details_year": None}}))["node"]
            assert updated["properties"]["title"] == "Quokka facts v2"
            assert "details_year" not in updated["properties"]

            query = await ok(s, "memory_node", {"operation": "query", "type": "memory",
                                                "filters": {"title": "Quokka facts v2"}})
            assert [n["id"] for n in query["nodes"]] == [node_id]
            paged = await ok(s, "memory_node", {"operation": "query", "type": "memory", "options": {"limit": 1, "offset": 0}})
            assert paged["count"] == 1

            search = await ok(s, "memory_node", {"operation": "search", "query": "quokka rottnest island"})
            assert search["method"] in ("semantic", "keyword")
            assert search["results"][0]["node"]["id"] == node_id

            assert "not found" in (await fails(s, "memory_node", {"operation": "get", "id": "memory-missing"})).lower()
            assert "required" in await fails(s, "memory_node", {"operation": "update", "id": node_id})

            # Delete: preview first, nothing deleted yet.
            delete = {"operation": "delete", "id": node_id}
            preview = await ok(s, "memory_node", delete)
            assert preview["needsConfirmation"] is True and preview["preview"]["node"]["id"] == node_id
            await ok(s, "memory_node", {"operation": "get", "id": node_id})
            # An id for other parameters is refused (and used up).
            other = {"operation": "delete", "id": "concept-quokka", "confirm": True,
                     "confirmationId": preview["confirmationId"]}
            assert "different parameters" in await fails(s, "memory_node", other)
            await ok(s, "memory_node", {"operation": "get", "id": "concept-quokka"})
            assert "confirmationId" in await fails(s, "memory_node", {**delete, "confirm": True})

            preview = await ok(s, "memory_node", delete)
            done = await ok(s, "memory_node", {**delete, "confirm": True, "confirmationId": preview["confirmationId"]})
            assert done["deleted"] == node_id
            await fails(s, "memory_node", {"operation": "get", "id": node_id})
            # A used id is gone: replaying it against a node that still exists is refused.
            preview = await ok(s, "memory_node", {"operation": "delete", "id": "concept-quokka"})
            replay = {"operation": "delete", "id": "concept-quokka", "confirm": True, "confirmationId": preview["confirmationId"]}
            await ok(s, "memory_node", replay)
            await ok(s, "memory_node", {"operation": "add", "type": "concept", "id": "concept-quokka", "properties": {}})
            assert "already used" in await fails(s, "memory_node", replay)
            await ok(s, "memory_node", {"operation": "get", "id": "concept-quokka"})

    run(body)


def test_confirmation_is_bound_to_the_caller(core):
    async def body():
        async with connect(core.url, headers={"X-User-ID": "alice"}) as alice, \
                connect(core.url, headers={"X-User-ID": "bob"}) as bob:
            node_id = (await ok(alice, "memory_node", {"operation": "add", "type": "memory",
                                                       "properties": {"title": "alice's"}}))["node"]["id"]
            preview = await ok(alice, "memory_node", {"operation": "delete", "id": node_id})
            stolen = {"operation": "delete", "id": node_id, "confirm": True, "confirmationId": preview["confirmationId"]}
            await fails(bob, "memory_node", stolen)
            await ok(alice, "memory_node", {"operation": "get", "id": node_id})

    run(body)


def test_memory_edge_operations(core):
    async def body():
        async with connect(core.url) as s:
            ids = []
            for title in ("edge-a", "edge-b", "edge-c"):
                ids.append((await ok(s, "memory_node", {"operation": "add", "type": "concept",
                                                         "properties": {"title": title}}))["node"]["id"])
            a, b, c = ids
            ab = (await ok(s, "memory_edge", {"operation": "add", "source": a, "target": b, "type": "depends_on",
                                              "properties": {"weight": 2, "meta": {"why": "test"}}}))["edge"]
            assert (ab["source"], ab["target"], ab["type"]) == (a, b, "depends_on")
            assert ab["properties"] == {"weight": 2, "meta_why": "test"}
            await ok(s, "memory_edge", {"operation": "add", "source": b, "target": c, "type": "relates_to"})

            out = await ok(s, "memory_edge", {"operation": "get", "node_id": a, "direction": "out"})
            assert [e["id"] for e in out["edges"]] == [ab["id"]]
            incoming = await ok(s, "memory_edge", {"operation": "get", "node_id": a, "direction": "in"})
            assert incoming["count"] == 0
            typed = await ok(s, "memory_edge", {"operation": "get", "node_id": b, "edge_type": "relates_to"})
            assert typed["count"] == 1

            neighbors = await ok(s, "memory_edge", {"operation": "neighbors", "node_id": a})
            assert [n["id"] for n in neighbors["neighbors"]] == [b]
            subgraph = await ok(s, "memory_edge", {"operation": "subgraph", "node_id": a, "depth": 2})
            assert {n["id"] for n in subgraph["nodes"]} == {a, b, c}
            assert len(subgraph["edges"]) == 2

            assert (await ok(s, "memory_edge", {"operation": "delete", "edge_id": ab["id"]}))["deleted"] == ab["id"]
            assert (await ok(s, "memory_edge", {"operation": "get", "node_id": a}))["count"] == 0
            await fails(s, "memory_edge", {"operation": "delete", "edge_id": ab["id"]})
            await fails(s, "memory_edge", {"operation": "add", "source": a, "target": "missing-node", "type": "calls"})
            await fails(s, "memory_edge", {"operation": "add", "source": a, "target": b, "type": "not_a_type"})

    run(body)


def test_memory_batch_operations(core):
    async def body():
        async with connect(core.url) as s:
            added = await ok(s, "memory_batch", {"operation": "add_nodes", "nodes": [
                {"type": "module", "properties": {"title": "batch-1"}},
                {"type": "module", "properties": {"title": "batch-2", "info": {"lang": "rust"}}},
                {"type": "module", "id": "module-batch-3", "properties": {"title": "batch-3"}},
            ]})
            assert added["count"] == 3
            ids = [r["id"] for r in added["results"]]
            assert ids[2] == "module-batch-3" and added["results"][1]["properties"]["info_lang"] == "rust"

            updated = await ok(s, "memory_batch", {"operation": "update_nodes", "updates": [
                {"id": ids[0], "properties": {"status": "done"}}, {"id": ids[1], "properties": {"status": "done"}},
            ]})
            assert [r["properties"]["status"] for r in updated["results"]] == ["done", "done"]

            edges = await ok(s, "memory_batch", {"operation": "add_edges", "edges": [
                {"source": ids[0], "target": ids[1], "type": "imports"},
                {"source": ids[1], "target": ids[2], "type": "imports", "properties": {"optional": True}},
            ]})
            edge_ids = [r["id"] for r in edges["results"]]

            # One bad item fails the whole batch: nothing of it is written.
            await fails(s, "memory_batch", {"operation": "add_edges", "edges": [
                {"source": ids[2], "target": ids[0], "type": "imports"},
                {"source": ids[2], "target": "missing-node", "type": "imports"},
            ]})
            assert (await ok(s, "memory_edge", {"operation": "get", "node_id": ids[2], "direction": "out"}))["count"] == 0
            await fails(s, "memory_batch", {"operation": "update_nodes", "updates": [
                {"id": ids[0], "properties": {"status": "again"}}, {"id": "missing-node", "properties": {"x": 1}},
            ]})
            first = (await ok(s, "memory_node", {"operation": "get", "id": ids[0]}))["node"]
            assert first["properties"]["status"] == "done"

            preview, deleted = await confirmed(s, "memory_batch", {"operation": "delete_edges", "ids": edge_ids})
            assert len(preview["preview"]["items"]) == 2 and deleted["count"] == 2
            preview, deleted = await confirmed(s, "memory_batch", {"operation": "delete_nodes", "ids": ids})
            assert deleted["count"] == 3
            for node_id in ids:
                await fails(s, "memory_node", {"operation": "get", "id": node_id})
            assert "at least one" in await fails(s, "memory_batch", {"operation": "add_nodes", "nodes": []})

    run(body)


def test_memory_lock_operations(core):
    async def body():
        async with connect(core.url) as s:
            node_id = (await ok(s, "memory_node", {"operation": "add", "type": "todo",
                                                   "properties": {"title": "locked work", "status": "lockable"}}))["node"]["id"]
            free_id = (await ok(s, "memory_node", {"operation": "add", "type": "todo",
                                                   "properties": {"title": "free work", "status": "lockable"}}))["node"]["id"]
            got = await ok(s, "memory_lock", {"operation": "acquire", "node_id": node_id, "agent_id": "worker-1"})
            assert got["lock"]["status"] == "acquired" and got["lock"]["version"] == 1
            again = await ok(s, "memory_lock", {"operation": "acquire", "node_id": node_id, "agent_id": "worker-1"})
            assert again["lock"]["version"] == 2

            is_error, held = await call(s, "memory_lock", {"operation": "acquire", "node_id": node_id, "agent_id": "worker-2"})
            assert not is_error and held["success"] is False
            assert held["lock"] == {"status": "held_by", "agent_id": "worker-1", "expires_at": held["lock"]["expires_at"]}

            available = await ok(s, "memory_lock", {"operation": "query_available", "type": "todo",
                                                    "filters": {"status": "lockable"}})
            assert [n["id"] for n in available["nodes"]] == [free_id]

            is_error, not_held = await call(s, "memory_lock", {"operation": "release", "node_id": node_id, "agent_id": "worker-2"})
            assert not is_error and not_held["lock"]["status"] == "not_held"
            released = await ok(s, "memory_lock", {"operation": "release", "node_id": node_id, "agent_id": "worker-1"})
            assert released["lock"]["status"] == "released"

            await ok(s, "memory_lock", {"operation": "acquire", "node_id": free_id, "agent_id": "worker-3", "timeout_ms": 1})
            await anyio.sleep(0.05)
            assert (await ok(s, "memory_lock", {"operation": "cleanup"}))["cleaned"] >= 1
            props = (await ok(s, "memory_node", {"operation": "get", "id": free_id}))["node"]["properties"]
            assert "lockedBy" not in props
            await fails(s, "memory_lock", {"operation": "acquire", "node_id": "missing-node", "agent_id": "w"})

    run(body)


def test_todo_and_todo_list_operations(core):
    async def body():
        async with connect(core.url) as s:
            todo_list = (await ok(s, "todo_list", {"operation": "create", "title": "Sprint 7",
                                                   "description": "release prep"}))["list"]
            list_id = todo_list["id"]
            assert todo_list["properties"]["priority"] == "medium" and todo_list["properties"]["archived"] is False

            first = (await ok(s, "todo", {"operation": "create", "title": "Write docs", "priority": "high",
                                          "list_id": list_id, "properties": {"estimate": 3}}))["todo"]
            assert first["properties"] == {"title": "Write docs", "priority": "high", "status": "pending", "estimate": 3}
            second = (await ok(s, "todo", {"operation": "create", "title": "Ship it"}))["todo"]

            got = (await ok(s, "todo", {"operation": "get", "todo_id": first["id"]}))["todo"]
            assert got["properties"]["title"] == "Write docs"
            updated = (await ok(s, "todo", {"operation": "update", "todo_id": second["id"],
                                            "status": "in_progress", "description": "tag and push"}))["todo"]
            assert updated["properties"]["status"] == "in_progress"

            assert (await ok(s, "todo_list", {"operation": "add_todo", "list_id": list_id,
                                              "todo_id": second["id"]}))["changed"] is True
            listed = await ok(s, "todo", {"operation": "list", "list_id": list_id})
            assert {t["id"] for t in listed["todos"]} == {first["id"], second["id"]}
            high = await ok(s, "todo", {"operation": "list", "filters": {"priority": "high", "title": "Write docs"}})
            assert [t["id"] for t in high["todos"]] == [first["id"]]

            completed = (await ok(s, "todo", {"operation": "complete", "todo_id": first["id"]}))["todo"]
            assert completed["properties"]["status"] == "completed" and "completedAt" in completed["properties"]
            stats = (await ok(s, "todo_list", {"operation": "get_stats", "list_id": list_id}))["stats"]
            assert stats == {"total": 2, "pending": 0, "in_progress": 1, "completed": 1, "completionRate": 0.5}

            full = await ok(s, "todo_list", {"operation": "get", "list_id": list_id})
            assert full["list"]["properties"]["title"] == "Sprint 7" and len(full["todos"]) == 2
            renamed = await ok(s, "todo_list", {"operation": "update", "list_id": list_id, "title": "Sprint 7b"})
            assert renamed["list"]["properties"]["title"] == "Sprint 7b"
            lists = await ok(s, "todo_list", {"operation": "list", "filters": {"title": "Sprint 7b"}})
            assert [l["id"] for l in lists["lists"]] == [list_id]

            assert (await ok(s, "todo_list", {"operation": "remove_todo", "list_id": list_id,
                                              "todo_id": second["id"]}))["changed"] is True
            archived = await ok(s, "todo_list", {"operation": "archive", "list_id": list_id, "remove_completed": True})
            assert archived["list"]["properties"]["archived"] is True and archived["removedTodos"] == [first["id"]]
            await fails(s, "todo", {"operation": "get", "todo_id": first["id"]})

            preview, deleted = await confirmed(s, "todo", {"operation": "delete", "todo_id": second["id"]})
            assert preview["preview"]["node"]["id"] == second["id"] and deleted["deleted"] == second["id"]
            preview, deleted = await confirmed(s, "todo_list", {"operation": "delete", "list_id": list_id})
            assert deleted["deleted"] == list_id
            await fails(s, "todo_list", {"operation": "get", "list_id": list_id})
            assert "required" in await fails(s, "todo", {"operation": "create"})

    run(body)


def test_get_task_context_filters_by_agent(core):
    async def body():
        async with connect(core.url) as s:
            task = (await ok(s, "memory_node", {"operation": "add", "type": "todo", "properties": {
                "title": "Add JWT auth", "requirements": "RS256 only", "description": "middleware",
                "status": "in_progress", "priority": "high", "research": "x" * 2000, "planningNotes": "long",
                "files": [f"src/f{i}.rs" for i in range(20)], "dependencies": [f"dep-{i}" for i in range(8)],
                "workerOutput": "implemented", "verificationCriteria": "tokens verified", "qcRole": "auditor",
            }}))["node"]
            helper = (await ok(s, "memory_node", {"operation": "add", "type": "concept", "properties": {"title": "JWKS"}}))["node"]
            await ok(s, "memory_edge", {"operation": "add", "source": task["id"], "target": helper["id"], "type": "references"})

            pm = await ok(s, "get_task_context", {"taskId": task["id"], "agentType": "pm"})
            assert pm["context"]["research"] == "x" * 2000 and pm["context"]["planningNotes"] == "long"
            assert helper["id"] in [n["id"] for n in pm["context"]["subgraph"]["nodes"]]

            worker = await ok(s, "get_task_context", {"taskId": task["id"], "agentType": "worker"})
            context = worker["context"]
            assert context["taskId"] == task["id"] and context["requirements"] == "RS256 only"
            assert len(context["files"]) == 10 and len(context["dependencies"]) == 5
            for hidden in ("research", "planningNotes", "workerOutput", "verificationCriteria"):
                assert hidden not in context
            assert worker["metrics"]["reductionPercent"] > 50

            qc = await ok(s, "get_task_context", {"taskId": task["id"], "agentType": "qc"})
            assert qc["context"]["workerOutput"] == "implemented"
            assert qc["context"]["originalRequirements"] == "RS256 only"
            assert qc["context"]["verificationCriteria"] == "tokens verified" and "research" not in qc["context"]

            await fails(s, "get_task_context", {"taskId": "todo-missing", "agentType": "pm"})
            assert "one of" in await fails(s, "get_task_context", {"taskId": task["id"], "agentType": "ceo"})

    run(body)


def test_vector_search_and_embedding_stats(core):
    async def body():
        async with connect(core.url) as s:
            rust = (await ok(s, "memory_node", {"operation": "add", "type": "memory", "properties": {
                "title": "Tokio runtime", "content": "async rust executor scheduling tasks on worker threads"}}))["node"]
            await ok(s, "memory_node", {"operation": "add", "type": "memory", "properties": {
                "title": "Smoothie", "content": "banana mango smoothie recipe with yoghurt"}})
            linked = (await ok(s, "memory_node", {"operation": "add", "type": "person", "properties": {"name": "Carl"}}))["node"]
            await ok(s, "memory_edge", {"operation": "add", "source": rust["id"], "target": linked["id"], "type": "assigned_to"})

            found = await ok(s, "vector_search_nodes", {"query": "tokio async runtime threads"})
            assert found["results"][0]["node"]["id"] == rust["id"]
            assert 0.1 <= found["results"][0]["similarity"] <= 1.0
            typed = await ok(s, "vector_search_nodes", {"query": "tokio async runtime", "types": ["person"], "limit": 5})
            assert all(r["node"]["type"] == "person" for r in typed["results"])
            strict = await ok(s, "vector_search_nodes", {"query": "tokio async runtime threads", "min_similarity": 0.99})
            assert strict["count"] == 0
            deep = await ok(s, "vector_search_nodes", {"query": "tokio async runtime threads", "depth": 2, "limit": 1})
            assert linked["id"] in [n["id"] for n in deep["results"][0]["related"]]

            stats = await ok(s, "get_embedding_stats", {})
            assert stats["dimensions"] == 256
            assert stats["byType"]["memory"] >= 2 and stats["byType"]["person"] >= 1
            assert stats["totalNodes"] == sum(stats["byType"].values())

    run(body)


def test_folder_indexing(core, index_root):
    async def body():
        async with connect(core.url) as s:
            indexed = await ok(s, "index_folder", {"path": str(index_root / "docs")})
            assert indexed["filesIndexed"] == 3
            skipped = {item["path"]: item["reason"] for item in indexed["skipped"]}
            assert skipped == {".env": "sensitive", "id_rsa": "sensitive", "server.pem": "sensitive", "blob.bin": "not_utf8"}

            files = await ok(s, "memory_node", {"operation": "query", "type": "file", "filters": {"folder": indexed["path"]}})
            by_name = {n["properties"]["name"]: n for n in files["nodes"]}
            assert set(by_name) == {"readme.md", "guide.txt", "deep.md"}
            readme = by_name["readme.md"]["properties"]
            assert readme["content"] == (index_root / "docs" / "readme.md").read_text()
            assert readme["extension"] == "md" and readme["size"] == len(readme["content"])
            assert readme["path"] == str((index_root / "docs" / "readme.md").resolve())
            assert "hunter2" not in json.dumps(files)

            # Re-indexing updates the same nodes (ids derive from paths); patterns narrow it down.
            narrowed = await ok(s, "index_folder", {"path": "docs", "file_patterns": ["*.md"], "recursive": False})
            assert narrowed["filesIndexed"] == 1 and narrowed["filesRemoved"] == 2
            again = await ok(s, "memory_node", {"operation": "get", "id": by_name["readme.md"]["id"]})
            assert again["node"]["properties"]["name"] == "readme.md"
            ignored = await ok(s, "index_folder", {"path": "docs", "ignore_patterns": ["sub", "*.txt"]})
            assert ignored["filesIndexed"] == 1

            folders = await ok(s, "list_folders", {})
            assert [f["path"] for f in folders["folders"]] == [indexed["path"]]
            assert folders["folders"][0]["ignore_patterns"] == ["sub", "*.txt"]

            # Refusals: traversal, paths outside the root, symlink escapes, sensitive targets.
            assert ".." in await fails(s, "index_folder", {"path": "../outside"})
            assert ".." in await fails(s, "index_folder", {"path": str(index_root / "docs" / ".." / ".." / "outside")})
            assert "outside" in await fails(s, "index_folder", {"path": str(index_root.parent / "outside")})
            assert "outside" in await fails(s, "index_folder", {"path": "/etc"})
            assert "outside" in await fails(s, "index_folder", {"path": "escape"})
            assert "sensitive" in await fails(s, "index_folder", {"path": "docs/.env"})
            assert "Not a folder" in await fails(s, "index_folder", {"path": "docs/readme.md"})
            assert "glob" in await fails(s, "index_folder", {"path": "docs", "file_patterns": ["a[b"]})

            removed = await ok(s, "remove_folder", {"path": "docs"})
            assert removed["filesRemoved"] == 1
            assert (await ok(s, "list_folders", {}))["count"] == 0
            left = await ok(s, "memory_node", {"operation": "query", "type": "file", "filters": {"folder": indexed["path"]}})
            assert left["count"] == 0
            assert "not indexed" in await fails(s, "remove_folder", {"path": "docs"})

    run(body)


def test_memory_clear_by_type(core):
    async def body():
        async with connect(core.url) as s:
            for name in ("clear-1", "clear-2"):
                await ok(s, "memory_node", {"operation": "add", "type": "project", "properties": {"name": name}})
            keep = (await ok(s, "memory_node", {"operation": "add", "type": "memory", "properties": {"title": "keep"}}))["node"]
            preview, cleared = await confirmed(s, "memory_clear", {"type": "project"})
            assert preview["preview"] == {"type": "project", "nodesToDelete": 2}
            assert cleared["deletedNodes"] == 2
            assert (await ok(s, "memory_node", {"operation": "query", "type": "project"}))["count"] == 0
            await ok(s, "memory_node", {"operation": "get", "id": keep["id"]})
            assert "one of" in await fails(s, "memory_clear", {"type": "everything"})

    run(body)


def test_protocol_errors_and_argument_validation(core):
    async def body():
        async with connect(core.url) as s:
            with pytest.raises(MCPError) as unknown:
                await s.call_tool("no_such_tool", {})
            assert unknown.value.code == -32602 and "Unknown tool: no_such_tool" in unknown.value.error.message

            assert "'id' must be a string" in await fails(s, "memory_node", {"operation": "get", "id": 42})
            assert "'operation' is required" in await fails(s, "memory_node", {"id": "x"})
            assert "'operation' must be one of" in await fails(s, "memory_node", {"operation": "explode"})
            assert "'nodes' must be an array" in await fails(s, "memory_batch", {"operation": "add_nodes", "nodes": {"a": 1}})
            assert "'nodes[0].type' is required" in await fails(s, "memory_batch", {"operation": "add_nodes", "nodes": [{}]})
            assert "'timeout_ms' must be an integer" in await fails(
                s, "memory_lock", {"operation": "acquire", "node_id": "n", "agent_id": "a", "timeout_ms": "soon"})
            assert "'limit' must be at most 100" in await fails(s, "vector_search_nodes", {"query": "x", "limit": 1000})
            assert "'min_similarity' must be a number" in await fails(
                s, "vector_search_nodes", {"query": "x", "min_similarity": "high"})
            assert "'recursive' must be a boolean" in await fails(s, "index_folder", {"path": "docs", "recursive": "yes"})
            assert "'query' must not be empty" in await fails(s, "vector_search_nodes", {"query": ""})

    run(body)


def test_data_survives_a_restart(fresh_core):
    async def write():
        async with connect(fresh_core.url, headers={"X-User-ID": "carol"}) as s:
            a = (await ok(s, "memory_node", {"operation": "add", "type": "memory", "id": "memory-durable",
                                             "properties": {"title": "durable", "n": 7}}))["node"]
            await ok(s, "memory_node", {"operation": "add", "type": "memory", "id": "memory-durable-2", "properties": {}})
            await ok(s, "memory_edge", {"operation": "add", "source": a["id"], "target": "memory-durable-2", "type": "relates_to"})
            await ok(s, "todo", {"operation": "create", "title": "survive"})
            return a

    async def read_back(before):
        async with connect(fresh_core.url) as s:
            after = (await ok(s, "memory_node", {"operation": "get", "id": "memory-durable"}))["node"]
            assert after == before
            assert (await ok(s, "memory_edge", {"operation": "get", "node_id": "memory-durable"}))["count"] == 1
            assert (await ok(s, "todo", {"operation": "list", "filters": {"title": "survive"}}))["count"] == 1
            found = await ok(s, "vector_search_nodes", {"query": "durable"})
            assert found["results"][0]["node"]["id"] == "memory-durable"
            # Clearing everything also needs confirmation, and empties the store.
            preview, cleared = await confirmed(s, "memory_clear", {"type": "ALL"})
            assert preview["preview"]["nodesToDelete"] == 3 and cleared["deletedNodes"] == 3
            assert (await ok(s, "get_embedding_stats", {}))["totalNodes"] == 0

    fresh_core.start()
    box = {}

    async def first():
        box["node"] = await write()

    run(first)
    assert box["node"]["created_by"] == "carol"
    fresh_core.stop()
    time.sleep(0.2)
    fresh_core.start()
    run(lambda: read_back(box["node"]))
