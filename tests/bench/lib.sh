# shellcheck shell=bash
# Shared set-up of the proxy benchmarks (run.sh, instructions.sh): sourced, not run.
# Provides WORK (a scratch directory removed on exit), PIDS (servers stopped on exit), BIN (the
# optimized binaries of the `dist` profile), the dev certificates, a 1 KiB payload, a test OpenID
# issuer with one RS256 token (JWT, tests/bench/issuer.sh), nginx configurations, the mimir-proxy
# policies, an API key (AUTH) and the request path every target is loaded with.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

WORK="$(mktemp -d)"
PIDS=()
cleanup() { # SIGTERM first (nginx stops its workers); pingora's passthrough would drain for minutes
  exec 2>/dev/null # the shell's "Killed" notices
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# BENCH_BIN_DIR: use binaries built earlier (its examples/ holds passthrough) instead of building.
BIN="${BENCH_BIN_DIR:-target/dist}"
[ -n "${BENCH_BIN_DIR:-}" ] || cargo build --profile dist -q -p mimir-proxy --bins --examples
"$BIN/mimir-proxy" gen-certs --dir "$WORK/certs" >/dev/null

head -c 1024 /dev/zero | tr '\0' 'x' > "$WORK/payload"
# nginx workers run unprivileged: let them read the payload.
chmod 755 "$WORK"; chmod 644 "$WORK/payload"
mkdir -p "$WORK/nginx"

UPSTREAM_PORT=18080
# The test issuer's discovery document and JWKS are static files of the fixed upstream (plain HTTP
# on loopback, which both oauth2-proxy and mimir-proxy accept); its key stays outside them.
ISSUER="http://127.0.0.1:$UPSTREAM_PORT/idp"
AUDIENCE=mimir-bench
JWT=$(bash tests/bench/issuer.sh "$WORK/issuer-key.pem" "$WORK/idp" "$ISSUER" "$AUDIENCE")
chmod -R a+rX "$WORK/idp"

# $WORK/NAME.conf: WORKERS worker processes, MAIN directives, SERVERS in its http block; the
# error log is $WORK/NAME-error.log.
nginx_conf() { # name workers main servers
cat > "$WORK/$1.conf" <<NGINX
worker_processes $2;
$3
error_log $WORK/$1-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx; proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx; uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx;
$4
}
NGINX
}
# A daemonized nginx from nginx_conf; its master's pid joins PIDS.
start_nginx() { # name workers servers
  nginx_conf "$1" "$2" "pid $WORK/$1.pid;" "$3"
  nginx -c "$WORK/$1.conf" -e "$WORK/$1-error.log"
  PIDS+=("$(sleep 0.5; cat "$WORK/$1.pid")")
}
# The fixed upstream: 1 KiB for every path, and the test issuer's documents under /idp/.
nginx_upstream_server() {
cat <<NGINX
  server {
    listen 127.0.0.1:$UPSTREAM_PORT;
    location / { root $WORK; try_files /payload =404; default_type text/plain; }
    location /idp/ { alias $WORK/idp/; default_type application/json; }
  }
NGINX
}
# The keep-alive connection pool to the fixed upstream, shared by the nginx proxies below.
nginx_upstream_pool() {
  echo "  upstream mimir_server { server 127.0.0.1:$UPSTREAM_PORT; keepalive 32; }"
}
# The TLS listener of the seed's Option 1: TLS 1.2/1.3, its cipher list, session cache, HSTS.
nginx_tls() { # listen-port
cat <<NGINX
    listen 127.0.0.1:$1 ssl http2;
    ssl_certificate $WORK/certs/server.pem; ssl_certificate_key $WORK/certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384;
    ssl_session_cache shared:SSL:10m;
    add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
NGINX
}
# proxy_pass to the fixed upstream with keep-alive and the forwarding headers; EXTRA directives
# go in the same block (a proxy_set_header there would otherwise hide these).
nginx_proxy_pass() { # [extra directives]
cat <<NGINX
      proxy_pass http://mimir_server; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host \$host; proxy_set_header X-Real-IP \$remote_addr;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto \$scheme;
NGINX
[ -z "${1:-}" ] || echo "      $1"
}
# The seed's Option-1 reverse proxy: TLS, HSTS, proxy_pass with keep-alive to the upstream; no
# credential checked.
nginx_proxy_server() { # listen-port
  echo "  server {"; nginx_tls "$1"; echo "    location / {"; nginx_proxy_pass; echo "    }"; echo "  }"
}
# Option 1 with as much of the gateway's work as nginx does by configuration alone: the API key
# compared with one static string (map), its user sent upstream and the credential removed, a
# per-IP limit_req too high to refuse anything, a buffered JSON access log, an address allow list.
nginx_option1_server() { # listen-port
cat <<NGINX
  map_hash_bucket_size 128;
  map \$http_authorization \$api_user { "Bearer $KEY" "bench"; default ""; }
  limit_req_zone \$binary_remote_addr zone=per_ip:10m rate=1000000r/s;
  log_format audit_json escape=json '{"time":"\$time_iso8601","request_id":"\$request_id","client":"\$remote_addr","user":"\$api_user","method":"\$request_method","uri":"\$request_uri","status":\$status,"bytes":\$body_bytes_sent,"duration":\$request_time,"upstream_duration":"\$upstream_response_time"}';
  server {
$(nginx_tls "$1")
    allow 127.0.0.1; deny all;
    access_log $WORK/option1-access.log audit_json buffer=64k flush=1s;
    location / {
      if (\$api_user = "") { return 401; }
      limit_req zone=per_ip burst=1000000 nodelay;
$(# shellcheck disable=SC2016 # nginx variables
  nginx_proxy_pass 'proxy_set_header X-User-ID $api_user; proxy_set_header Authorization "";')
    }
  }
NGINX
}
# nginx asking oauth2-proxy (on the given port) about every request with auth_request,
# over a keep-alive pool, then proxying with the user it names and without the credential.
nginx_oauth2_server() { # listen-port oauth2-proxy-port
cat <<NGINX
  upstream oauth2_proxy { server 127.0.0.1:$2; keepalive 32; }
  server {
$(nginx_tls "$1")
    location = /oauth2/auth {
      internal;
      proxy_pass http://oauth2_proxy; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_pass_request_body off; proxy_set_header Content-Length "";
      proxy_set_header Host \$host; proxy_set_header X-Real-IP \$remote_addr;
      proxy_set_header X-Forwarded-Uri \$request_uri;
    }
    location / {
      auth_request /oauth2/auth;
      auth_request_set \$auth_user \$upstream_http_x_auth_request_user;
$(# shellcheck disable=SC2016 # nginx variables
  nginx_proxy_pass 'proxy_set_header X-User-ID $auth_user; proxy_set_header Authorization "";')
    }
  }
NGINX
}

# Traffic controls of the full pipeline: every rate limit of the gateway on (per IP, per user,
# per API key, and route groups replacing the built-in ones, which would refuse at 100 requests a
# minute) at a rate no benchmark reaches, so the limiter does its full work and refuses nothing;
# and an address allow list, as nginx's `allow 127.0.0.1; deny all;`.
HIGH='{ requests = 1000000, per = "second", burst = 1000000 }'
limits_high() {
cat <<TOML
[traffic]
rate_limits = true
per_ip = $HIGH
per_user = $HIGH
per_api_key = $HIGH
[[traffic.groups]]
name = "health"
paths = ["/health", "/healthz", "/api/health"]
limit = $HIGH
[[traffic.groups]]
name = "auth"
paths = ["/auth/**", "/login", "/logout", "/oauth/**"]
limit = $HIGH
on_redis_error = "closed"
[[traffic.groups]]
name = "mcp"
paths = ["/mcp/**"]
limit = $HIGH
max_body_bytes = 1048576
[[traffic.groups]]
name = "api"
paths = ["/api/**"]
limit = $HIGH
[traffic.ip]
allow = ["127.0.0.1/32"]
TOML
}
# The audit trail to DIR/audit.log: file sink with its hash chain, async mode.
audit_on() { # dir
  printf '[audit]\nenabled = true\nmode = "async"\ndestinations = ["file"]\n[audit.file]\npath = "%s/audit.log"\n' "$1"
}
# The test issuer as an external issuer: RS256 only, keys from its JWKS, roles from `roles`.
jwt_issuer() {
cat <<TOML
[[auth.issuers]]
issuer = "$ISSUER"
jwks_uri = "$ISSUER/jwks.json"
algorithms = ["RS256"]
audiences = ["$AUDIENCE"]
role_claims = ["roles"]
TOML
}

policy() { # listen-port admin-port limits(off|high) [extra TOML]
cat <<TOML
[server]
listen = "127.0.0.1:$1"
admin_listen = "127.0.0.1:$2"
threads = 2
[tls]
cert = "$WORK/certs/server.pem"
key = "$WORK/certs/server.key"
[upstream]
address = "127.0.0.1:$UPSTREAM_PORT"
[auth]
keys_file = "$WORK/api-keys.json"
[log]
level = "warn"
TOML
if [ "$3" = high ]; then limits_high; else
  # One load generator on one IP would only measure 429s under the default limits.
  printf '[traffic]\nrate_limits = false\n'
fi
echo "${4:-}"
}
# (c) mimir-proxy: API key, limits off, audit off. The full pipeline: API key, limits high, audit
# on; and the same with the test issuer's JWT.
policy 18444 19090 off > "$WORK/policy.toml"
policy 18446 19091 high "$(audit_on "$WORK/audit-full")" > "$WORK/policy-full.toml"
policy 18449 19092 high "$(audit_on "$WORK/audit-jwt")
$(jwt_issuer)" > "$WORK/policy-jwt.toml"
# Every request is a realistic authenticated one: an API key with the developer role reading a node
# (authentication, authorization and the rest of the pipeline all run).
KEY=$("$BIN/mimir-proxy" keys create --config "$WORK/policy.toml" --name bench --roles developer --expires 1d | grep '^mimir_')
# shellcheck disable=SC2034 # used by the scripts sourcing this one
AUTH="Authorization: Bearer $KEY"
# shellcheck disable=SC2034
AUTH_JWT="Authorization: Bearer $JWT"
# shellcheck disable=SC2034
PATH_UNDER_TEST=/api/nodes/bench

passthrough_args() { # listen-port
  echo "127.0.0.1:$1 127.0.0.1:$UPSTREAM_PORT $WORK/certs/server.pem $WORK/certs/server.key"
}

wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
