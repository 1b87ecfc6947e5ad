#!/usr/bin/env bash
# Runs the README's quick start exactly as written (scripts/serve.sh, then the README's curl) and
# prints "QUICKSTART: N passed, N failed". Needs ports 9000, 9001 and 9050 free.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log=$(mktemp)
setsid "$repo/scripts/serve.sh" >"$log" 2>&1 &
pid=$!
trap 'kill -TERM -- -"$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$log"' EXIT
ready=0
for _ in $(seq 300); do
  if curl -fsS http://127.0.0.1:9000/readyz >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
answer=$(curl -s http://127.0.0.1:9000/v1/mcp/default \
  -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}')
if ((ready)) && grep -q 'Echo: hi' <<<"$answer"; then
  echo "  ok   scripts/serve.sh serves the README's curl: $answer"
  echo "QUICKSTART: 1 passed, 0 failed"
else
  echo "  FAIL scripts/serve.sh (ready=$ready, answer: $answer)"; tail -20 "$log"
  echo "QUICKSTART: 0 passed, 1 failed"
  exit 1
fi
