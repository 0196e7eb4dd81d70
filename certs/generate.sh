#!/usr/bin/env bash
# Development CA + localhost server certificate into certs/dev (or the directory given).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet -p mimir-proxy -- gen-certs --dir "${1:-certs/dev}"
