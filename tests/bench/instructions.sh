#!/usr/bin/env bash
# Proxy cost in CPU instructions per request, counted by callgrind: unlike requests/s on a
# machine shared with the load generator, the count repeats run after run, whatever else the
# machine is doing. Each proxy in turn runs under `valgrind --tool=callgrind`, receives the same
# keep-alive TLS load as tests/bench/run.sh (GET with an API key, 1 KiB responses from a fixed
# nginx upstream), and the instructions it executed (all threads, user space only: the kernel's
# share is about the same for all three, one read and one write per side) are divided by the
# requests wrk completed:
#   (b) bare pingora passthrough, (c) mimir-proxy, (d) nginx as the Option-1 reverse proxy.
# Needs: valgrind, wrk, nginx. Usage: tests/bench/instructions.sh [SECONDS]
# shellcheck source=tests/bench/lib.sh
source "$(dirname "$0")/lib.sh"
DURATION="${1:-10}"

start_nginx upstream 1 "$(nginx_upstream_server)"
wait_port "$UPSTREAM_PORT"

# nginx as one process (no master) so that callgrind sees all of its work.
nginx_conf proxy-nginx 1 $'master_process off;\ndaemon off;' "$(nginx_proxy_server 18445)"

declare -A INSTR REQS
measure() { # name port command...
  local name="$1" port="$2" pid count
  shift 2
  valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.cg" "$@" >"$WORK/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_port "$port"
  # Warm-up (TLS session, upstream connections, caches) outside the counted window.
  wrk -t1 -c2 -d2s -H "$AUTH" "https://127.0.0.1:$port$PATH_UNDER_TEST" >/dev/null
  callgrind_control --zero "$pid" >/dev/null
  count=$(wrk -t1 -c2 -d"${DURATION}s" -H "$AUTH" "https://127.0.0.1:$port$PATH_UNDER_TEST" |
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
measure b-pingora 18443 "$BIN/examples/passthrough" $(passthrough_args 18443)
measure c-mimir-proxy 18444 "$BIN/mimir-proxy" run --config "$WORK/policy.toml"
measure d-nginx 18445 nginx -c "$WORK/proxy-nginx.conf" -e "$WORK/proxy-nginx-error.log"

echo
echo "callgrind, wrk -t1 -c2 -d${DURATION}s GET $PATH_UNDER_TEST with an API key, 1 KiB responses, keep-alive TLS"
printf '%-15s %10s %16s %10s\n' target requests instructions/req "vs nginx"
per_req() { awk -v i="${INSTR[$1]}" -v n="${REQS[$1]}" 'BEGIN {printf "%.0f", i / n}'; }
NGINX_COST=$(per_req d-nginx)
for t in b-pingora c-mimir-proxy d-nginx; do
  cost=$(per_req "$t")
  printf '%-15s %10s %16s %9.2fx\n' "$t" "${REQS[$t]}" "$cost" "$(awk -v a="$cost" -v b="$NGINX_COST" 'BEGIN {print a / b}')"
done
echo "gateway's own cost ((c) - (b)): $(( $(per_req c-mimir-proxy) - $(per_req b-pingora) )) instructions per request"
