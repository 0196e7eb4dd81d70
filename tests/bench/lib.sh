# Shared set-up of the proxy benchmarks (run.sh, instructions.sh): sourced, not run.
# Provides WORK (a scratch directory removed on exit), PIDS (servers stopped on exit), BIN (the
# optimized binaries of the `dist` profile), the dev certificates, a 1 KiB payload, nginx configurations, the
# mimir-proxy policy, an API key (AUTH) and the request path every target is loaded with.
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
# The fixed upstream: 1 KiB for every path.
nginx_upstream_server() {
  echo "  server { listen 127.0.0.1:$UPSTREAM_PORT; location / { root $WORK; try_files /payload =404; default_type text/plain; } }"
}
# The seed's Option-1 reverse proxy: TLS, HSTS, proxy_pass with keep-alive to the upstream.
nginx_proxy_server() { # listen-port
cat <<NGINX
  upstream mimir_server { server 127.0.0.1:$UPSTREAM_PORT; keepalive 32; }
  server {
    listen 127.0.0.1:$1 ssl http2;
    ssl_certificate $WORK/certs/server.pem; ssl_certificate_key $WORK/certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384;
    ssl_session_cache shared:SSL:10m;
    add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
    location / {
      proxy_pass http://mimir_server; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host \$host; proxy_set_header X-Real-IP \$remote_addr;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto \$scheme;
    }
  }
NGINX
}

policy() { # listen-port admin-port [extra TOML]
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
# One load generator on one IP would only measure 429s; the limiter's own cost is measured by
# cargo bench -p mimir-proxy --bench ratelimit.
[traffic]
rate_limits = false
${3:-}
TOML
}
policy 18444 19090 > "$WORK/policy.toml"
# Every request is a realistic authenticated one: an API key with the developer role reading a node
# (authentication, authorization and the rest of the pipeline all run).
KEY=$("$BIN/mimir-proxy" keys create --config "$WORK/policy.toml" --name bench --roles developer --expires 1d | grep '^mimir_')
AUTH="Authorization: Bearer $KEY"
PATH_UNDER_TEST=/api/nodes/bench

passthrough_args() { # listen-port
  echo "127.0.0.1:$1 127.0.0.1:$UPSTREAM_PORT $WORK/certs/server.pem $WORK/certs/server.key"
}

wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
