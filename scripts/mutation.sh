#!/usr/bin/env bash
# Mutation testing with dotnet-stryker (pinned in .config/dotnet-tools.json): changes the code one small edit at a
# time (a flipped comparison, a removed statement, += for =, ...) and runs the tests that cover it; a mutant that no
# test notices "survives" and points at a gap. Not part of scripts/test.sh: CPU-heavy (one test run per mutant).
# Results and the surviving mutants that matter are written up in TESTING.md.
#
# usage: scripts/mutation.sh [policy|llm|all]          (default: all)
#   policy  src/Archestra.Policy's evaluator (RuleProgram, CompiledCondition, PathState), trust and usage,
#           by tests/Archestra.Policy.Tests
#   llm     the LLM proxy's usage and stream readers (LlmJsonScanner, LlmExchange.Relay, LlmUsage) by OpenAiProxyTests and
#           AnthropicProxyTests in tests/Archestra.Gateway.Tests (real Kestrel, the official SDKs, the fake providers)
# Environment:
#   MUTATE="glob ..."        replaces the target's files to mutate (globs relative to the mutated project)
#   STRYKER_RUNNER=mtp       the test runner (default mtp, xunit v3's own: with vstest, Stryker 5.1.0 fails to capture
#                            per-test coverage here and runs every test for every mutant)
#   STRYKER_CONCURRENCY=N    parallel test runs (default 1: the machine is shared; each Gateway run starts Kestrel)
#   MUTATION_OUT=DIR         where reports go (default out/mutation/<target>); mutation-report.html and .json
# Prints each target's "MUTATION <target>: score N% (killed K, survived S, timeout T, no coverage C)".
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
target=${1:-all}
concurrency=${STRYKER_CONCURRENCY:-1}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

dotnet tool restore >/dev/null

run() { # name test-project mutated-project filter globs...
  local name=$1 tests=$2 project=$3 filter=$4; shift 4
  local out=${MUTATION_OUT:-$repo/out/mutation}/$name
  local args=()
  local glob globs=("$@")
  if [[ -n ${MUTATE:-} ]]; then read -ra globs <<<"$MUTATE"; fi
  for glob in "${globs[@]}"; do args+=(--mutate "$glob"); done
  if [[ -n $filter ]]; then args+=(--test-case-filter "$filter"); fi
  rm -rf "$out"
  mkdir -p "$out"
  echo "== mutation: $name (${globs[*]})"
  (cd "$tests" && dotnet stryker --project "$project" --configuration Release --concurrency "$concurrency" \
    --test-runner "${STRYKER_RUNNER:-mtp}" --reporter json --reporter html --reporter progress --reporter cleartext \
    --output "$out" --skip-version-check "${args[@]}")
  local report
  report=$(find "$out" -name mutation-report.json | head -1)
  node -e '
    const report = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const n = {};
    for (const file of Object.values(report.files)) for (const m of file.mutants) n[m.status] = (n[m.status] ?? 0) + 1;
    const killed = n.Killed ?? 0, survived = n.Survived ?? 0, timeout = n.Timeout ?? 0, none = n.NoCoverage ?? 0;
    const score = (100 * (killed + timeout) / Math.max(1, killed + timeout + survived + none)).toFixed(1);
    console.log(`MUTATION ${process.argv[2]}: score ${score}% (killed ${killed}, survived ${survived}, timeout ${timeout}, no coverage ${none})`);
    for (const [path, file] of Object.entries(report.files))
      for (const m of file.mutants.filter((m) => m.status === "Survived" || m.status === "NoCoverage"))
        console.log(`  ${m.status.padEnd(10)} ${path.replace(/.*\/src\//, "src/")}:${m.location.start.line} ${m.mutatorName}: ${m.replacement ?? ""}`.slice(0, 220));
  ' "$report" "$name" | tee "$out/summary.txt"
}

# The globs and the test filter keep one run under about half an hour at concurrency 1 on this 2-core machine
# (each mutant costs one test-process start, ~4 s for the Policy tests, ~8 s for the two proxy test classes).
case $target in
  llm | all)
    run llm tests/Archestra.Gateway.Tests Archestra.Gateway.csproj \
      "FullyQualifiedName~Archestra.Gateway.Tests.Llm.OpenAiProxyTests|FullyQualifiedName~Archestra.Gateway.Tests.Llm.AnthropicProxyTests" \
      "**/Llm/LlmJsonScanner.cs" "**/Llm/LlmExchange.Relay.cs" "**/Llm/LlmUsage.cs"
    ;;&
  policy | all)
    run policy tests/Archestra.Policy.Tests Archestra.Policy.csproj "" \
      "**/Evaluation/RuleProgram.cs" "**/Evaluation/CompiledCondition.cs" "**/Evaluation/PathState.cs" \
      "**/ContextTrust.cs" "**/Llm/Usage.cs"
    ;;
  llm) ;;
  *) echo "usage: $0 [policy|llm|all]" >&2; exit 2 ;;
esac
