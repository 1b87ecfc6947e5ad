#!/usr/bin/env bash
# Load run: the same stateless tools/call, direct to the upstream, through a minimal Kestrel proxy (the
# "floor": what any .NET HTTP proxy costs here) and through the gateway, interleaved in one run so all
# see the same machine. Reports added latency at concurrency 1 and the throughput ratio at saturation,
# plus CPU time per request of each process (steadier than req/s on a shared box).
#
#   bench/load/run.sh                      # builds the gateway (Release, JIT) and the upstream
#   ARCHESTRA_BIN=out/aot/archestra bench/load/run.sh  # uses a NativeAOT gateway
#   ROUNDS=3 DURATION=10s bench/load/run.sh
#   GATEWAY_ENV="DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0" bench/load/run.sh   # runtime knobs for the gateway
#   BASELINE_BIN=/path/to/older/archestra bench/load/run.sh   # also an older gateway build, in the same rounds
#   MODERN=1 bench/load/run.sh             # also the MCP 2026-07-28 stateless tools/call through the gateway, same rounds
#   BASELINE_BIN=... BASELINE_ENV="OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318" bench/load/run.sh
#                                          # the baseline process gets its own environment (e.g. the same build exporting traces)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/bench/load"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-5s}
SAT_THREADS=${SAT_THREADS:-2}
SAT_CONNECTIONS=${SAT_CONNECTIONS:-64}
PORT_BASE=${PORT_BASE:-19300}
P_UP=$PORT_BASE P_GW=$((PORT_BASE + 1)) P_ADMIN=$((PORT_BASE + 2)) P_METRICS=$((PORT_BASE + 3)) P_FLOOR=$((PORT_BASE + 4))
P_BASE=$((PORT_BASE + 5)) P_BASE_ADMIN=$((PORT_BASE + 6)) P_BASE_METRICS=$((PORT_BASE + 7))
WORK=$(mktemp -d /tmp/archestra-load.XXXXXX)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

echo "== build"
dotnet build "$ROOT/bench/Archestra.LoadUpstream" -c Release -v q -nologo >/dev/null
dotnet build "$ROOT/bench/Archestra.ProxyFloor" -c Release -v q -nologo >/dev/null
UPSTREAM_BIN=${UPSTREAM_BIN:-$ROOT/bench/Archestra.LoadUpstream/bin/Release/net10.0/Archestra.LoadUpstream}
FLOOR_BIN=${FLOOR_BIN:-$ROOT/bench/Archestra.ProxyFloor/bin/Release/net10.0/Archestra.ProxyFloor}
if [[ -z "${ARCHESTRA_BIN:-}" ]]; then
  dotnet build "$ROOT/src/Archestra.Gateway" -c Release -v q -nologo >/dev/null
  ARCHESTRA_BIN=$ROOT/src/Archestra.Gateway/bin/Release/net10.0/archestra
fi
echo "gateway:  $ARCHESTRA_BIN ${GATEWAY_ENV:-}"
echo "upstream: $UPSTREAM_BIN"

"$UPSTREAM_BIN" "$P_UP" >"$WORK/upstream.log" 2>&1 &
UP_PID=$!
PIDS+=("$UP_PID")
wait_for "http://127.0.0.1:$P_UP/mcp" 405 "upstream"
"$FLOOR_BIN" "$P_FLOOR" "http://127.0.0.1:$P_UP/mcp" >"$WORK/floor.log" 2>&1 &
FLOOR_PID=$!
PIDS+=("$FLOOR_PID")

cat >"$WORK/archestra.json" <<EOF
{"listen":{"gateway":"http://127.0.0.1:$P_GW","admin":"http://127.0.0.1:$P_ADMIN","metrics":"http://127.0.0.1:$P_METRICS"},
 "mcpServers":{"up":{"url":"http://127.0.0.1:$P_UP/mcp"}},
 "profiles":{"bench":{"servers":["up"],"tools":{"*":{"resultTreatment":"trusted","allowUsageWhenUntrustedDataIsPresent":true}}}}}
EOF
# shellcheck disable=SC2086 # GATEWAY_ENV is a list of NAME=VALUE words.
env ${GATEWAY_ENV:-} "$ARCHESTRA_BIN" serve --config "$WORK/archestra.json" >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
wait_for "http://127.0.0.1:$P_GW/readyz" 200 "gateway (log: $WORK/gateway.log)"

# An older build of the gateway, with the same configuration on its own ports: "before/after" in one run.
TARGETS=(direct floor gateway)
if [[ -n "${BASELINE_BIN:-}" ]]; then
  echo "baseline: $BASELINE_BIN"
  mkdir -p "$WORK/baseline"
  sed -e "s/:$P_GW\"/:$P_BASE\"/" -e "s/:$P_ADMIN\"/:$P_BASE_ADMIN\"/" -e "s/:$P_METRICS\"/:$P_BASE_METRICS\"/" \
    "$WORK/archestra.json" >"$WORK/baseline/archestra.json"
  (cd "$WORK/baseline" && exec env ${GATEWAY_ENV:-} ${BASELINE_ENV:-} "$BASELINE_BIN" serve --config "$WORK/baseline/archestra.json") >"$WORK/baseline.log" 2>&1 &
  BASE_PID=$!
  PIDS+=("$BASE_PID")
  wait_for "http://127.0.0.1:$P_BASE/readyz" 200 "baseline gateway (log: $WORK/baseline.log)"
  TARGETS+=(baseline)
fi

DIRECT=http://127.0.0.1:$P_UP/mcp
FLOOR=http://127.0.0.1:$P_FLOOR/mcp
GATEWAY=http://127.0.0.1:$P_GW/v1/mcp/bench
BASELINE=http://127.0.0.1:$P_BASE/v1/mcp/bench
declare -A URL=([direct]=$DIRECT [floor]=$FLOOR [gateway]=$GATEWAY [baseline]=$BASELINE)
declare -A PID_OF=([direct]=$UP_PID [floor]=$FLOOR_PID [gateway]=$GW_PID [baseline]=${BASE_PID:-})
# The MCP 2026-07-28 stateless tools/call through the same gateway: its own workload script.
URL[modern]=$GATEWAY PID_OF[modern]=$GW_PID
declare -A SCRIPT_OF=([modern]=tools-call-modern.lua)
if [[ ${MODERN:-0} == 1 ]]; then TARGETS+=(modern); fi

BODY=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$HERE/tools-call.lua")
for target in "${TARGETS[@]}"; do
  url=${URL[$target]}
  answer=$(curl -s -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d "$BODY" "$url")
  if [[ $answer != *'"text":"ok"'* ]]; then
    echo "unexpected answer from $url: $answer" >&2
    exit 1
  fi
done
if [[ ${MODERN:-0} == 1 ]]; then
  MODERN_BODY=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$HERE/tools-call-modern.lua")
  answer=$(curl -s -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
    -H 'Mcp-Method: tools/call' -H 'Mcp-Name: echo' -d "$MODERN_BODY" "$GATEWAY")
  if [[ $answer != *'"resultType":"complete"'*'"text":"ok"'* ]]; then
    echo "unexpected 2026-07-28 answer from $GATEWAY: $answer" >&2
    exit 1
  fi
fi
echo "all targets answer tools/call correctly"

# run NAME URL THREADS CONNECTIONS PROXY_PID [SCRIPT]: prints "NAME rps=... p50_us=... up_cpu_us=... proxy_cpu_us=..."
run() {
  local up0 gw0 up1 gw1 out
  up0=$(cpu_ticks "$UP_PID"); gw0=$(cpu_ticks "$5")
  out=$(wrk -t"$3" -c"$4" -d"$DURATION" --latency -s "$HERE/${6:-tools-call.lua}" "$2")
  up1=$(cpu_ticks "$UP_PID"); gw1=$(cpu_ticks "$5")
  echo "$out" >>"$WORK/wrk.txt"
  local result requests
  result=$(grep '^RESULT' <<<"$out" | sed 's/^RESULT //')
  requests=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$result")
  awk -v n="$1" -v r="$result" -v q="$requests" -v u=$((up1 - up0)) -v g=$((gw1 - gw0)) -v t="$TICK" \
    'BEGIN { printf "%s %s up_cpu_us=%.1f proxy_cpu_us=%.1f\n", n, r, u * 1e6 / t / q, g * 1e6 / t / q }'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== warm-up ($WARMUP each, not reported)"
for target in "${TARGETS[@]}"; do
  wrk -t"$SAT_THREADS" -c"$SAT_CONNECTIONS" -d"$WARMUP" -s "$HERE/${SCRIPT_OF[$target]:-tools-call.lua}" "${URL[$target]}" >/dev/null
done

echo "== $ROUNDS rounds, $DURATION per run, ${TARGETS[*]} interleaved"
: >"$WORK/results.txt"
for round in $(seq 1 "$ROUNDS"); do
  for target in "${TARGETS[@]}"; do
    run "c1.$target" "${URL[$target]}" 1 1 "${PID_OF[$target]}" "${SCRIPT_OF[$target]:-}" | tee -a "$WORK/results.txt"
  done
  for target in "${TARGETS[@]}"; do
    run "sat.$target" "${URL[$target]}" "$SAT_THREADS" "$SAT_CONNECTIONS" "${PID_OF[$target]}" "${SCRIPT_OF[$target]:-}" | tee -a "$WORK/results.txt"
  done
  echo "-- round $round done"
done

echo
echo "== summary (median over $ROUNDS rounds; raw wrk output in $WORK/wrk.txt)"
awk -f "$HERE/rounds.awk" -f "$HERE/summarize.awk" "$WORK/results.txt"
if [[ -n "${BASELINE_BIN:-}" ]]; then
  echo
  echo "== this gateway against the baseline build (per-round differences and ratios, median)"
  awk -f "$HERE/rounds.awk" -f "$HERE/baseline.awk" "$WORK/results.txt"
fi
if [[ ${MODERN:-0} == 1 ]]; then
  echo
  awk -f "$HERE/rounds.awk" -f "$HERE/summarize-modern.awk" "$WORK/results.txt"
fi
echo "gateway RSS after the run: $(awk '/VmRSS/ {print $2, $3}' "/proc/$GW_PID/status"); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
