#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine (installs what it needs first):
#   1. xunit test projects (tests/*.Tests): real Kestrel, real MCP servers and SDK clients
#   2. the MCP conformance suite against the C# fixture directly, then through the gateway
#   3. the NativeAOT publish (net9.0): zero trim/AOT warnings, the binary starts and serves MCP
#   4. the README quick start exactly as written (scripts/serve.sh and its curl)
#   5. allocation budgets of the hot path (bench/budgets.json)
# Ends with one line: "N passed, N failed[, N skipped]" summing every run above.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
"$repo/scripts/setup.sh" || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT
record() { echo "$1 $2 $3 $4" >>"$results"; }   # label passed failed skipped

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 CI=${CI:-1}

echo "== build"
if ! dotnet build Archestra.sln -c Release -nologo -v quiet; then
  record build 0 1 0
fi

for project in tests/*.Tests; do
  name=$(basename "$project")
  echo "== $name"
  out=$(mktemp)
  dotnet test "$project" -c Release --no-build -nologo 2>&1 | tee "$out"
  line=$(grep -E '^(Passed|Failed)!' "$out" | tail -1)
  if [[ -z $line ]]; then
    record "$name" 0 1 0
  else
    p=$(sed -E 's/.*Passed: *([0-9]+).*/\1/' <<<"$line")
    f=$(sed -E 's/.*Failed: *([0-9]+), Passed.*/\1/' <<<"$line")
    s=$(sed -E 's/.*Skipped: *([0-9]+).*/\1/' <<<"$line")
    record "$name" "$p" "$f" "$s"
  fi
  rm -f "$out"
done

conformance() {
  local label=$1 script=$2 out
  echo "== conformance ($label)"
  out=$(mktemp)
  SKIP_BUILD=1 "$script" 2>&1 | tee "$out"
  line=$(grep -E "^CONFORMANCE $label:" "$out" | tail -1)
  if [[ -z $line ]]; then
    record "conformance-$label" 0 1 0
  else
    p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    s=$(grep -oE '[0-9]+ skipped' <<<"$line" | cut -d' ' -f1)
    record "conformance-$label" "$p" "$f" "${s:-0}"
  fi
  rm -f "$out"
}
conformance fixture tests/conformance/fixture-direct.sh
conformance gateway tests/conformance/gateway.sh

echo "== NativeAOT publish and smoke test"
out=$(mktemp)
"$repo/scripts/aot-smoke.sh" 2>&1 | tee "$out"
line=$(grep -E '^SMOKE:' "$out" | tail -1)
if [[ -z $line ]]; then
  record aot 0 1 0
else
  record aot "$(sed -E 's/^SMOKE: ([0-9]+) passed.*/\1/' <<<"$line")" "$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")" 0
fi
rm -f "$out"

echo "== README quick start (scripts/serve.sh)"
if "$repo/scripts/quickstart-check.sh"; then record quickstart 1 0 0; else record quickstart 0 1 0; fi

if [[ -f bench/budgets.json ]]; then
  echo "== allocation budgets"
  if dotnet run --project bench/Archestra.Benchmarks -c Release -- --check-budgets; then
    record budgets 1 0 0
  else
    record budgets 0 1 0
  fi
fi

echo
echo "== totals"
awk '{ printf "  %-28s %4d passed %4d failed %4d skipped\n", $1, $2, $3, $4 }' "$results"
read -r P F S < <(awk '{p+=$2; f+=$3; s+=$4} END {print p+0, f+0, s+0}' "$results")
if ((S > 0)); then echo "$P passed, $F failed, $S skipped"; else echo "$P passed, $F failed"; fi
((F == 0))
