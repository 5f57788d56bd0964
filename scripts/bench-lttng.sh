#!/usr/bin/env bash
# Benchmark: cotrace-ust against a C lttng_ust_tracepoint with the same payload, disabled and
# enabled, in one run (ust-side/benches/lttng_vs_c.rs). Starts a private lttng-sessiond in a
# private mount namespace (root needed), runs the bench, stops the daemon.
#
#   scripts/bench-lttng.sh              time per call, median of 7 alternating rounds (~10 s)
#   scripts/bench-lttng.sh --quick      fewer iterations
#   scripts/bench-lttng.sh --callgrind  instructions per call under valgrind (repeatable)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench -p cotrace-ust --bench lttng_vs_c --no-run
if [[ ${COTRACE_BENCH_ISOLATED:-} != 1 ]]; then
  exec unshare --mount --propagation private -- env COTRACE_BENCH_ISOLATED=1 bash -c \
    'mount -t tmpfs cotrace-run /run && mount -t tmpfs cotrace-shm /dev/shm && exec "$0" "$@"' \
    "$0" "$@"
fi

# shellcheck source=lib/private-sessiond.sh
source scripts/lib/private-sessiond.sh
start_private_sessiond || exit 1
home=$LTTNG_HOME
if [[ ${1:-} == --callgrind ]]; then
  bin=$(cargo bench -p cotrace-ust --bench lttng_vs_c --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*lttng_vs_c[^"]*\)".*/\1/p' | tail -1)
  out=$home/callgrind.out
  valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect='lttng_vs_c::phase_*' \
    "$bin" --callgrind >"$home/bench.log" 2>&1 || { cat "$home/bench.log"; exit 1; }
  iters=10000 # CALLGRIND_ITERS in the bench
  callgrind_annotate --threshold=100 --inclusive=yes "$out" | awk -v n=$iters '
    /lttng_vs_c::phase_/ { gsub(",", "", $1); match($0, /phase_[a-z_]+/); ir[substr($0, RSTART + 6, RLENGTH - 6)] = $1 }
    END {
      for (p in ir) printf "%-15s %10.1f instructions/call\n", p, ir[p] / n
      for (p in ir) printf "@result lttng.cg.%s %.1f\n", p, ir[p] / n
      if (ir["c_enabled"] > 0) printf "enabled  ratio (Rust/C) %.3fx\n", ir["rust_enabled"] / ir["c_enabled"]
      if (ir["c_disabled"] > 0) printf "disabled ratio (Rust/C) %.3fx\n", ir["rust_disabled"] / ir["c_disabled"]
    }' | sort
else
  cargo bench -p cotrace-ust --bench lttng_vs_c -- "$@"
fi
