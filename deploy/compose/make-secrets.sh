#!/usr/bin/env bash
# Creates the secrets docker-compose.yml mounts, in deploy/compose/secrets/ (or the directory
# given as $1). Existing files are kept, so running it again never rotates anything by accident;
# docs/runbook.md describes rotation. Needs only openssl.
set -euo pipefail
dir="${1:-$(dirname "$0")/secrets}"
mkdir -p "$dir"
chmod 0700 "$dir"
cd "$dir"
umask 077

new() { [ -s "$1" ] && echo "kept    $dir/$1" && return 1; echo "created $dir/$1"; }

# Neo4j: the core reads the bare password, the Neo4j image wants "neo4j/<password>".
if new neo4j-password; then
    openssl rand -base64 32 | tr -d '/+=\n' >neo4j-password
    rm -f neo4j-auth
fi
if new neo4j-auth; then
    printf 'neo4j/%s' "$(cat neo4j-password)" >neo4j-auth
fi

# Ed25519 keys: the proxy's own tokens (/auth/login) and the identity assertion the core
# verifies (docs/identity-assertion.md).
if new token-signing.key; then
    openssl genpkey -algorithm ed25519 -out token-signing.key
fi
if new identity.key; then
    openssl genpkey -algorithm ed25519 -out identity.key
    rm -f identity.pub
fi
if new identity.pub; then
    openssl pkey -in identity.key -pubout -out identity.pub
fi

# A private CA and a server certificate for localhost. Replace tls.pem/tls.key with your
# organisation's certificate for a real host name (the proxy reloads them on change).
if new tls.key; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=Mimir Gate compose CA" -keyout ca.key -out ca.pem \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=localhost" -keyout tls.key -out tls.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >tls.ext
    openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 397 \
        -extfile tls.ext -out tls.crt 2>/dev/null
    cat tls.crt ca.pem >tls.pem
    rm -f tls.csr tls.ext tls.crt ca.srl
    echo "trust $dir/ca.pem: curl --cacert $dir/ca.pem https://localhost:8443/health"
fi
# Docker secrets outside swarm are bind mounts that keep the host file's owner and mode, and the
# containers run as uid 10001 (Neo4j as 7474): the mounted files must be world-readable. The
# directory (0700) keeps other host users out; ca.key is never mounted and stays 0600.
chmod 0644 neo4j-password neo4j-auth token-signing.key identity.key identity.pub tls.key tls.pem ca.pem
