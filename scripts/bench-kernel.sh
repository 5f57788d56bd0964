#!/usr/bin/env bash
# Benchmarks cotrace-kernel's enabled write path against a raw writev and Microsoft's
# `tracepoint` crate, in one run on a kernel with user_events (in the VM unless this host's
# kernel has user_events and we are root). Prints ns/write and the ratios.
#
#   scripts/bench-kernel.sh              wall-clock medians and ratios
#   scripts/bench-kernel.sh --callgrind  user-space instructions per write (valgrind, exact;
#                                        the kernel's share of each writev is not counted)
#
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

cmd=("$bin")
if [[ ${1-} == --callgrind ]]; then
  command -v valgrind >/dev/null || { log "valgrind missing: run scripts/install-deps.sh"; exit 1; }
  export COTRACE_BENCH_ITERS=2000 COTRACE_BENCH_ROUNDS=1
  # Calls per variant: 1 check write + 1000 warm-up + 2000 timed.
  script='valgrind --tool=callgrind --callgrind-out-file=/tmp/cotrace-cg.out "$0" >/dev/null 2>&1 || exit 1
echo "user-space instructions per enabled write (callgrind, inclusive, 3001 calls each):"
callgrind_annotate --inclusive=yes /tmp/cotrace-cg.out 2>/dev/null |
  awk '"'"'/write::write_cotrace|write::Raw::write_packed|write::Raw::write_per_field|write::write_tracepoint/ {
    gsub(",", "", $1); n = $1 / 3001; name = $0; sub(/.*write::/, "", name); sub(/ \[.*/, "", name);
    printf "  %-24s %6.0f\n", name, n }'"'"''
  cmd=(bash -c "$script" "$bin")
fi

if [[ -e /sys/kernel/tracing/user_events_data && $(id -u) -eq 0 ]]; then
  log "running natively ($(uname -r) has user_events)"
  "${cmd[@]}"
else
  log "running in the VM (kernel $(vm/build-kernel.sh 2>/dev/null))"
  vm/run.sh "${cmd[@]}"
fi
