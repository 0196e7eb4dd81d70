#!/usr/bin/env bash
# Runs the core's Neo4j tests against a real, disposable Neo4j 5.26 on loopback:
# starts it (start.sh), runs the tests with NEO4J_TEST_* set, stops it and deletes its data.
#
#   tests/neo4j/run.sh          # the Neo4j store tests (conformance, parity, TLS, migration, governance)
#   tests/neo4j/run.sh bench    # the store benchmark, embedded and Neo4j side by side
#
# Needs Java 17 and Maven (`apt-get install -y openjdk-17-jdk-headless maven`), openssl and
# python3; the first run downloads Neo4j from Maven Central into ~/.m2.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
state="$(mktemp -d)"
trap 'bash "$root/tests/neo4j/stop.sh" "$state"' EXIT

bash "$root/tests/neo4j/start.sh" "$state"
# shellcheck disable=SC1091
source "$state/env"

cd "$root"
case "${1:-test}" in
    test) cargo test -p mimir-core --test neo4j_conformance --test neo4j_migrate \
        --test clearance --test retention --test privacy ;;
    bench) cargo bench -p mimir-core --bench stores ;;
    *) echo "usage: run.sh [test|bench]" >&2; exit 2 ;;
esac
