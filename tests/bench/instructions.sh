#!/usr/bin/env bash
# Proxy cost in CPU instructions per request, counted by callgrind: unlike requests/s on a
# machine shared with the load generator, the count repeats run after run, whatever else the
# machine is doing. Each proxy in turn runs under `valgrind --tool=callgrind`, receives the same
# keep-alive TLS load as tests/bench/run.sh (GET with an API key, 1 KiB responses from a fixed
# nginx upstream), and the instructions it executed (all threads, user space only: the kernel's
# share is about the same for all of them, one read and one write per side) are divided by the
# requests wrk completed:
#   (b) bare pingora passthrough, (c) mimir-proxy (rate limits and audit trail off), (d) nginx as
#   the Option-1 reverse proxy, (e) nginx doing what it can of the gateway's work (API key against
#   one static string, limit_req, buffered JSON access log, allow list), (g) the full pipeline:
#   mimir-proxy with every rate limit on (too high to refuse) and the audit trail on (file sink,
#   async; its writer thread is counted too), (h) as (g) with an RS256 JWT of a test issuer
#   instead of the API key (verified once, then from the token cache). Letters as in
#   tests/bench/run.sh.
# Needs: valgrind, wrk, nginx. Usage: tests/bench/instructions.sh [SECONDS]
# shellcheck source=tests/bench/lib.sh
source "$(dirname "$0")/lib.sh"
DURATION="${1:-10}"

start_nginx upstream 1 "$(nginx_upstream_server)"
wait_port "$UPSTREAM_PORT"

# nginx as one process (no master) so that callgrind sees all of its work.
nginx_conf proxy-nginx 1 $'master_process off;\ndaemon off;' "$(nginx_upstream_pool; nginx_proxy_server 18445)"
nginx_conf option1-nginx 1 $'master_process off;\ndaemon off;' "$(nginx_upstream_pool; nginx_option1_server 18447)"

declare -A INSTR REQS
measure() { # name port credential-header command...
  local name="$1" port="$2" header="$3" pid count
  shift 3
  valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.cg" "$@" >"$WORK/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_port "$port"
  # Warm-up (TLS session, upstream connections, caches) outside the counted window.
  wrk -t1 -c2 -d2s -H "$header" "https://127.0.0.1:$port$PATH_UNDER_TEST" >/dev/null
  callgrind_control --zero "$pid" >/dev/null
  count=$(wrk -t1 -c2 -d"${DURATION}s" -H "$header" "https://127.0.0.1:$port$PATH_UNDER_TEST" |
    awk '/Non-2xx/ {bad=1} /requests in/ {n=$1} END {print bad ? "errors" : n}')
  if [ "$count" = errors ]; then echo "$name answered errors" >&2; exit 1; fi
  callgrind_control --dump "$pid" >/dev/null
  for _ in $(seq 100); do [ -s "$WORK/$name.cg.1" ] && break; sleep 0.2; done
  { kill -9 "$pid" && wait "$pid"; } 2>/dev/null || true
  # The dump may take a moment after its file appears.
  sleep 1
  INSTR[$name]=$(callgrind_annotate "$WORK/$name.cg.1" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  REQS[$name]=$count
}
# shellcheck disable=SC2046 # the arguments are split on purpose
measure b-pingora 18443 "$AUTH" "$BIN/examples/passthrough" $(passthrough_args 18443)
measure c-mimir-proxy 18444 "$AUTH" "$BIN/mimir-proxy" run --config "$WORK/policy.toml"
measure d-nginx 18445 "$AUTH" nginx -c "$WORK/proxy-nginx.conf" -e "$WORK/proxy-nginx-error.log"
measure e-nginx-option1 18447 "$AUTH" nginx -c "$WORK/option1-nginx.conf" -e "$WORK/option1-nginx-error.log"
measure g-mimir-full 18446 "$AUTH" "$BIN/mimir-proxy" run --config "$WORK/policy-full.toml"
measure h-mimir-jwt 18449 "$AUTH_JWT" "$BIN/mimir-proxy" run --config "$WORK/policy-jwt.toml"

echo
echo "callgrind, wrk -t1 -c2 -d${DURATION}s GET $PATH_UNDER_TEST with an API key ((h): an RS256 JWT), 1 KiB responses, keep-alive TLS"
printf '%-16s %10s %16s %9s %9s\n' target requests instructions/req "vs nginx" "vs (b)"
per_req() { awk -v i="${INSTR[$1]}" -v n="${REQS[$1]}" 'BEGIN {printf "%.0f", i / n}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
NGINX_COST=$(per_req d-nginx)
PINGORA_COST=$(per_req b-pingora)
for t in b-pingora c-mimir-proxy d-nginx e-nginx-option1 g-mimir-full h-mimir-jwt; do
  cost=$(per_req "$t")
  printf '%-16s %10s %16s %8sx %8sx\n' "$t" "${REQS[$t]}" "$cost" "$(ratio "$cost" "$NGINX_COST")" "$(ratio "$cost" "$PINGORA_COST")"
done
echo "gateway's own cost ((c) - (b)): $(( $(per_req c-mimir-proxy) - PINGORA_COST )) instructions per request"
echo "full pipeline (g) against bare pingora (b): $(ratio "$(per_req g-mimir-full)" "$PINGORA_COST")x, $(( $(per_req g-mimir-full) - PINGORA_COST )) instructions more per request"
echo "rate limits and audit trail ((g) - (c)): $(( $(per_req g-mimir-full) - $(per_req c-mimir-proxy) )) instructions per request"
echo "full pipeline (g) against nginx Option 1 (e): $(ratio "$(per_req g-mimir-full)" "$(per_req e-nginx-option1)")x"
echo "the JWT instead of the API key ((h) - (g)): $(( $(per_req h-mimir-jwt) - $(per_req g-mimir-full) )) instructions per request"

# Two costs that run across the gateway's stages (docs/benchmarks.md, "Why the ratio targets cannot
# be met"): pingora-http's header map operations and SHA-256 (ring's AVX code under valgrind).
inclusive() { # name function-pattern: inclusive instructions per request of the matching functions
  callgrind_annotate --inclusive=yes "$WORK/$1.cg.1" |
    awk -v re="$2" -v n="${REQS[$1]}" '$0 ~ re {gsub(",", "", $1); s += $1} END {printf "%.0f", s / n}'
}
HEADER_OPS='pingora_http::(insert_header_value|append_header_value|remove_header) \['
SHA256='ring::digest::digest \['
echo "pingora-http header operations per request: (b) $(inclusive b-pingora "$HEADER_OPS"), (g) $(inclusive g-mimir-full "$HEADER_OPS")"
echo "SHA-256 per request: (b) $(inclusive b-pingora "$SHA256"), (g) $(inclusive g-mimir-full "$SHA256"), (h) $(inclusive h-mimir-jwt "$SHA256")"
