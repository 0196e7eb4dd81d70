#!/usr/bin/env bash
# Stops the server started by start.sh and deletes its state.
#
#   tests/neo4j/stop.sh STATE_DIR
set -uo pipefail

state="${1:?usage: stop.sh STATE_DIR}"
if [ -f "$state/pid" ]; then
    pid="$(cat "$state/pid")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        # A clean shutdown flushes the page cache; give it time before forcing.
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
fi
rm -rf "$state"
