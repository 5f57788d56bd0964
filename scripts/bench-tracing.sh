#!/usr/bin/env bash
# Benchmark of cotrace's `tracing` layer (benches/tracing_disabled.rs) with every row: a
# disabled callsite against `tracing` with no subscriber and with an EnvFilter rejecting it,
# and enabled by LTTng (a private lttng-sessiond) and by ftrace. Needs a kernel with
# user_events: runs in the VM unless this host's kernel has user_events and we are root.
# (The host-only rows run with `cargo bench -p cotrace --features tracing --bench
# tracing_disabled`.) Under the VM's TCG, absolute figures are 10-20x the host's; compare rows.
#
#   scripts/bench-tracing.sh
#
#   COTRACE_BENCH_ITERS (default 200000 here), COTRACE_BENCH_ROUNDS (default 3 here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log() { printf 'bench-tracing: %s\n' "$*" >&2; }

if [[ ${1-} == --inside ]]; then
  bin=$2
  [[ -e /sys/kernel/tracing/user_events_data ]] || { log "this kernel has no user_events"; exit 1; }
  # shellcheck source=lib/private-sessiond.sh
  source scripts/lib/private-sessiond.sh
  start_private_sessiond || exit 1
  COTRACE_BENCH_TRACERS=1 COTRACE_BENCH_ITERS=${COTRACE_BENCH_ITERS:-200000} \
    COTRACE_BENCH_ROUNDS=${COTRACE_BENCH_ROUNDS:-3} "$bin"
  exit
fi

log "building the benchmark (cargo bench -p cotrace --features tracing --bench tracing_disabled --no-run)"
bin=$(cargo bench -p cotrace --features tracing --bench tracing_disabled --no-run --message-format=json 2>/dev/null |
  jq -r 'select(.reason == "compiler-artifact" and .executable != null and .target.name == "tracing_disabled") | .executable' | tail -n1)
if [[ -z $bin ]]; then
  cargo bench -p cotrace --features tracing --bench tracing_disabled --no-run
  log "no benchmark binary was built"
  exit 1
fi

if [[ -e /sys/kernel/tracing/user_events_data && $(id -u) -eq 0 ]]; then
  log "running natively ($(uname -r) has user_events), in a private mount namespace"
  exec unshare --mount --propagation private -- bash -c \
    'mount -t tmpfs cotrace-run /run && mount -t tmpfs cotrace-shm /dev/shm && exec "$0" --inside "$1"' \
    "$0" "$bin"
else
  log "running in the VM (kernel $(vm/build-kernel.sh 2>/dev/null))"
  vm/run.sh "$0" --inside "$bin"
fi
