#!/usr/bin/env bash
# Runs the MCP 2026-07-28 requirements of the conformance suite 0.2.0-alpha.12 ("conformance-next" in
# tests/node/package.json) against the fixture served directly (fixture-direct.sh without the extras), with its own
# baseline. Ends with: CONFORMANCE fixture-next: N passed, N failed, N skipped
#
# usage: tests/conformance/fixture-next.sh   (SKIP_BUILD=1 reuses the last build)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CONFORMANCE_PACKAGE=conformance-next CONFORMANCE_REQUIREMENTS=2026-07-28 SKIP_EXTRAS=1
export CONFORMANCE_LABEL=fixture-next CONFORMANCE_BASELINE=$here/expected-failures-fixture-next.yml
exec "$here/fixture-direct.sh"
