#!/usr/bin/env bash
# Lays out the final stage of deploy/Dockerfile from a NativeAOT publish folder, the way the image would hold it, and
# runs it the way the container would: only the files the Dockerfile copies, its WORKDIR, ENV and ENTRYPOINT, as its
# USER (no Docker engine runs on CI machines, so the image itself is not built). Called by scripts/aot-smoke.sh, which
# counts each "ok"/"FAIL" line.
#
# usage: scripts/image-dry-run.sh PUBLISH_DIR [DOCKERFILE]
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$1
dockerfile=${2:-$repo/deploy/Dockerfile}
plan=$(python3 "$repo/scripts/dockerfile-lint.py" --plan "$dockerfile") || exit 1
get() { python3 -c "import json,sys; p=json.loads(sys.argv[1]); print($2)" "$plan"; }
say() { if "${@:2}"; then echo "  ok   $1"; else echo "  FAIL $1"; fi; }

root=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$root"; }
trap cleanup EXIT
chmod 755 "$root"

missing=
while read -r source dest; do
  name=${source#/out/}
  if [[ ! -e $out/$name ]]; then missing+=" $name"; continue; fi
  mkdir -p "$root$(dirname "$dest")" && cp "$out/$name" "$root$dest"
done < <(get "" "'\n'.join(s + ' ' + d for s, d in p['copies'])")
say "every file the image copies from the build is in the NativeAOT publish output${missing:+ (missing:$missing)}" test -z "$missing"

ports=$(get "" "' '.join(map(str, sorted(p['expose'])))")
defaults=$(python3 -c "import json,re,sys; l=json.load(open(sys.argv[1]))['listen']; print(' '.join(sorted(re.sub(r'.*:', '', v) for v in l.values())))" \
  "$repo/examples/archestra.json")
say "EXPOSE ($ports) names the default listen ports ($defaults)" test "$ports" = "$defaults"

user=$(get "" "p['user']")
workdir=$root$(get "" "p['workdir']")
config=$root$(get "" "p['env']['ARCHESTRA_CONFIG']")
mkdir -p "$workdir" "$(dirname "$config")"
chown "$user" "$workdir"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
gw=$(port) admin=$(port) metrics=$(port)
cat >"$config" <<JSON
{ "listen": { "gateway": "http://127.0.0.1:$gw", "admin": "http://127.0.0.1:$admin", "metrics": "http://127.0.0.1:$metrics" },
  "mcpServers": { "remote": { "url": "http://127.0.0.1:$(port)/mcp" } }, "profiles": { "default": { "servers": ["remote"] } } }
JSON
chmod 644 "$config"

mapfile -t entry < <(get "" "'\n'.join(p['entrypoint'])")
entry[0]=$root${entry[0]}
env_args=()
while IFS= read -r pair; do env_args+=("$pair"); done < <(get "" "'\n'.join(k + '=' + v for k, v in p['env'].items())")
env_args+=("ARCHESTRA_CONFIG=$config")
(cd "$workdir" && exec env -i PATH=/usr/bin:/bin "${env_args[@]}" \
  setpriv --reuid "${user%%:*}" --regid "${user##*:}" --clear-groups "${entry[@]}" >"$root/stdout" 2>"$root/stderr") &
pid=$!
ready=0
for _ in $(seq 300); do
  if curl -fsS "http://127.0.0.1:$gw/readyz" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
say "the image's entrypoint, run as USER $user from its WORKDIR with only the copied files, becomes ready" test $ready = 1
db=$workdir/data/archestra.db
say "the embedded SQLite store (its native library beside the binary) is created in the WORKDIR, owned by $user" \
  test "$(stat -c %u:%g "$db" 2>/dev/null)" = "$user"
say "the image's user cannot write outside the WORKDIR (the binary's folder is root's)" \
  bash -c '! setpriv --reuid "$1" --regid "$1" --clear-groups touch "$2/x" 2>/dev/null' _ "${user%%:*}" "$(dirname "${entry[0]}")"
if ((ready == 0)); then tail -20 "$root/stderr"; fi
