#!/usr/bin/env bash
# The project's test command (README): Rust unit + integration tests, then the end-to-end
# suites that drive the real binaries with real peers (Neo4j, an OpenID provider, Redis,
# the official MCP Python SDK). Peers' packages: see .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# A disposable Neo4j on loopback for the Neo4j store tests (they fail without it under CI).
neo4j_state="$(mktemp -d)"
trap 'bash tests/neo4j/stop.sh "$neo4j_state"' EXIT
bash tests/neo4j/start.sh "$neo4j_state"
# shellcheck disable=SC1091
source "$neo4j_state/env"

# Binaries first: several suites start the real core and proxy.
cargo build --workspace --bins
export MIMIR_CORE_BIN="$PWD/target/debug/mimir-core"
export MIMIR_PROXY_BIN="$PWD/target/debug/mimir-proxy"

cargo test --workspace --all-targets
# Kubernetes manifests: kustomize build + strict decoding + Pod Security restricted checks.
(cd tests/deploy && go test -count=1 ./...)
python3 -m pytest -q tests/mcp tests/browser tests/deploy tests/exhaustion
