#!/usr/bin/env bash
# Resident memory of a gateway process fed more than its limits allow (bench/README.md, "Memory bounds").
#   bench/memory/run.sh path/to/archestra.dll
# Prints the gateway's VmRSS after start, after 40 refused 200 MiB upstream answers, after a 300 MiB stderr line,
# after a 100 MiB admin POST, and after 10 s idle.
set -euo pipefail
dll=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $gateway $upstream 2>/dev/null || true; rm -rf "$work"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gw=$(port); admin=$(port); metrics=$(port); up=$(port)
export ARCHESTRA_ADMIN_KEY=memory-bench-admin-key-0123456789
cat > "$work/archestra.json" <<JSON
{
  "listen": { "gateway": "http://127.0.0.1:$gw", "admin": "http://127.0.0.1:$admin", "metrics": "http://127.0.0.1:$metrics" },
  "storage": { "dataDirectory": "$work/data" },
  "adminKeys": [ { "name": "bench", "key": "env:ARCHESTRA_ADMIN_KEY" } ],
  "mcpServers": {
    "huge": { "url": "http://127.0.0.1:$up/mcp", "timeoutSeconds": 120 },
    "flood": { "command": "node", "args": ["$here/huge-server.mjs", "stdio", "300"], "timeoutSeconds": 120 }
  },
  "profiles": { "p": { "servers": ["huge", "flood"] } }
}
JSON

node "$here/huge-server.mjs" http "$up" 200 & upstream=$!
dotnet "$dll" serve --config "$work/archestra.json" > "$work/gateway.log" 2>&1 & gateway=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$gw/readyz" > /dev/null && break; sleep 0.2; done

rss() { awk '/VmRSS/ { printf "%d MB\n", $2 / 1024 }' "/proc/$gateway/status"; }
call() {
  curl -s -o /dev/null -w '%{http_code} ' -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":{}}}" "http://127.0.0.1:$gw/v1/mcp/p"
}

echo "started:                          $(rss)"
for round in $(seq 1 10); do
  for _ in 1 2 3 4; do call huge__huge > /dev/null & done
  wait -n; wait -n; wait -n; wait -n
done
sleep 2
echo "after 40 refused 200 MiB answers: $(rss)"
call flood__flood > /dev/null
sleep 2
echo "after a 300 MiB stderr line:      $(rss)"
head -c $((100 * 1024 * 1024)) /dev/zero | tr '\0' 'a' | sed 's/^/{"name":"big","command":"node","args":["/; s/$/"]}/' > "$work/big.json"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ARCHESTRA_ADMIN_KEY" -H 'Content-Type: application/json' \
  --data-binary @"$work/big.json" "http://127.0.0.1:$admin/api/mcp-servers")
sleep 2
echo "after a 100 MiB admin POST ($status): $(rss)"
sleep 10
echo "after 10 s idle:                  $(rss)"
