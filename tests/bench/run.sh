#!/usr/bin/env bash
# Proxy benchmark: the same keep-alive TLS load against
#   (a) the fixed upstream directly (plain HTTP, 1 KiB responses),
#   (b) bare pingora passthrough with no filters (proxy/examples/passthrough.rs),
#   (c) mimir-proxy with an API key, rate limits and audit trail off,
#   (d) nginx configured as the seed's Option-1 TLS reverse proxy, no credential checked,
#   (e) nginx doing what it can of the gateway's work: the API key matched against one static
#       string, its user sent upstream, limit_req per IP, a buffered JSON access log, an allow list,
#   (f) nginx + auth_request to oauth2-proxy, which verifies an RS256 JWT of a test issuer,
#   (g) the full pipeline: mimir-proxy with an API key, every rate limit on (limits too high to
#       refuse anything) and the audit trail on (file sink with hash chain, async mode),
#   (h) as (g), with the RS256 JWT of (f) instead of the API key,
# all on loopback in one run, each after 1 s of warm-up on one connection. The targets are loaded
# in turn, and the whole sequence is repeated ROUNDS times (BENCH_ROUNDS, default 3): a burst of
# other work on the machine then hits one round of every target instead of all of one target's
# figures. Prints the median over the rounds of requests/s, p50/p99 and CPU time per request,
# the peak RSS, ratios against (d) and (b), the ratios of (g) against (b), (e) and (f) per round
# and their median, the cost of the audit trail and rate limits ((g) against (c)), then p99 at a
# fixed rate of half of (c)'s maximum. docs/benchmarks.md describes what each target does.
# Needs: wrk, hey, nginx (apt-get install -y wrk hey nginx-light), openssl, and Go to build
# oauth2-proxy once into BENCH_CACHE (default ~/.cache/mimir-bench).
# Usage: tests/bench/run.sh [SECONDS]
# shellcheck source=tests/bench/lib.sh
source "$(dirname "$0")/lib.sh"
DURATION="${1:-10}"
CONNS="${BENCH_CONNECTIONS:-50}"
ROUNDS="${BENCH_ROUNDS:-3}"
OAUTH2_PROXY_VERSION=v7.15.6
OAUTH2_PORT=18090

# oauth2-proxy, built once and reused by later runs.
CACHE="${BENCH_CACHE:-$HOME/.cache/mimir-bench}"
OAUTH2_PROXY="$CACHE/oauth2-proxy-$OAUTH2_PROXY_VERSION"
if [ ! -x "$OAUTH2_PROXY" ]; then
  echo "building oauth2-proxy $OAUTH2_PROXY_VERSION into $CACHE (once)" >&2
  mkdir -p "$WORK/bin" "$CACHE"
  GOBIN="$WORK/bin" go install "github.com/oauth2-proxy/oauth2-proxy/v7@$OAUTH2_PROXY_VERSION"
  mv "$WORK/bin/oauth2-proxy" "$OAUTH2_PROXY"
fi

# The fixed upstream and the nginx proxies run as two nginx instances, so that the CPU time of
# (d), (e) and (f) is the proxy's alone, as it is for the pingora targets.
start_nginx upstream 2 "$(nginx_upstream_server)"
UPSTREAM_PID="${PIDS[-1]}"
wait_port "$UPSTREAM_PORT" # oauth2-proxy and mimir-proxy read the issuer's documents from it
start_nginx proxy 2 "$(nginx_upstream_pool; nginx_proxy_server 18445; nginx_option1_server 18447
  nginx_oauth2_server 18448 "$OAUTH2_PORT")"
NGINX_PID="${PIDS[-1]}"

# shellcheck disable=SC2046 # the arguments are split on purpose
"$BIN/examples/passthrough" $(passthrough_args 18443) >"$WORK/passthrough.log" 2>&1 &
PIDS+=($!); PASSTHROUGH_PID=$!

# The issuer's own client id is the audience; the JWT is checked as a bearer token of the
# configured issuer and of the same one as an extra issuer (the documented way to accept bearer
# JWTs). Logging at its defaults: one line per request, here to a file.
"$OAUTH2_PROXY" --http-address="127.0.0.1:$OAUTH2_PORT" --provider=oidc --oidc-issuer-url="$ISSUER" \
  --client-id="$AUDIENCE" --client-secret=unused --cookie-secret="$(openssl rand -hex 16)" \
  --email-domain='*' --skip-jwt-bearer-tokens=true --extra-jwt-issuers="$ISSUER=$AUDIENCE" \
  --set-xauthrequest=true --upstream=static://202 >"$WORK/oauth2-proxy.log" 2>&1 &
PIDS+=($!); OAUTH2_PID=$!

"$BIN/mimir-proxy" run --config "$WORK/policy.toml" >"$WORK/proxy.log" 2>&1 &
PIDS+=($!); MIMIR_PID=$!
"$BIN/mimir-proxy" run --config "$WORK/policy-full.toml" >"$WORK/proxy-full.log" 2>&1 &
PIDS+=($!); FULL_PID=$!
"$BIN/mimir-proxy" run --config "$WORK/policy-jwt.toml" >"$WORK/proxy-jwt.log" 2>&1 &
PIDS+=($!); JWT_PID=$!

for port in 18443 18444 18445 18446 18447 18448 18449 "$OAUTH2_PORT"; do wait_port "$port"; done

rss_kb() { # total RSS of processes and their children
  local p all=()
  for p in "$@"; do all+=("$p"); mapfile -t -O "${#all[@]}" all < <(pgrep -P "$p"); done
  ps -o rss= "${all[@]/#/-p}" | awk '{s+=$1} END {print s}'
}
ms() { # wrk latency ("512.00us", "1.20ms", "2.00s") → milliseconds
  awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.3f", n }'
}

cpu_ticks() { # user+system clock ticks of processes and their children so far
  local pid p total=0 stat
  for pid in "$@"; do
    for p in "$pid" $(pgrep -P "$pid"); do
      stat=$(cat "/proc/$p/stat"); stat=${stat##*) }   # fields after the command name
      read -r -a f <<<"$stat"; total=$((total + f[11] + f[12]))
    done
  done
  echo "$total"
}
TICKS_PER_S=$(getconf CLK_TCK)

median() { # printf-format numbers-separated-by-spaces
  tr ' ' '\n' <<<"$2" | grep . | sort -g | awk -v f="$1" '{v[NR] = $1}
    END {printf f, NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# Per target, the figures of every round so far (space-separated), the peak RSS, and the requests
# answered in all rounds, warm-ups included.
declare -A RPS_R P50_R P99_R CPU_R RSS ALL
# The round being measured; once every round is done, each target's median.
declare -A RPS CPU
run() { # name url credential-header log-file pid...
  local name="$1" url="$2" header="$3" log="$4" out before warm reqs rss
  shift 4
  # Warm-up outside the measured window, one connection: TLS sessions, upstream pools, and the
  # issuer keys both JWT verifiers fetch on first use.
  warm=$(wrk -t1 -c1 -d1s -H "$header" "$url$PATH_UNDER_TEST" | awk '/requests in/ {print $1}')
  before=$(cpu_ticks "$@")
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H "$header" "$url$PATH_UNDER_TEST")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  ALL[$name]=$((${ALL[$name]:-0} + warm + reqs))
  # CPU time the server spent per answered request: on two shared cores the fairest measure.
  CPU[$name]=$(awk -v t=$(( $(cpu_ticks "$@") - before )) -v hz="$TICKS_PER_S" \
    -v n="$reqs" 'BEGIN {printf "%.0f", t / hz * 1e6 / n}')
  # A benchmark of error responses would measure nothing useful.
  if grep -q "Non-2xx" <<<"$out"; then
    echo "$name answered errors:" >&2; echo "$out" >&2
    [ -z "$log" ] || { echo "--- end of $log:" >&2; tail -n 20 "$log" >&2; }
    exit 1
  fi
  RPS[$name]=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  RPS_R[$name]+=" ${RPS[$name]}"
  CPU_R[$name]+=" ${CPU[$name]}"
  P50_R[$name]+=" $(ms "$(awk '$1=="50%" {print $2}' <<<"$out")")"
  P99_R[$name]+=" $(ms "$(awk '$1=="99%" {print $2}' <<<"$out")")"
  rss=$(rss_kb "$@")
  RSS[$name]=$(( rss > ${RSS[$name]:-0} ? rss : ${RSS[$name]:-0} ))
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# The ratios the per-request-cost targets are stated in, per round.
declare -A RATIOS
for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS" >&2
  run a-upstream http://127.0.0.1:18080 "$AUTH" "" "$UPSTREAM_PID"
  run b-pingora https://127.0.0.1:18443 "$AUTH" "$WORK/passthrough.log" "$PASSTHROUGH_PID"
  run c-mimir-proxy https://127.0.0.1:18444 "$AUTH" "$WORK/proxy.log" "$MIMIR_PID"
  run d-nginx https://127.0.0.1:18445 "$AUTH" "$WORK/proxy-error.log" "$NGINX_PID"
  run e-nginx-option1 https://127.0.0.1:18447 "$AUTH" "$WORK/proxy-error.log" "$NGINX_PID"
  run f-nginx-oauth2 https://127.0.0.1:18448 "$AUTH_JWT" "$WORK/oauth2-proxy.log" "$NGINX_PID" "$OAUTH2_PID"
  run g-mimir-full https://127.0.0.1:18446 "$AUTH" "$WORK/proxy-full.log" "$FULL_PID"
  run h-mimir-jwt https://127.0.0.1:18449 "$AUTH_JWT" "$WORK/proxy-jwt.log" "$JWT_PID"
  RATIOS[g-cpu-b]+=" $(ratio "${CPU[g-mimir-full]}" "${CPU[b-pingora]}")"
  RATIOS[g-rps-e]+=" $(ratio "${RPS[g-mimir-full]}" "${RPS[e-nginx-option1]}")"
  RATIOS[g-rps-f]+=" $(ratio "${RPS[g-mimir-full]}" "${RPS[f-nginx-oauth2]}")"
  RATIOS[h-rps-f]+=" $(ratio "${RPS[h-mimir-jwt]}" "${RPS[f-nginx-oauth2]}")"
done
for t in "${!RPS_R[@]}"; do
  RPS[$t]=$(median %.2f "${RPS_R[$t]}")
  CPU[$t]=$(median %.0f "${CPU_R[$t]}")
done
per_round() { # name: "median (round 1, round 2, ...)"
  echo "$(median %.2f "${RATIOS[$1]}")x (rounds:$(sed 's/ /x, /g; s/^x, / /; s/$/x/' <<<"${RATIOS[$1]}"))"
}

echo
echo "wrk -t2 -c$CONNS -d${DURATION}s --latency GET $PATH_UNDER_TEST with an API key ((f), (h): an RS256 JWT), 1 KiB responses, keep-alive, TLS except (a)"
echo "median of $ROUNDS rounds; rss_kB is the peak"
printf '%-16s %10s %9s %9s %9s %11s %9s %11s\n' target req/s p50_ms p99_ms rss_kB cpu_us/req "vs nginx" "cpu vs (b)"
for t in a-upstream b-pingora c-mimir-proxy d-nginx e-nginx-option1 f-nginx-oauth2 g-mimir-full h-mimir-jwt; do
  printf '%-16s %10s %9s %9s %9s %11s %8sx %10sx\n' "$t" "${RPS[$t]}" "$(median %.3f "${P50_R[$t]}")" "$(median %.3f "${P99_R[$t]}")" "${RSS[$t]}" \
    "${CPU[$t]}" "$(ratio "${RPS[$t]}" "${RPS[d-nginx]}")" "$(ratio "${CPU[$t]}" "${CPU[b-pingora]}")"
done
echo "(\"vs nginx\": req/s against (d). RSS and CPU of (d), (e), (f) are the one nginx proxy instance's master"
echo " and workers, (f)'s plus oauth2-proxy; the upstream's are (a)'s and counted in no proxy's figures.)"
echo
echo "full pipeline (g), CPU per request: $(per_round g-cpu-b) bare pingora (b)"
echo "full pipeline (g), throughput: $(per_round g-rps-e) nginx Option 1 (e)"
echo "full pipeline (g), throughput: $(per_round g-rps-f) nginx + oauth2-proxy (f)"
echo "full pipeline with the JWT (h), throughput: $(per_round h-rps-f) nginx + oauth2-proxy (f), CPU per request $(ratio "${CPU[h-mimir-jwt]}" "${CPU[f-nginx-oauth2]}")x"
echo "audit trail and rate limits ((g) against (c)): $(awk -v g="${RPS[g-mimir-full]}" -v c="${RPS[c-mimir-proxy]}" 'BEGIN {printf "%.2fx the throughput", g/c}'), $(printf '%+d' $(( ${CPU[g-mimir-full]} - ${CPU[c-mimir-proxy]} ))) us CPU per request"
sleep 1 # the async audit writer and nginx's buffered log (flush=1s)
lines() { cat "$@" | wc -l; }
echo "records written, warm-up included (requests still in flight when wrk stops are logged, not counted by wrk;"
echo "the audit counts include files rotated at 100 MB):"
echo "  (g) audit $(lines "$WORK"/audit-full/audit.log*) for ${ALL[g-mimir-full]} requests, (h) audit $(lines "$WORK"/audit-jwt/audit.log*) for ${ALL[h-mimir-jwt]}, (e) access log $(lines "$WORK/option1-access.log") for ${ALL[e-nginx-option1]}"

# Latency at half of mimir-proxy's maximum throughput, fixed rate (hey: -q is per worker;
# -host so hey sends SNI `localhost`, not `127.0.0.1:PORT`, which rustls rightly refuses).
HALF=$(awk -v r="${RPS[c-mimir-proxy]}" 'BEGIN {printf "%d", r/2}')
PER_WORKER=$(( HALF / CONNS > 0 ? HALF / CONNS : 1 ))
echo
echo "fixed rate ≈ $((PER_WORKER * CONNS)) req/s (half of (c)'s max): hey -z ${DURATION}s -c $CONNS -q $PER_WORKER -host localhost"
printf '%-16s %10s\n' target p99_ms
declare -A FIXED
for pair in a-upstream=http://127.0.0.1:18080 c-mimir-proxy=https://127.0.0.1:18444 d-nginx=https://127.0.0.1:18445; do
  t="${pair%%=*}"; url="${pair#*=}"
  FIXED[$t]=$(hey -z "${DURATION}s" -c "$CONNS" -q "$PER_WORKER" -host localhost -H "$AUTH" "$url$PATH_UNDER_TEST" | awk '/99% in/ {printf "%.3f", $3*1000}')
  printf '%-16s %10s\n' "$t" "${FIXED[$t]}"
done
echo "added p99 by mimir-proxy over direct: $(awk -v c="${FIXED[c-mimir-proxy]}" -v a="${FIXED[a-upstream]}" 'BEGIN {printf "%.3f", c-a}') ms"
