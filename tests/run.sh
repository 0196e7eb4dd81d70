#!/usr/bin/env bash
# The project's test command (README): Rust unit + integration tests, then the end-to-end
# suites that drive the real binaries with real third-party clients.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets
cargo build --workspace --bins

export MIMIR_CORE_BIN="$PWD/target/debug/mimir-core"
export MIMIR_PROXY_BIN="$PWD/target/debug/mimir-proxy"
python3 -m pytest -q tests/mcp
