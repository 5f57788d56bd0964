# Sourced by the bench scripts: starts a private `lttng-sessiond --no-kernel` with its own
# LTTNG_HOME (exported, so `lttng` and traced apps use it), waits until it answers, and stops it
# and removes its home when the sourcing script exits. Run it inside a private mount namespace
# (tmpfs on /run and /dev/shm) to keep it apart from a system-wide daemon.
#
#   source scripts/lib/private-sessiond.sh && start_private_sessiond || exit 1

start_private_sessiond() {
  LTTNG_HOME=$(mktemp -d "${TMPDIR:-/tmp}/cotrace-sessiond.XXXXXX")
  export LTTNG_HOME
  lttng-sessiond --no-kernel >"$LTTNG_HOME/sessiond.log" 2>&1 &
  COTRACE_SESSIOND_PID=$!
  trap stop_private_sessiond EXIT
  for _ in $(seq 200); do
    lttng --no-sessiond list >/dev/null 2>&1 && return 0
    kill -0 "$COTRACE_SESSIOND_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "lttng-sessiond did not start; its log:" >&2
  cat "$LTTNG_HOME/sessiond.log" >&2
  return 1
}

stop_private_sessiond() {
  kill "$COTRACE_SESSIOND_PID" 2>/dev/null || true
  wait "$COTRACE_SESSIOND_PID" 2>/dev/null || true
  rm -rf "$LTTNG_HOME"
}
