#!/usr/bin/env bash
# Runs the MCP 2026-07-28 requirements of the conformance suite 0.2.0-alpha.12 ("conformance-next" in
# tests/node/package.json) through the gateway: gateway.sh with the next CLI, its own baseline and a profile whose
# tools may run in an untrusted context (the gateway judges every 2026-07-28 request as untrusted). The fixture serves
# Streamable HTTP here (used in its 2025 revision, as over stdio): the input_required scenarios leave calls held for retries
# that never come, and over stdio a server request is attached to a call only when that call is the server's only one in
# flight (README, "Known limitations"), so one abandoned call would refuse the questions of every later scenario. Over HTTP
# the stream that carries a server request names its call. The 2025 run (gateway.sh) keeps the stdio fixture.
# Ends with: CONFORMANCE gateway-next: N passed, N failed, N skipped
#
# usage: tests/conformance/gateway-next.sh   (the same variables as gateway.sh)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CONFORMANCE_PACKAGE=conformance-next CONFORMANCE_REQUIREMENTS=2026-07-28 CONFORMANCE_MODERN=1 CONFORMANCE_FIXTURE=http
export CONFORMANCE_LABEL=gateway-next CONFORMANCE_BASELINE=$here/expected-failures-gateway-next.yml
exec "$here/gateway.sh"
