#!/usr/bin/env bash
# Facts about the NativeAOT gateway binary: file size, time from exec to GET /readyz = 200 (median of
# RUNS starts), and idle RSS. Publishes to out/aot unless ARCHESTRA_BIN names a binary already built.
#
#   bench/load/aot-facts.sh
#   ARCHESTRA_BIN=out/aot/archestra RUNS=9 bench/load/aot-facts.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${RUNS:-7}
PORT_BASE=${PORT_BASE:-19500}
P_GW=$PORT_BASE P_ADMIN=$((PORT_BASE + 1)) P_METRICS=$((PORT_BASE + 2)) P_UP=$((PORT_BASE + 3))
WORK=$(mktemp -d /tmp/archestra-aot.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

if [[ -z "${ARCHESTRA_BIN:-}" ]]; then
  echo "== publish (NativeAOT, net10.0)"
  dotnet publish "$ROOT/src/Archestra.Gateway" -c Release -r linux-x64 -p:PublishAot=true -o "$ROOT/out/aot" -v q -nologo
  ARCHESTRA_BIN=$ROOT/out/aot/archestra
fi

# A configuration with one remote server (the load upstream), so readiness includes connecting to it.
dotnet build "$ROOT/bench/Archestra.LoadUpstream" -c Release -v q -nologo >/dev/null
"$ROOT/bench/Archestra.LoadUpstream/bin/Release/net10.0/Archestra.LoadUpstream" "$P_UP" >/dev/null 2>&1 &
PIDS+=("$!")
cat >"$WORK/archestra.json" <<EOF
{"listen":{"gateway":"http://127.0.0.1:$P_GW","admin":"http://127.0.0.1:$P_ADMIN","metrics":"http://127.0.0.1:$P_METRICS"},
 "mcpServers":{"up":{"url":"http://127.0.0.1:$P_UP/mcp"}},
 "profiles":{"bench":{"servers":["up"],"tools":{"*":{"resultTreatment":"trusted"}}}}}
EOF
for _ in $(seq 1 200); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_UP/mcp" || true) == 405 ]] && break
  sleep 0.05
done

echo "binary:  $ARCHESTRA_BIN"
echo "size:    $(stat -c %s "$ARCHESTRA_BIN" | awk '{printf "%.1f MB (%d bytes)", $1 / 1048576, $1}')"

# Python times the start: it polls /readyz over a raw socket every millisecond, so the number is not
# inflated by starting a curl process per probe.
python3 - "$ARCHESTRA_BIN" "$WORK/archestra.json" "$P_GW" "$RUNS" <<'EOF'
import socket, statistics, subprocess, sys, time

binary, config, port, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def ready():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False

def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])

times, rss, hwm = [], [], []
for _ in range(runs):
    started = time.perf_counter()
    p = subprocess.Popen([binary, "serve", "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not ready():
        if p.poll() is not None:
            sys.exit(f"the gateway exited with {p.returncode} before it was ready")
        if time.perf_counter() - started > 30:
            p.kill()
            sys.exit("the gateway was not ready within 30 s")
        time.sleep(0.001)
    times.append((time.perf_counter() - started) * 1000)
    time.sleep(2)
    rss.append(status(p.pid, "VmRSS") / 1024)
    hwm.append(status(p.pid, "VmHWM") / 1024)
    p.terminate()
    p.wait(10)

print(f"start:   exec to /readyz 200: median {statistics.median(times):.0f} ms (min {min(times):.0f}, max {max(times):.0f}, {runs} starts)")
print(f"RSS:     idle 2 s after ready: median {statistics.median(rss):.1f} MB (peak during start {statistics.median(hwm):.1f} MB)")
EOF
