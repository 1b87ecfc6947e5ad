#!/usr/bin/env bash
# The layout rules the build cannot enforce, checked over every C# file of src, tests and bench:
#   1. CSharpier (pinned in .config/dotnet-tools.json, settings in .csharpierrc.yaml) would change nothing;
#   2. no line is longer than 160 characters;
#   3. no source file is longer than 800 lines.
# Prints "STYLE: N passed, N failed" (one per rule) and each offending file or line.
# `dotnet csharpier format src tests bench` fixes rule 1; rules 2 and 3 need a person.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0 failed=0
check() { # name status
  if (($2 == 0)); then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}

# Tracked and new (not ignored) files, so a local run sees a file before it is committed.
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- 'src/*.cs' 'tests/*.cs' 'bench/*.cs' | sort -u)

dotnet tool restore >/dev/null
dotnet csharpier check src tests bench
check "csharpier: formatted as .csharpierrc.yaml says" $?

# Characters, not bytes: C.UTF-8 is in every glibc.
long=$(LC_ALL=C.UTF-8 grep -nE '^.{161,}' "${files[@]}" | cut -c1-120 | sed 's/^/  /')
[[ -n $long ]] && echo "$long"
check "no line over 160 characters" "$([[ -z $long ]]; echo $?)"

big=$(wc -l "${files[@]}" | awk '$2 != "total" && $1 > 800 { printf "  %s (%d lines)\n", $2, $1 }')
[[ -n $big ]] && echo "$big"
check "no file over 800 lines" "$([[ -z $big ]]; echo $?)"

echo "STYLE: $passed passed, $failed failed"
((failed == 0))
