#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine (installs what it needs first):
#   1. xunit test projects (tests/*.Tests): real Kestrel, real MCP servers and SDK clients
#   2. the MCP conformance suite against the C# fixture directly (with fixture-extras.mjs), then through the gateway
#      and through `archestra bridge`; then the 2026-07-28 requirements of the 0.2.0-alpha.12 suite, directly and
#      through the gateway
#   3. the NativeAOT publish: zero trim/AOT warnings, the binary starts and serves MCP
#   4. the README quick start exactly as written (scripts/serve.sh and its curl)
#   5. allocation budgets of the hot path (bench/budgets.json)
# Ends with one line: "N passed, N failed[, N skipped]" summing every step above.
#
# The verdict cannot be green while something failed. Each of these adds one failure (with its reason in the totals):
#   - a step that exits non-zero, whatever its own counts say (a crashed test host, a stale conformance baseline);
#   - a step that runs fewer tests than its floor in tests/expected-counts, or reports no counts at all;
#   - a step that runs past its time limit (killed by `timeout`); in xunit projects a single test that runs longer
#     than ARCHESTRA_TEST_HANG_TIMEOUT (default 5m) is dumped and killed by `dotnet test --blame-hang-timeout`;
#   - a step whose inputs are missing (bench/budgets.json, a floor), or that could not run because the build failed.
#
# ARCHESTRA_TEST_ONLY="Policy conformance-fixture ..." runs only the named steps (for checking this script, not for
# CI): build, Gateway, Policy, Runtime, Storage (the xunit projects), conformance-fixture, conformance-gateway,
# conformance-bridge, conformance-everything-direct, conformance-everything-bridge, conformance-fixture-next,
# conformance-gateway-next, aot, quickstart, budgets. Unset (the
# default), everything runs.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
if ! timeout 20m "$repo/scripts/setup.sh"; then echo "setup failed"; echo "0 passed, 1 failed"; exit 1; fi

results=$(mktemp)
reasons=$(mktemp)
failed_tests=$(mktemp)   # each failed xunit test's name and the first lines of its message, repeated in the totals
trap 'rm -f "$results" "$reasons" "$failed_tests"' EXIT
record() { echo "$1 $2 $3 $4" >>"$results"; }   # label passed failed skipped
problem() { echo "  $1: $2" >>"$reasons"; echo "  FAIL $1: $2"; }   # label reason (each is one counted failure)

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 CI=${CI:-1}
only=" ${ARCHESTRA_TEST_ONLY:-} "
only=${only//,/ }
want() { [[ -z ${ARCHESTRA_TEST_ONLY:-} || $only == *" $1 "* ]]; }
hang=${ARCHESTRA_TEST_HANG_TIMEOUT:-5m}
results_dir=${ARCHESTRA_TEST_RESULTS:-$repo/out/test-results}

floor() { awk -v step="$1" '$1 == step { print $2; exit }' "$repo/tests/expected-counts"; }

# Runs a step under `timeout` (the whole process group is killed at the limit, 30 s after a TERM), showing its output
# and keeping it in $out. Sets $status: the step's exit status, 124 when it timed out.
out=$(mktemp)
trap 'rm -f "$results" "$reasons" "$failed_tests" "$out"' EXIT
run_step() { # limit command...
  local limit=$1; shift
  timeout --kill-after=30s "$limit" "$@" 2>&1 | tee "$out"
  status=${PIPESTATUS[0]}
}

# Records a step's counts and every way it failed beyond them: exit status, time limit, floor.
# verdict label limit passed failed skipped reported(0/1)
verdict() {
  local label=$1 limit=$2 p=$3 f=$4 s=$5 reported=$6 extra=0 min
  if ((status == 124 || status == 137)); then
    problem "$label" "did not finish within $limit (killed)"; extra=$((extra + 1))
  elif ((status != 0 && f == 0)); then
    problem "$label" "exited with status $status while reporting no failed test"; extra=$((extra + 1))
  fi
  if ((!reported)); then
    problem "$label" "reported no counts"; extra=$((extra + 1))
  fi
  min=$(floor "$label")
  if [[ -z $min ]]; then
    problem "$label" "has no floor in tests/expected-counts"; extra=$((extra + 1))
  elif ((p + f + s < min)); then
    problem "$label" "ran $((p + f + s)), fewer than its floor of $min (tests/expected-counts)"; extra=$((extra + 1))
  fi
  record "$label" "$p" "$((f + extra))" "$s"
}

# "label: N passed, N failed[, N skipped]" style lines: the last one matching $1 in $out.
counts() { # prefix-regex -> sets p f s reported
  local line
  line=$(grep -E "$1" "$out" | tail -1)
  p=0 f=0 s=0 reported=0
  [[ -z $line ]] && return
  reported=1
  p=$(grep -oE '[0-9]+ passed' <<<"$line" | cut -d' ' -f1); p=${p:-0}
  f=$(grep -oE '[0-9]+ failed' <<<"$line" | cut -d' ' -f1); f=${f:-0}
  s=$(grep -oE '[0-9]+ skipped' <<<"$line" | cut -d' ' -f1); s=${s:-0}
}

built=1
if want build; then
  echo "== build"
  run_step 20m dotnet build Archestra.sln -c Release -nologo -v quiet
  if ((status != 0)); then
    built=0
    problem build "dotnet build exited with status $status"
    record build 0 1 0
  fi
fi

if want style; then
  echo "== style (scripts/style-check.sh)"
  run_step 10m "$repo/scripts/style-check.sh"
  counts '^STYLE:'
  verdict style 10m "$p" "$f" "$s" "$reported"
fi

for project in tests/*.Tests; do
  name=$(basename "$project")
  short=${name#Archestra.}; short=${short%.Tests}
  want "$short" || continue
  echo "== $name"
  if ((!built)); then
    problem "$name" "not run: the build failed"; record "$name" 0 1 0; continue
  fi
  # xunit prints "Passed!  - Failed: N, Passed: N, Skipped: N, Total: N"; a test host that crashes may print a
  # partial line, or none, and dotnet test then exits non-zero: both are caught by verdict.
  # Measurements (explicit tests, trait Category=Measurement) are run by hand for bench/README.md, never here.
  run_step 40m dotnet test "$project" -c Release --no-build -nologo --filter "Category!=Measurement" \
    --blame-hang-timeout "$hang" --blame-hang-dump-type mini --results-directory "$results_dir/$name"
  line=$(grep -E '^(Passed|Failed)!' "$out" | tail -1)
  p=0 f=0 s=0 reported=0
  if [[ -n $line ]]; then
    reported=1
    p=$(sed -nE 's/.*Passed: *([0-9]+).*/\1/p' <<<"$line")
    f=$(sed -nE 's/.*Failed: *([0-9]+),.*/\1/p' <<<"$line")
    s=$(sed -nE 's/.*Skipped: *([0-9]+).*/\1/p' <<<"$line")
  fi
  verdict "$name" 40m "${p:-0}" "${f:-0}" "${s:-0}" "$reported"
  # The totals are what a CI log keeps: name the failed tests there, with the start of each message.
  awk '/^  Failed / { n = 5 } n > 0 { print "    " $0; n-- }' "$out" >>"$failed_tests"
done

conformance() { # label script [NAME=VALUE...]
  local label=$1 script=$2
  want "conformance-$label" || return 0
  echo "== conformance ($label)"
  if ((!built)); then
    problem "conformance-$label" "not run: the build failed"; record "conformance-$label" 0 1 0; return
  fi
  run_step 20m env SKIP_BUILD=1 "${@:3}" "$script"
  local step_status=$status extras_failed=0
  if [[ $label == fixture ]]; then
    # fixture-direct.sh also runs fixture-extras.mjs (over HTTP and stdio) and prints their own line, each run
    # counted there; a non-zero exit they explain is not counted a second time against the scenarios.
    counts '^EXTRAS fixture:'
    extras_failed=$f
    status=0
    verdict fixture-extras 20m "$p" "$f" "$s" "$reported"
  fi
  counts "^CONFORMANCE $label:"
  status=$step_status
  if ((status != 0 && status != 124 && status != 137 && extras_failed > 0)); then status=0; fi
  verdict "conformance-$label" 20m "$p" "$f" "$s" "$reported"
}
conformance fixture tests/conformance/fixture-direct.sh
conformance gateway tests/conformance/gateway.sh
conformance bridge tests/conformance/bridge.sh
# server-everything, which nobody here wrote: its own HTTP mode, then its stdio mode behind archestra bridge.
conformance everything-direct tests/conformance/everything.sh EVERYTHING_VIA=direct
conformance everything-bridge tests/conformance/everything.sh EVERYTHING_VIA=bridge
# MCP 2026-07-28: the requirements of conformance 0.2.0-alpha.12, directly and through the gateway.
conformance fixture-next tests/conformance/fixture-next.sh
conformance gateway-next tests/conformance/gateway-next.sh

if want aot; then
  echo "== NativeAOT publish and smoke test"
  run_step 30m "$repo/scripts/aot-smoke.sh"
  counts '^SMOKE:'
  verdict aot 30m "$p" "$f" "$s" "$reported"
fi

if want quickstart; then
  echo "== README quick start (scripts/serve.sh)"
  run_step 10m "$repo/scripts/quickstart-check.sh"
  counts '^QUICKSTART:'
  verdict quickstart 10m "$p" "$f" "$s" "$reported"
fi

if want budgets; then
  echo "== allocation budgets"
  if [[ ! -f bench/budgets.json ]]; then
    problem budgets "bench/budgets.json is missing: nothing was checked"
    record budgets 0 1 0
  else
    run_step 30m dotnet run --project bench/Archestra.Benchmarks -c Release -- --check-budgets
    if ((status == 0)); then p=1 f=0; else p=0 f=1; fi
    verdict budgets 30m "$p" "$f" 0 1
  fi
fi

echo
echo "== totals"
if [[ -n ${ARCHESTRA_TEST_ONLY:-} ]]; then echo "  (ARCHESTRA_TEST_ONLY=$ARCHESTRA_TEST_ONLY: only these steps ran)"; fi
awk '{ printf "  %-30s %4d passed %4d failed %4d skipped\n", $1, $2, $3, $4 }' "$results"
if [[ -s $failed_tests ]]; then
  echo "  failed tests:"
  cat "$failed_tests"
fi
if [[ -s $reasons ]]; then
  echo "  failures beyond the steps' own counts:"
  cat "$reasons"
fi
read -r P F S < <(awk '{p+=$2; f+=$3; s+=$4} END {print p+0, f+0, s+0}' "$results")
if [[ ! -s $results ]]; then F=1; echo "  no step ran"; fi
if ((S > 0)); then echo "$P passed, $F failed, $S skipped"; else echo "$P passed, $F failed"; fi
((F == 0))
