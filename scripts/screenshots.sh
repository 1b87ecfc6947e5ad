#!/usr/bin/env bash
# Regenerates docs/screenshots/*.png, the console pages the README shows: runs the browser test that visits every page
# at 1280x800 against a gateway with traffic (ConsoleLayoutTests.Every_page_renders_at_1280_by_800_and_is_photographed_when_asked)
# with ARCHESTRA_SCREENSHOTS pointing at the directory. Needs Debian's chromium and tests/node (scripts/setup.sh).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$repo/docs/screenshots}
mkdir -p "$out"
dotnet build "$repo/Archestra.sln" -c Release -nologo -v q
ARCHESTRA_SCREENSHOTS=$(realpath "$out") dotnet test "$repo/tests/Archestra.Gateway.Tests" -c Release --no-build -nologo \
  --filter "FullyQualifiedName~ConsoleLayoutTests.Every_page_renders_at_1280_by_800_and_is_photographed_when_asked"
ls -l "$out"/*.png
