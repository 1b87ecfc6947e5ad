#!/usr/bin/env bash
# Stdio MCP server behind a gateway: supergateway vs archestra (the gateway, and `archestra bridge`), same stdio
# server (echo-stdio.mjs), same client workload, interleaved in one run.
#
# Main comparison (session): one MCP session, WORKERS concurrent tools/call loops
# (bench/Archestra.LoadDriver). supergateway's stateful mode gives the session one child process;
# archestra always shares one child process. Both therefore front exactly one echo-stdio process.
#
# Extra (stateless, wrk): supergateway's stateless mode spawns a new child process for every POST,
# archestra answers stateless calls from its one shared process. Skipped with STATELESS=0.
#
#   bench/load/stdio-compare.sh
#   ARCHESTRA_BIN=out/aot/archestra ROUNDS=3 DURATION=10 WORKERS=16 bench/load/stdio-compare.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/bench/load"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WORKERS=${WORKERS:-16}
STATELESS=${STATELESS:-1}
PORT_BASE=${PORT_BASE:-19400}
P_SG=$PORT_BASE P_SG_STATELESS=$((PORT_BASE + 1)) P_GW=$((PORT_BASE + 2)) P_ADMIN=$((PORT_BASE + 3)) P_METRICS=$((PORT_BASE + 4))
P_BRIDGE=$((PORT_BASE + 5))
NODE=${NODE:-node}
SUPERGATEWAY=$ROOT/tests/node/node_modules/supergateway/dist/index.js
SERVER="$NODE $HERE/echo-stdio.mjs"
WORK=$(mktemp -d /tmp/archestra-stdio.XXXXXX)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

[[ -f $SUPERGATEWAY ]] || { echo "supergateway is missing: (cd tests/node && npm ci)" >&2; exit 1; }

echo "== build"
dotnet build "$ROOT/bench/Archestra.LoadDriver" -c Release -v q -nologo >/dev/null
DRIVER=$ROOT/bench/Archestra.LoadDriver/bin/Release/net10.0/Archestra.LoadDriver
if [[ -z "${ARCHESTRA_BIN:-}" ]]; then
  dotnet build "$ROOT/src/Archestra.Gateway" -c Release -v q -nologo >/dev/null
  ARCHESTRA_BIN=$ROOT/src/Archestra.Gateway/bin/Release/net10.0/archestra
fi
echo "gateway: $ARCHESTRA_BIN; node $($NODE --version); supergateway $($NODE "$SUPERGATEWAY" --version)"

wait_for() { # url, expected status, what
  for _ in $(seq 1 200); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$1" || true) == "$2" ]] && return 0
    sleep 0.05
  done
  echo "$3 did not come up at $1" >&2
  exit 1
}

$NODE "$SUPERGATEWAY" --stdio "$SERVER" --outputTransport streamableHttp --stateful --port "$P_SG" \
  --healthEndpoint /healthz --logLevel none >"$WORK/supergateway.log" 2>&1 &
SG_PID=$!
PIDS+=("$SG_PID")
wait_for "http://127.0.0.1:$P_SG/healthz" 200 "supergateway"

if [[ $STATELESS == 1 ]]; then
  $NODE "$SUPERGATEWAY" --stdio "$SERVER" --outputTransport streamableHttp --port "$P_SG_STATELESS" \
    --healthEndpoint /healthz --logLevel none >"$WORK/supergateway-stateless.log" 2>&1 &
  PIDS+=("$!")
  wait_for "http://127.0.0.1:$P_SG_STATELESS/healthz" 200 "supergateway (stateless)"
fi

cat >"$WORK/archestra.json" <<EOF
{"listen":{"gateway":"http://127.0.0.1:$P_GW","admin":"http://127.0.0.1:$P_ADMIN","metrics":"http://127.0.0.1:$P_METRICS"},
 "mcpServers":{"echo":{"command":"$NODE","args":["$HERE/echo-stdio.mjs"]}},
 "profiles":{"bench":{"servers":["echo"],"tools":{"*":{"resultTreatment":"trusted"}}}}}
EOF
"$ARCHESTRA_BIN" serve --config "$WORK/archestra.json" >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
wait_for "http://127.0.0.1:$P_GW/readyz" 200 "archestra (log: $WORK/gateway.log)"

"$ARCHESTRA_BIN" bridge --listen "http://127.0.0.1:$P_BRIDGE" -- $SERVER >"$WORK/bridge.log" 2>&1 &
BR_PID=$!
PIDS+=("$BR_PID")
wait_for "http://127.0.0.1:$P_BRIDGE/readyz" 200 "archestra bridge (log: $WORK/bridge.log)"

SG_URL=http://127.0.0.1:$P_SG/mcp
BR_URL=http://127.0.0.1:$P_BRIDGE/mcp
GW_URL=http://127.0.0.1:$P_GW/v1/mcp/bench
cpu_ticks() { # pid and its children (the stdio server)
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$total"
}
TICK=$(getconf CLK_TCK)

session() { # NAME URL PID
  local c0 c1 out requests
  c0=$(cpu_ticks "$3")
  out=$("$DRIVER" --url "$2" --workers "$WORKERS" --duration "$DURATION" --warmup 2)
  c1=$(cpu_ticks "$3")
  requests=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$out")
  awk -v n="$1" -v r="${out#RESULT }" -v q="$requests" -v c=$((c1 - c0)) -v t="$TICK" \
    'BEGIN { printf "%s %s cpu_us=%.1f\n", n, r, c * 1e6 / t / q }'
}

echo "== session workload: $WORKERS workers in one session, ${DURATION}s, $ROUNDS rounds"
: >"$WORK/results.txt"
for round in $(seq 1 "$ROUNDS"); do
  session session.supergateway "$SG_URL" "$SG_PID" | tee -a "$WORK/results.txt"
  session session.archestra "$GW_URL" "$GW_PID" | tee -a "$WORK/results.txt"
  session session.bridge "$BR_URL" "$BR_PID" | tee -a "$WORK/results.txt"
done

if [[ $STATELESS == 1 ]]; then
  echo "== stateless workload: wrk -t2 -c$WORKERS, ${DURATION}s, one round"
  for target in supergateway archestra bridge; do
    url=http://127.0.0.1:$P_SG_STATELESS/mcp; [[ $target == archestra ]] && url=$GW_URL; [[ $target == bridge ]] && url=$BR_URL
    out=$(wrk -t2 -c"$WORKERS" -d"${DURATION}s" --timeout 10s -s "$HERE/tools-call.lua" "$url" | grep '^RESULT')
    echo "stateless.$target ${out#RESULT }" | tee -a "$WORK/results.txt"
  done
fi

echo
echo "== summary (median over rounds)"
awk '
function median(arr, n,    i, j, t, a) {
  for (i = 1; i <= n; i++) a[i] = arr[i]
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ name = $1; r = ++count[name]; for (i = 2; i <= NF; i++) { split($i, kv, "="); v[name, kv[1], r] = kv[2] } }
function col(name, key,    r, arr) { for (r = 1; r <= count[name]; r++) arr[r] = v[name, key, r]; return median(arr, count[name]) }
function ratio(mode,    r, arr) { for (r = 1; r <= count[mode ".archestra"]; r++) arr[r] = v[mode ".archestra", "rps", r] / v[mode ".supergateway", "rps", r]; return median(arr, count[mode ".archestra"]) }
END {
  print "| workload | supergateway req/s | archestra req/s | archestra ÷ supergateway | supergateway p50 / p99 (µs) | archestra p50 / p99 (µs) |"
  print "|---|---:|---:|---:|---:|---:|"
  split("session stateless", modes, " ")
  for (m = 1; m <= 2; m++) {
    mode = modes[m]
    if (!count[mode ".archestra"]) continue
    printf "| %s | %.0f | %.0f | %.2f× | %.0f / %.0f | %.0f / %.0f |\n", mode, col(mode ".supergateway", "rps"), col(mode ".archestra", "rps"), ratio(mode),
      col(mode ".supergateway", "p50_us"), col(mode ".supergateway", "p99_us"), col(mode ".archestra", "p50_us"), col(mode ".archestra", "p99_us")
  }
  for (m = 1; m <= 2; m++) {
    mode = modes[m]
    if (!count[mode ".bridge"]) continue
    printf "| %s, archestra bridge | | %.0f | %.2f× | | %.0f / %.0f |\n", mode, col(mode ".bridge", "rps"), col(mode ".bridge", "rps") / col(mode ".supergateway", "rps"),
      col(mode ".bridge", "p50_us"), col(mode ".bridge", "p99_us")
  }
  printf "\nCPU per request, session workload (gateway + its stdio child, µs): supergateway %.0f, archestra %.0f, bridge %.0f\n", col("session.supergateway", "cpu_us"), col("session.archestra", "cpu_us"), col("session.bridge", "cpu_us")
  e = 0; for (k in count) for (r = 1; r <= count[k]; r++) e += v[k, "socket_errors", r] + v[k, "non2xx", r]
  printf "errors (failed calls) over all runs: %d\n", e
}' "$WORK/results.txt"
