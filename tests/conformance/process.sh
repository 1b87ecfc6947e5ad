# Sourced by gateway.sh and bridge.sh: the lifecycle of the one process a conformance run tests through.
# The caller sets $work (a scratch directory, removed on exit) and $what (its name in messages), starts the process
# with stdout and stderr in $work/stdout and $work/stderr, and sets $pid.
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

show_logs() {
  echo "--- $what stdout (tail) ---" >&2
  tail -n 50 "$work/stdout" >&2 || true
  echo "--- $what stderr (tail) ---" >&2
  tail -n 100 "$work/stderr" >&2 || true
}

# Waits up to 60 s for GET URL to answer 200 (with "any": to answer at all, for a server without a readiness endpoint);
# exits 1 with the logs if the process dies or never gets ready.
wait_ready() { # url [any]
  local code
  for _ in $(seq 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$(basename "$0"): the $what exited during start-up" >&2
      show_logs
      exit 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true)
    if [[ $code == 200 || (${2:-} == any && $code != 000) ]]; then
      return 0
    fi
    sleep 0.1
  done
  echo "$(basename "$0"): GET $1 did not answer ${2:-200} within 60 s" >&2
  show_logs
  exit 1
}
