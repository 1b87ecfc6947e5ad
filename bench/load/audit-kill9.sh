#!/usr/bin/env bash
# kill -9 while the audit database stalls: how many answered tool calls lose their audit row.
# The gateway (embedded SQLite) serves stateless tools/call under wrk; another process takes the SQLite write lock
# for LOCK_SECONDS, and the gateway is SIGKILLed KILL_AFTER seconds into the lock. A second start of the gateway
# replays the spill; then the rows are counted and compared with the calls wrk saw answered (2xx).
#
#   bench/load/audit-kill9.sh                                   # builds the gateway (Release, JIT)
#   ARCHESTRA_BIN=out/aot/archestra bench/load/audit-kill9.sh   # a NativeAOT gateway
#   LOCK_SECONDS=6 KILL_AFTER=4 FLUSH_MS=100 DEADLINE_MS=200 bench/load/audit-kill9.sh
#
# "lost" counts answered calls without a row; a call in flight at the kill may have a row without wrk having seen
# its answer, so lost can come out slightly low (or negative).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/bench/load"
LOCK_SECONDS=${LOCK_SECONDS:-6}
KILL_AFTER=${KILL_AFTER:-4}
WARM=${WARM:-2}
FLUSH_MS=${FLUSH_MS:-100}
DEADLINE_MS=${DEADLINE_MS:-200}
CONNECTIONS=${CONNECTIONS:-32}
PORT_BASE=${PORT_BASE:-19400}
P_GW=$PORT_BASE P_ADMIN=$((PORT_BASE + 1)) P_METRICS=$((PORT_BASE + 2))
WORK=$(mktemp -d /tmp/archestra-kill9.XXXXXX)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

for tool in wrk sqlite3 python3 node curl bc; do
  command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 1; }
done

if [[ -z "${ARCHESTRA_BIN:-}" ]]; then
  dotnet build "$ROOT/src/Archestra.Gateway" -c Release -v q -nologo >/dev/null
  ARCHESTRA_BIN=$ROOT/src/Archestra.Gateway/bin/Release/net10.0/archestra
fi

DB="$WORK/data/archestra.db"
cat >"$WORK/archestra.json" <<EOF
{
  "listen": { "gateway": "http://127.0.0.1:$P_GW", "admin": "http://127.0.0.1:$P_ADMIN", "metrics": "http://127.0.0.1:$P_METRICS" },
  "mcpServers": { "up": { "command": "node", "args": ["$HERE/echo-stdio.mjs"] } },
  "profiles": { "load": { "servers": ["up"], "tools": { "*": { "resultTreatment": "trusted" } } } },
  "storage": { "dataDirectory": "$WORK/data", "auditFlushIntervalMs": $FLUSH_MS, "auditWriteDeadlineMs": $DEADLINE_MS }
}
EOF

start_gateway() { # log file
  "$ARCHESTRA_BIN" serve --config "$WORK/archestra.json" >"$1" 2>&1 &
  GW_PID=$!
  PIDS+=("$GW_PID")
  for _ in $(seq 1 200); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_GW/healthz" || true) == 200 ]] && return 0
    sleep 0.05
  done
  echo "the gateway did not come up; see $1" >&2
  exit 1
}

echo "gateway: $ARCHESTRA_BIN (flush ${FLUSH_MS} ms, write deadline ${DEADLINE_MS} ms); lock ${LOCK_SECONDS} s, kill -9 after ${KILL_AFTER} s"
start_gateway "$WORK/gateway-1.log"
wrk -t2 -c"$CONNECTIONS" -d$((WARM + KILL_AFTER + 2))s -s "$HERE/tools-call.lua" "http://127.0.0.1:$P_GW/v1/mcp/load" >"$WORK/wrk.out" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
LOAD_START=$(date +%s.%N)
sleep "$WARM"

# Another process holds the write lock (WAL mode: readers still read, every writer waits).
python3 - "$DB" "$LOCK_SECONDS" >"$WORK/lock.out" 2>&1 <<'EOF' &
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
EOF
LOCK_PID=$!
PIDS+=("$LOCK_PID")
until grep -q locked "$WORK/lock.out"; do sleep 0.01; done
sleep "$KILL_AFTER"
kill -9 "$GW_PID"
LOAD_SECONDS=$(echo "$(date +%s.%N) - $LOAD_START" | bc -l)
wait "$GW_PID" 2>/dev/null || true
SPILLED=$( { du -cb "$WORK"/data/audit-spill/*.spill 2>/dev/null || echo 0; } | tail -1 | cut -f1)
wait "$WRK_PID" || true
wait "$LOCK_PID"

# The restart replays the spill; SIGTERM drains and exits.
start_gateway "$WORK/gateway-2.log"
kill -TERM "$GW_PID"
wait "$GW_PID" || true

RESULT=$(grep '^RESULT' "$WORK/wrk.out")
requests=$(sed -E 's/.* requests=([0-9]+).*/\1/' <<<"$RESULT")
non2xx=$(sed -E 's/.* non2xx=([0-9]+).*/\1/' <<<"$RESULT")
answered=$((requests - non2xx))
rows=$(sqlite3 "$DB" "SELECT count(*) FROM mcp_tool_calls WHERE profile = 'load'")
echo "calls answered: $answered"
echo "rows kept:      $rows (spill at the kill: ${SPILLED:-0} bytes)"
echo "lost:           $((answered - rows))"
# The documented bound: the calls of one flush interval + one write deadline at this run's average rate.
printf 'bound:          %.0f (%.0f calls/s over %.1f s x %d ms)\n' "$(echo "$answered / $LOAD_SECONDS * ($FLUSH_MS + $DEADLINE_MS) / 1000" | bc -l)" "$(echo "$answered / $LOAD_SECONDS" | bc -l)" "$LOAD_SECONDS" $((FLUSH_MS + DEADLINE_MS))
rm -rf "$WORK"
