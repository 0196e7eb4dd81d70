#!/usr/bin/env bash
# Proxy benchmark: the same keep-alive TLS load against
#   (a) the fixed upstream directly (plain HTTP, 1 KiB responses),
#   (b) bare pingora passthrough with no filters (proxy/examples/passthrough.rs),
#   (c) mimir-proxy,
#   (d) nginx configured as the seed's Option-1 TLS reverse proxy,
#   (e) mimir-proxy as (c) plus the audit trail (file sink with hash chain, async mode),
# all on loopback in one run; prints requests/s, p50/p99 and RSS with ratios against (d), the
# per-request cost of auditing ((e) against (c)), then p99 at a fixed rate of half of (c)'s maximum.
# Needs: wrk, hey, nginx (apt-get install -y wrk hey nginx-light). Usage: tests/bench/run.sh [SECONDS]
# shellcheck source=tests/bench/lib.sh
source "$(dirname "$0")/lib.sh"
DURATION="${1:-10}"
CONNS="${BENCH_CONNECTIONS:-50}"

# Fixed upstream and nginx reverse proxy share one nginx master, like a real deployment would.
start_nginx nginx 2 "$(nginx_upstream_server; nginx_proxy_server 18445)"

# shellcheck disable=SC2046 # the arguments are split on purpose
"$BIN/examples/passthrough" $(passthrough_args 18443) >"$WORK/passthrough.log" 2>&1 &
PIDS+=($!)

policy 18446 19091 "$(printf '[audit]\nenabled = true\nmode = "async"\ndestinations = ["file"]\n[audit.file]\npath = "%s"' "$WORK/audit/audit.log")" > "$WORK/policy-audit.toml"
"$BIN/mimir-proxy" run --config "$WORK/policy.toml" >"$WORK/proxy.log" 2>&1 &
PIDS+=($!)
"$BIN/mimir-proxy" run --config "$WORK/policy-audit.toml" >"$WORK/proxy-audit.log" 2>&1 &
PIDS+=($!)

for port in 18080 18443 18444 18445 18446; do wait_port "$port"; done

rss_kb() { # total RSS of a process and its children
  local pid="$1"; ps -o rss= -p "$pid" $(pgrep -P "$pid" | sed 's/^/-p /') | awk '{s+=$1} END {print s}'
}
ms() { # wrk latency ("512.00us", "1.20ms", "2.00s") → milliseconds
  awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.3f", n }'
}

cpu_ticks() { # user+system clock ticks of a process and its children so far
  local pid="$1" total=0 stat
  for p in "$pid" $(pgrep -P "$pid"); do
    stat=$(cat "/proc/$p/stat"); stat=${stat##*) }   # fields after the command name
    read -r -a f <<<"$stat"; total=$((total + f[11] + f[12]))
  done
  echo "$total"
}
TICKS_PER_S=$(getconf CLK_TCK)

declare -A RPS P50 P99 RSS CPU
run() { # name url pid
  local out before; before=$(cpu_ticks "$3")
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H "$AUTH" "$2$PATH_UNDER_TEST")
  # CPU time the server spent per answered request: on two shared cores the fairest measure.
  CPU[$1]=$(awk -v t=$(( $(cpu_ticks "$3") - before )) -v hz="$TICKS_PER_S" \
    -v n="$(awk '/requests in/ {print $1}' <<<"$out")" 'BEGIN {printf "%.0f", t / hz * 1e6 / n}')
  # A benchmark of error responses would measure nothing useful.
  if grep -q "Non-2xx" <<<"$out"; then echo "$1 answered errors:" >&2; echo "$out" >&2; exit 1; fi
  RPS[$1]=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  P50[$1]=$(ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
  P99[$1]=$(ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
  RSS[$1]=$(rss_kb "$3")
}
NGINX_PID="${PIDS[0]}"
run a-upstream http://127.0.0.1:18080 "$NGINX_PID"
run b-pingora https://127.0.0.1:18443 "${PIDS[1]}"
run c-mimir-proxy https://127.0.0.1:18444 "${PIDS[2]}"
run d-nginx https://127.0.0.1:18445 "$NGINX_PID"
run e-audited https://127.0.0.1:18446 "${PIDS[3]}"

echo
echo "wrk -t2 -c$CONNS -d${DURATION}s --latency GET $PATH_UNDER_TEST with an API key, 1 KiB responses, keep-alive, TLS except (a)"
printf '%-15s %12s %10s %10s %10s %12s %12s\n' target req/s p50_ms p99_ms rss_kB cpu_us/req "vs nginx"
for t in a-upstream b-pingora c-mimir-proxy d-nginx e-audited; do
  printf '%-15s %12s %10s %10s %10s %12s %11.2fx\n' "$t" "${RPS[$t]}" "${P50[$t]}" "${P99[$t]}" "${RSS[$t]}" \
    "${CPU[$t]}" "$(awk -v a="${RPS[$t]}" -v b="${RPS[d-nginx]}" 'BEGIN {print a/b}')"
done
echo "(RSS and CPU of (a) and (d) are the shared nginx master + workers: (d)'s CPU includes serving the upstream.)"
echo "audit trail: $(awk -v e="${RPS[e-audited]}" -v c="${RPS[c-mimir-proxy]}" 'BEGIN {printf "%.2fx throughput of (c), %.1f us added per request", e/c, (1/e-1/c)*1e6}')"
echo "audit records written by (e): $(wc -l < "$WORK/audit/audit.log")"

# Latency at half of mimir-proxy's maximum throughput, fixed rate (hey: -q is per worker;
# -host so hey sends SNI `localhost`, not `127.0.0.1:PORT`, which rustls rightly refuses).
HALF=$(awk -v r="${RPS[c-mimir-proxy]}" 'BEGIN {printf "%d", r/2}')
PER_WORKER=$(( HALF / CONNS > 0 ? HALF / CONNS : 1 ))
echo
echo "fixed rate ≈ $((PER_WORKER * CONNS)) req/s (half of (c)'s max): hey -z ${DURATION}s -c $CONNS -q $PER_WORKER -host localhost"
printf '%-15s %10s\n' target p99_ms
declare -A FIXED
for pair in a-upstream=http://127.0.0.1:18080 c-mimir-proxy=https://127.0.0.1:18444 d-nginx=https://127.0.0.1:18445; do
  t="${pair%%=*}"; url="${pair#*=}"
  FIXED[$t]=$(hey -z "${DURATION}s" -c "$CONNS" -q "$PER_WORKER" -host localhost -H "$AUTH" "$url$PATH_UNDER_TEST" | awk '/99% in/ {printf "%.3f", $3*1000}')
  printf '%-15s %10s\n' "$t" "${FIXED[$t]}"
done
echo "added p99 by mimir-proxy over direct: $(awk -v c="${FIXED[c-mimir-proxy]}" -v a="${FIXED[a-upstream]}" 'BEGIN {printf "%.3f", c-a}') ms"
