#!/usr/bin/env bash
# Quick start: installs the example MCP server and runs the gateway with examples/archestra.json
# (embedded defaults, no database to install). Extra arguments go to `archestra serve`.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/scripts/setup.sh"
cd "$repo"
exec dotnet run --project src/Archestra.Gateway -c Release -- serve --config examples/archestra.json "$@"
