#!/usr/bin/env bash
# Benchmarks cotrace-kernel's enabled write path against a raw writev and Microsoft's
# `tracepoint` crate, in one run on a kernel with user_events (in the VM unless this host's
# kernel has user_events and we are root). Prints ns/write and the ratios.
#   COTRACE_BENCH_ITERS (default 20000), COTRACE_BENCH_ROUNDS (default 7), COTRACE_VM_CPUS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'bench-kernel: %s\n' "$*" >&2; }
log "building the benchmark (cargo bench -p cotrace-kernel --bench write --no-run)"
bin=$(cargo bench -p cotrace-kernel --bench write --no-run --message-format=json 2>/dev/null |
  jq -r 'select(.reason == "compiler-artifact" and .executable != null and .target.name == "write") | .executable' | tail -n1)
if [[ -z $bin ]]; then
  cargo bench -p cotrace-kernel --bench write --no-run
  log "no benchmark binary was built"
  exit 1
fi
export COTRACE_REQUIRE_USER_EVENTS=1
if [[ -e /sys/kernel/tracing/user_events_data && $(id -u) -eq 0 ]]; then
  log "running natively ($(uname -r) has user_events)"
  "$bin"
else
  log "running in the VM (kernel $(vm/build-kernel.sh 2>/dev/null))"
  vm/run.sh "$bin"
fi
