# Shared by the load scripts (sourced after ROOT and WORK are set): the processes they start and stop, waiting for a
# listener, CPU time of a process, and the gateway binary.

PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

wait_for() { # url, expected status, what
  for _ in $(seq 1 300); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$1" || true) == "$2" ]] && return 0
    sleep 0.05
  done
  echo "$3 did not come up at $1" >&2
  exit 1
}

# User plus system CPU of a process, in clock ticks (getconf CLK_TCK per second).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# Sets ARCHESTRA_BIN to the NativeAOT gateway: the given one, else published to out/aot first.
aot_gateway() {
  if [[ -z "${ARCHESTRA_BIN:-}" ]]; then
    echo "publishing the gateway (NativeAOT, net10.0) to out/aot"
    dotnet publish "$ROOT/src/Archestra.Gateway" -c Release -r linux-x64 -p:PublishAot=true -o "$ROOT/out/aot" -nologo -v q >"$WORK/publish.log" 2>&1 \
      || { tail -30 "$WORK/publish.log"; exit 1; }
    ARCHESTRA_BIN=$ROOT/out/aot/archestra
  fi
  ARCHESTRA_BIN=$(realpath "$ARCHESTRA_BIN")
  echo "gateway:  $ARCHESTRA_BIN"
}
