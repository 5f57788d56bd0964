#!/usr/bin/env bash
# Benchmark: what `cotrace::fire!` costs on top of the adapters' own calls when events are
# enabled (benches/facade_enabled.rs): LTTng only, kernel (ftrace) only, both, and disabled,
# median of alternating rounds, reported as facade/direct ratios from one run, beside the
# leanest C peers (a C lttng_ust_tracepoint + a hand-written user_events writev) in the same
# states, and each side's both / (LTTng only + kernel only). Needs a kernel
# with user_events and a private lttng-sessiond: runs in the VM unless this host's kernel has
# user_events and we are root.
#
#   scripts/bench-facade.sh
#
#   COTRACE_BENCH_ITERS (enabled rows, default 20000), COTRACE_BENCH_ROUNDS (default 7),
#   COTRACE_VM_CPUS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log() { printf 'bench-facade: %s\n' "$*" >&2; }

# The inside part: a private lttng-sessiond, then the bench (which creates its session and
# switches both tracers itself).
if [[ ${1-} == --inside ]]; then
  bin=$2
  [[ -e /sys/kernel/tracing/user_events_data ]] || { log "this kernel has no user_events"; exit 1; }
  # shellcheck source=lib/private-sessiond.sh
  source scripts/lib/private-sessiond.sh
  start_private_sessiond || exit 1
  "$bin"
  exit
fi

log "building the benchmark (cargo bench --bench facade_enabled --no-run)"
bin=$(cargo bench --bench facade_enabled --no-run --message-format=json 2>/dev/null |
  jq -r 'select(.reason == "compiler-artifact" and .executable != null and .target.name == "facade_enabled") | .executable' | tail -n1)
if [[ -z $bin ]]; then
  cargo bench --bench facade_enabled --no-run
  log "no benchmark binary was built"
  exit 1
fi

log "building the C peers (scripts/lib/build-c-peers.sh)"
COTRACE_BENCH_C_PROVIDER=$(scripts/lib/build-c-peers.sh)
export COTRACE_BENCH_C_PROVIDER

if [[ -e /sys/kernel/tracing/user_events_data && $(id -u) -eq 0 ]]; then
  log "running natively ($(uname -r) has user_events), in a private mount namespace"
  # A private /run and /dev/shm keep our lttng-sessiond apart from any system one.
  exec unshare --mount --propagation private -- bash -c \
    'mount -t tmpfs cotrace-run /run && mount -t tmpfs cotrace-shm /dev/shm && exec "$0" --inside "$1"' \
    "$0" "$bin"
else
  log "running in the VM (kernel $(vm/build-kernel.sh 2>/dev/null))"
  vm/run.sh "$0" --inside "$bin"
fi
