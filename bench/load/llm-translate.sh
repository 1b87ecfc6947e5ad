#!/usr/bin/env bash
# Issue 16's load check: does translating a chat completion to Anthropic's API cost more than 2x what passing one
# through costs? Four targets on one fast fake upstream (bench/Archestra.LoadUpstream), interleaved in one run:
#   direct-openai     POST /v1/chat/completions on the upstream
#   passthrough       the same body through the gateway's /v1/openai/bench (the upstream as its OpenAI provider)
#   direct-anthropic  POST /v1/messages on the upstream, with the body the gateway's translation writes
#   translated        the chat body with model "claude/claude-haiku-4-5" through /v1/openai/bench, translated to
#                     messages, sent to the upstream as the profile's Anthropic provider, translated back
# Added latency = gateway minus its own direct call, per round; the check is the median of the per-round ratios.
#
#   ARCHESTRA_BIN=out/aot/archestra bench/load/llm-translate.sh    # an existing binary (else NativeAOT is published)
#   ROUNDS=3 DURATION=10s WARMUP=5s SAT_CONNECTIONS=64 PORT_BASE=19500 bench/load/llm-translate.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/bench/load"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-5s}
SAT_THREADS=${SAT_THREADS:-2}
SAT_CONNECTIONS=${SAT_CONNECTIONS:-64}
PORT_BASE=${PORT_BASE:-19500}
P_UP=$PORT_BASE P_GW=$((PORT_BASE + 1)) P_ADMIN=$((PORT_BASE + 2)) P_METRICS=$((PORT_BASE + 3))
WORK=$(mktemp -d /tmp/archestra-translate-load.XXXXXX)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

echo "== build"
dotnet build "$ROOT/bench/Archestra.LoadUpstream" -c Release -v q -nologo >/dev/null
UPSTREAM_BIN=$ROOT/bench/Archestra.LoadUpstream/bin/Release/net10.0/Archestra.LoadUpstream
aot_gateway

"$UPSTREAM_BIN" "$P_UP" >"$WORK/upstream.log" 2>&1 &
UP_PID=$!
PIDS+=("$UP_PID")
wait_for "http://127.0.0.1:$P_UP/mcp" 405 "upstream"

cat >"$WORK/archestra.json" <<JSON
{"listen":{"gateway":"http://127.0.0.1:$P_GW","admin":"http://127.0.0.1:$P_ADMIN","metrics":"http://127.0.0.1:$P_METRICS"},
 "llmProviders":{"up":{"kind":"openai","baseUrl":"http://127.0.0.1:$P_UP/v1","apiKey":"env:BENCH_PROVIDER_KEY"},
                 "claude":{"kind":"anthropic","baseUrl":"http://127.0.0.1:$P_UP","apiKey":"env:BENCH_PROVIDER_KEY"}},
 "profiles":{"bench":{"llm":{"openai":"up","anthropic":"claude","virtualKeys":["env:BENCH_VIRTUAL_KEY"]}}}}
JSON
# The gateway keeps its embedded SQLite audit database under ./data: run it in the work directory.
cd "$WORK"
BENCH_PROVIDER_KEY=sk-bench-provider BENCH_VIRTUAL_KEY=vk-bench-0123456789 "$ARCHESTRA_BIN" serve --config "$WORK/archestra.json" >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
cd "$ROOT"
wait_for "http://127.0.0.1:$P_GW/readyz" 200 "gateway (log: $WORK/gateway.log)"

CHAT='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'
URL_direct_openai=http://127.0.0.1:$P_UP/v1/chat/completions
URL_passthrough=http://127.0.0.1:$P_GW/v1/openai/bench/chat/completions
URL_direct_anthropic=http://127.0.0.1:$P_UP/v1/messages
URL_translated=$URL_passthrough
BODY_direct_openai=$CHAT
BODY_passthrough=$CHAT
BODY_translated=${CHAT/gpt-4o-mini/claude\/claude-haiku-4-5}
HEADERS_direct_openai="Authorization: Bearer sk-bench-provider"
HEADERS_passthrough="Authorization: Bearer vk-bench-0123456789"
HEADERS_translated=$HEADERS_passthrough
HEADERS_direct_anthropic="x-api-key: sk-bench-provider|anthropic-version: 2023-06-01"
PID_direct_openai=$UP_PID PID_passthrough=$GW_PID PID_direct_anthropic=$UP_PID PID_translated=$GW_PID
TARGETS=(direct-openai passthrough direct-anthropic translated)

# The direct Anthropic call carries the body the translation writes for this request (UnifiedEndpointTests pins its shape).
BODY_direct_anthropic='{"model":"claude-haiku-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Say hello"}]}]}'

var() { local name="$1_${2//-/_}"; echo "${!name}"; }
curl_headers() { local IFS='|'; for h in $1; do printf -- '-H\n%s\n' "$h"; done; }
for t in "${TARGETS[@]}"; do
  mapfile -t hs < <(curl_headers "$(var HEADERS "$t")")
  answer=$(curl -s "${hs[@]}" -H 'Content-Type: application/json' -d "$(var BODY "$t")" "$(var URL "$t")")
  [[ $answer == *'Hello from the load upstream'* ]] || { echo "unexpected answer from $t: $answer" >&2; exit 1; }
done
echo "all four targets answer"

# wrk_run NAME TARGET THREADS CONNECTIONS: prints "NAME rps=... p50_us=... proxy_cpu_us=..."
wrk_run() {
  local pid px0 px1 out result requests
  pid=$(var PID "$2")
  px0=$(cpu_ticks "$pid")
  out=$(LLM_HEADERS=$(var HEADERS "$2") LLM_BODY=$(var BODY "$2") wrk -t"$3" -c"$4" -d"$DURATION" --latency -s "$HERE/llm-chat.lua" "$(var URL "$2")")
  px1=$(cpu_ticks "$pid")
  echo "$out" >>"$WORK/wrk.txt"
  result=$(grep '^RESULT' <<<"$out" | sed 's/^RESULT //')
  requests=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$result")
  awk -v n="$1" -v r="$result" -v q="$requests" -v g=$((px1 - px0)) -v t="$TICK" 'BEGIN { printf "%s %s proxy_cpu_us=%.1f\n", n, r, g * 1e6 / t / q }'
}

echo "machine: $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== warm-up ($WARMUP each, not reported)"
for t in "${TARGETS[@]}"; do
  LLM_HEADERS=$(var HEADERS "$t") LLM_BODY=$(var BODY "$t") wrk -t"$SAT_THREADS" -c"$SAT_CONNECTIONS" -d"$WARMUP" -s "$HERE/llm-chat.lua" "$(var URL "$t")" >/dev/null
done

echo "== $ROUNDS rounds: c=1 ($DURATION) and saturation ($DURATION), the four targets interleaved"
: >"$WORK/results.txt"
for round in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do wrk_run "c1.$t" "$t" 1 1 | tee -a "$WORK/results.txt"; done
  for t in "${TARGETS[@]}"; do wrk_run "sat.$t" "$t" "$SAT_THREADS" "$SAT_CONNECTIONS" | tee -a "$WORK/results.txt"; done
  echo "-- round $round done"
done

echo
echo "== summary (median over $ROUNDS rounds; raw output in $WORK)"
awk -f "$HERE/rounds.awk" -f "$HERE/summarize-translate.awk" "$WORK/results.txt"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
