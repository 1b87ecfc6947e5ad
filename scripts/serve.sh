#!/usr/bin/env bash
# Quick start: installs the example MCP server and runs the gateway with examples/archestra.json
# (embedded defaults, no database to install). Extra arguments go to `archestra serve`.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$repo/scripts/setup.sh"
dotnet build "$repo/src/Archestra.Gateway" -c Release -nologo -v quiet
# From the repository root: the example's paths are relative to it (`dotnet run` would start the
# gateway in the project folder instead).
cd "$repo"
exec dotnet src/Archestra.Gateway/bin/Release/net10.0/archestra.dll serve --config examples/archestra.json "$@"
