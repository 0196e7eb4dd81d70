#!/usr/bin/env bash
# Starts a disposable Neo4j 5.26 Community server for the core's Neo4j tests, in the background.
#
#   tests/neo4j/start.sh STATE_DIR
#
# STATE_DIR (created when missing) receives the database, a dev CA and Bolt certificate, the log,
# `pid`, and `env`: a file to source that exports NEO4J_TEST_URI, NEO4J_TEST_TLS_URI,
# NEO4J_TEST_CA, NEO4J_TEST_USER and NEO4J_TEST_PASSWORD. Bolt listens on 127.0.0.1 only, with
# TLS optional (plain bolt:// and bolt+s:// on one port) and authentication on.
# Optional env: NEO4J_TEST_PORT (default: a free port), NEO4J_TEST_PASSWORD (default: random).
# Needs Java 17 and Maven; the first run downloads Neo4j from Maven Central.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
state="${1:?usage: start.sh STATE_DIR}"
mkdir -p "$state"
state="$(cd "$state" && pwd)"

# Offline when the local Maven repository already has everything, online otherwise.
if ! mvn -q -o -f "$here/pom.xml" package >"$state/build.log" 2>&1; then
    mvn -q -f "$here/pom.xml" package >"$state/build.log" 2>&1 || {
        cat "$state/build.log" >&2
        exit 1
    }
fi

port="${NEO4J_TEST_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
password="${NEO4J_TEST_PASSWORD:-$(openssl rand -hex 16)}"

# A dev CA and a leaf for localhost / 127.0.0.1, so bolt+s:// is tested with real verification.
tls="$state/tls"
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Mimir test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tls/private.key" -out "$tls/leaf.csr" 2>/dev/null
openssl x509 -req -in "$tls/leaf.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 2 -out "$tls/public.crt" \
    -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') \
    2>/dev/null
chmod 600 "$tls"/*.key

cat >"$state/neo4j.conf" <<CONF
server.bolt.enabled=true
server.bolt.listen_address=127.0.0.1:$port
server.bolt.tls_level=OPTIONAL
dbms.ssl.policy.bolt.enabled=true
dbms.ssl.policy.bolt.base_directory=$tls
dbms.ssl.policy.bolt.private_key=private.key
dbms.ssl.policy.bolt.public_certificate=public.crt
dbms.ssl.policy.bolt.client_auth=NONE
dbms.security.auth_enabled=true
server.memory.pagecache.size=128m
CONF

NEO4J_TEST_PASSWORD="$password" nohup java -Xms256m -Xmx1g \
    -cp "$here/target/classes:$(cat "$here/target/classpath.txt")" \
    mimir.neo4j.TestServer "$state/home" "$state/neo4j.conf" \
    >"$state/server.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$state/pid"

for _ in $(seq 1 180); do
    if grep -q '^READY$' "$state/server.log"; then
        cat >"$state/env" <<ENV
export NEO4J_TEST_URI='bolt://127.0.0.1:$port'
export NEO4J_TEST_TLS_URI='bolt+s://localhost:$port'
export NEO4J_TEST_CA='$tls/ca.pem'
export NEO4J_TEST_USER='neo4j'
export NEO4J_TEST_PASSWORD='$password'
ENV
        echo "neo4j: ready on 127.0.0.1:$port (pid $pid)"
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "neo4j: the server exited during start-up:" >&2
        tail -n 50 "$state/server.log" >&2
        exit 1
    fi
    sleep 1
done
echo "neo4j: not ready after 180 s:" >&2
tail -n 50 "$state/server.log" >&2
kill "$pid" 2>/dev/null || true
exit 1
