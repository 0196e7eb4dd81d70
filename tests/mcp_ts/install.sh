#!/usr/bin/env bash
# Installs the official TypeScript MCP SDK, pinned by package-lock.json, into
# tests/mcp_ts/node_modules (used by tests/mcp/test_oauth_typescript.py).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
