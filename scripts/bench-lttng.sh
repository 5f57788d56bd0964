#!/usr/bin/env bash
# Benchmark: cotrace-ust against a C lttng_ust_tracepoint with the same payload, disabled and
# enabled, in one run (ust-side/benches/lttng_vs_c.rs). Starts a private lttng-sessiond in a
# private mount namespace (root needed), runs the bench, stops the daemon.
#
#   scripts/bench-lttng.sh            full run (about a minute)
#   scripts/bench-lttng.sh --quick    fewer iterations
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench -p cotrace-ust --bench lttng_vs_c --no-run
if [[ ${COTRACE_BENCH_ISOLATED:-} != 1 ]]; then
  exec unshare --mount --propagation private -- env COTRACE_BENCH_ISOLATED=1 bash -c \
    'mount -t tmpfs cotrace-run /run && mount -t tmpfs cotrace-shm /dev/shm && exec "$0" "$@"' \
    "$0" "$@"
fi

home=$(mktemp -d)
export LTTNG_HOME=$home
lttng-sessiond --no-kernel >"$home/sessiond.log" 2>&1 &
sessiond=$!
cleanup() {
  kill "$sessiond" 2>/dev/null || true
  wait "$sessiond" 2>/dev/null || true
  rm -rf "$home"
}
trap cleanup EXIT
for _ in $(seq 100); do
  if lttng --no-sessiond list >/dev/null 2>&1; then break; fi
  sleep 0.05
done
kill -0 "$sessiond"
cargo bench -p cotrace-ust --bench lttng_vs_c -- "$@"
