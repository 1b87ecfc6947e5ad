#!/usr/bin/env bash
# Installs what running and testing Archestra needs on a fresh Debian machine. Idempotent.
#   - Debian packages: prometheus (promtool validates /metrics), wrk (load runs), postgresql (the storage tests
#     start their own server from /usr/lib/postgresql/*/bin; nothing is left running), kubernetes-client (kubectl
#     kustomize renders deploy/kubernetes for its tests; no cluster is used), chromium (the web console's browser
#     tests drive Debian's chromium with Playwright; no browser is downloaded)
#   - npm packages pinned in tests/node/package-lock.json: the real MCP peers (server-everything,
#     the TypeScript SDK, the conformance suite, supergateway), the npm openai and @anthropic-ai/sdk clients
#     (tests/node/llm), @portkey-ai/gateway (bench/load/llm.sh) and Node 22 for the conformance CLI and the SDKs
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || need_apt+=(postgresql)
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubernetes-client)
[[ -x /usr/bin/chromium ]] || need_apt+=(chromium)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)  # scripts/otlp-receiver.py (aot-smoke)
if ((${#need_apt[@]})); then
  if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
  echo "setup: apt-get install ${need_apt[*]}"
  $sudo apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

lock=$repo/tests/node/package-lock.json
stamp=$repo/tests/node/node_modules/.archestra-lock-sha
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "setup: npm ci (tests/node)"
  (cd "$repo/tests/node" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi
