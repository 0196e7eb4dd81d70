"""docs/quickstart.md, step by step as a new user runs it, from a fresh directory: embedded
defaults, then Neo4j, then an OpenID provider, then nginx in front. Each test runs the page's own
blocks (tests/deploy/quickstart_doc.py), so the page and the tests cannot drift apart."""

import json
import os
import re
import shutil
import time

import pytest
from neo4j import GraphDatabase

from conftest import running_idp
from quickstart_doc import DOC, REPO, Quickstart, apply_toml, doc_blocks, under_ci
from quickstart_nginx import Nginx, nginx_bin

# Blocks these tests run, and blocks exercised elsewhere: `build` is the test command's own
# `cargo build` (debug binaries); `compose` is run as written on a Docker engine by
# tests/deploy/test_docker.py; `kubernetes` by tests/deploy/manifests_test.go (kustomize build of
# base and webhook, strict API decoding, Pod Security restricted; no cluster runs here).
RUN_HERE = {"gate", "first-requests", "api-key", "audit-verify", "neo4j-password", "neo4j-migrate",
            "neo4j-gate", "oidc-policy", "oidc-check", "oidc-gate", "oidc-requests", "nginx-policy",
            "nginx-install", "nginx-requests"}
ELSEWHERE = {"build", "compose", "kubernetes"}
# What the page's OpenID example says, and the test provider's equivalent (tests/idp/idp.mjs):
# only the issuer URL and the client's secret differ.
DOC_ISSUER = "https://keycloak.example.com/realms/mimir"
DOC_RESOURCE = "https://mimir.example.com"
IDP_CLIENT_SECRET = "agent-secret"


@pytest.fixture
def quickstart(tmp_path, monkeypatch):
    for tree in ("config", "nginx-compat"):
        shutil.copytree(REPO / tree, tmp_path / tree)
    # The servers start where the page's commands run: its relative paths start there.
    monkeypatch.chdir(tmp_path)
    site = Quickstart(tmp_path)
    yield site
    site.stop()


def test_every_block_of_the_page_is_exercised():
    blocks = doc_blocks()
    assert set(blocks) == RUN_HERE | ELSEWHERE
    # What the commands exercised elsewhere name exists as they name it.
    for path in ("deploy/compose/make-secrets.sh", "deploy/kubernetes/base", "deploy/kubernetes/webhook"):
        assert path in DOC.read_text() and (REPO / path).exists(), path
    policy = re.search(r"--config (\S+)", blocks["compose"]).group(1)
    assert f":{policy}:" in (REPO / "docker-compose.yml").read_text(), f"docker-compose.yml does not mount {policy}"


def json_answers(out: str) -> tuple:
    """The JSON documents curl printed one after another, and the text after them."""
    decoder, answers, at = json.JSONDecoder(), [], 0
    while out.startswith("{", at):
        answer, at = decoder.raw_decode(out, at)
        answers.append(answer)
    return answers, out[at:]


def assert_health_and_types(out: str) -> None:
    """`/health`, then `/api/nodes/types` answered for the token (no error document)."""
    answers, rest = json_answers(out)
    assert len(answers) == 2 and not rest.strip(), out
    assert answers[0]["status"] == "healthy", out
    assert "types" in answers[1], out


def first_requests(site: Quickstart) -> None:
    """The page's first requests: health, a token for a printed development user, the API."""
    assert_health_and_types(site.run("first-requests", {"<printed password>": site.password("developer")}))


def test_step1_embedded_defaults(quickstart):
    quickstart.start("gate")
    first_requests(quickstart)

    key = quickstart.run("api-key").strip()
    assert key.startswith("mimir_") and len(key.split()) == 1, key
    # The running proxy re-reads the keys file within a second of the change.
    with quickstart.client() as client:
        deadline = time.monotonic() + 10
        while (status := client.get("/api/nodes/types", headers={"Authorization": f"Bearer {key}"}).status_code) != 200:
            assert status == 401 and time.monotonic() < deadline, status
            time.sleep(0.2)

    # Records reach the file within the audit fsync interval; the chain verifies at any point.
    quickstart.run("audit-verify")
    assert (quickstart.root / "data").is_dir(), "the embedded store lives under ./data"


def neo4j_settings() -> dict:
    """The Neo4j the test command started (tests/neo4j/start.sh); missing fails under CI."""
    if "NEO4J_TEST_URI" not in os.environ:
        if under_ci():
            pytest.fail("NEO4J_TEST_URI is not set under CI: run the tests with tests/run.sh")
        pytest.skip("NEO4J_TEST_URI is not set: quickstart step 2 needs the Neo4j of tests/run.sh")
    return {name: os.environ[f"NEO4J_TEST_{name}"] for name in ("URI", "USER", "PASSWORD")}


def empty_neo4j(neo4j: dict) -> None:
    """The test command's Neo4j is shared with the Rust suites: empty it, as a reader's new
    database would be (the import refuses a store that is not empty)."""
    with GraphDatabase.driver(neo4j["URI"], auth=(neo4j["USER"], neo4j["PASSWORD"])) as driver:
        driver.execute_query("MATCH (n) DETACH DELETE n")


def test_step2_neo4j_keeps_the_graph_of_step1(quickstart):
    neo4j = neo4j_settings()
    quickstart.start("gate")
    with quickstart.client() as client:
        developer = {"Authorization": f"Bearer {quickstart.token('developer')}"}
        created = client.post("/api/nodes", json={"type": "memory", "properties": {"title": "quickstart"}},
                              headers=developer)
        assert created.status_code in (200, 201), created.text
        node_id = created.json()["node"]["id"]
        before = client.get(f"/api/nodes/{node_id}", headers=developer)
        assert before.status_code == 200, before.text
    quickstart.stop()

    uri = {"bolt://127.0.0.1:7687": neo4j["URI"]}
    quickstart.run("neo4j-password", {"the-neo4j-password": neo4j["PASSWORD"]})
    quickstart.env["NEO4J_USER"] = neo4j["USER"]   # the page's default, `neo4j`, in tests/neo4j
    empty_neo4j(neo4j)
    quickstart.run("neo4j-migrate", uri)
    try:
        quickstart.start("neo4j-gate", uri)
        first_requests(quickstart)
        with quickstart.client() as client:
            found = client.get(f"/api/nodes/{node_id}",
                               headers={"Authorization": f"Bearer {quickstart.token('developer')}"})
            assert found.json() == before.json(), "the node changed on the way to Neo4j"
    finally:
        empty_neo4j(neo4j)


def my_policy(site: Quickstart, block: str, replace: dict = None) -> None:
    """`my-policy.toml`: a copy of config/policy.toml with the page's TOML block applied."""
    path = site.root / "my-policy.toml"
    if not path.exists():
        shutil.copy(site.root / "config" / "policy.toml", path)
    apply_toml(path, site.script(block, replace))


def test_step3_openid_provider(quickstart):
    with running_idp(DOC_RESOURCE) as issuer:
        my_policy(quickstart, "oidc-policy", {DOC_ISSUER: issuer})
        assert "OK" in quickstart.run("oidc-check")
        quickstart.start("oidc-gate")
        out = quickstart.run("oidc-requests", {DOC_ISSUER: issuer, "<client secret>": IDP_CLIENT_SECRET})
    answers, explained = json_answers(out)
    # A write: only the token's developer role allows it (without roles it would be a viewer's).
    assert len(answers) == 1 and answers[0].get("success") is True, out
    assert "decision:  ALLOW" in explained, out


def test_step4_behind_nginx(quickstart):
    binary = nginx_bin()
    my_policy(quickstart, "nginx-policy")
    quickstart.start("oidc-gate")
    nginx = Nginx(quickstart, binary)
    try:
        nginx.install()
        out = quickstart.run("nginx-requests",
                             {"https://mimir.example.com": f"--cacert {nginx.site_ca} https://localhost:{nginx.port}"},
                             env={"TOKEN": quickstart.token("developer")})
    finally:
        nginx.stop()
    assert_health_and_types(out)
    # The answers came through nginx.
    access = (nginx.run_dir / "access.log").read_text()
    assert "/api/nodes/types" in access, access
