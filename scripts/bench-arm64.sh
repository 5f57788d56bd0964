#!/usr/bin/env bash
# The kernel write benchmark (scripts/bench-kernel.sh) and the LTTng enabled/disabled benchmark
# (scripts/bench-lttng.sh) in an arm64 guest (issue 23), cross-built for
# aarch64-unknown-linux-gnu:
#
#   scripts/bench-arm64.sh [64k|4k] [--quick]      (default 64k)
#
# Under TCG absolute times mean nothing: read the ratios each benchmark prints against its own
# baseline measured in the same run (the kernel bench's tracepoint/raw writes, the LTTng bench's
# C tracepoint). The LTTng bench's C provider is compiled here with aarch64-linux-gnu-gcc against
# Debian arm64's liblttng-ust-dev/liburcu-dev headers and liblttng-ust, all in the user space of
# vm/arm64-userspace.sh, and handed over in COTRACE_BENCH_C_PROVIDER.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
size=64k quick=()
for a in "$@"; do
  case $a in
    4k | 64k) size=$a ;;
    --quick) quick=(--quick) ;;
    *) echo "usage: scripts/bench-arm64.sh [64k|4k] [--quick]" >&2; exit 2 ;;
  esac
done
log() { printf 'bench-arm64: %s\n' "$*" >&2; }
export COTRACE_VM_TARGET=arm64-$size
T=aarch64-unknown-linux-gnu
scripts/install-deps-arm64.sh >/dev/null
us=$(vm/arm64-userspace.sh)

log "building the benchmarks for $T"
exe() { jq -r "select(.reason == \"compiler-artifact\" and .executable != null and .target.name == \"$1\") | .executable" | tail -n1; }
kernel_bin=$(cargo bench -p cotrace-kernel --bench write --target $T --no-run --message-format=json 2>/dev/null | exe write)
lttng_bin=$(cargo bench -p cotrace-ust --bench lttng_vs_c --target $T --no-run --message-format=json 2>/dev/null | exe lttng_vs_c)
[[ -n $kernel_bin && -n $lttng_bin ]] || { log "a benchmark was not built"; exit 1; }

log "cross-compiling the C provider (benches/c) against Debian arm64's LTTng-UST"
provider=$PWD/target/$T/cotrace-bench/libbench_c.so
mkdir -p "${provider%/*}"
lib=$us/usr/lib/aarch64-linux-gnu
aarch64-linux-gnu-gcc -O2 -fPIC -shared -I ust-side/benches/c \
  -I"$us/usr/include/aarch64-linux-gnu" -I"$us/usr/include" \
  ust-side/benches/c/bench_tp.c -o "$provider" -L"$lib" -Wl,-rpath-link,"$lib" -llttng-ust -ldl

runner=$PWD/target/$T/cotrace-bench/run.sh
cat >"$runner" <<GUEST
set -u
failed=0
echo "==> kernel write benchmark (cotrace-kernel, benches/write.rs)"
COTRACE_REQUIRE_USER_EVENTS=1 $(printf %q "$kernel_bin") || failed=1
echo "==> LTTng benchmark (cotrace-ust, benches/lttng_vs_c.rs), private lttng-sessiond"
unshare --mount --propagation private -- bash -c '
  mount -t tmpfs cotrace-run /run && mount -t tmpfs cotrace-shm /dev/shm || exit 1
  source scripts/lib/private-sessiond.sh
  start_private_sessiond || exit 1
  COTRACE_BENCH_C_PROVIDER=$(printf %q "$provider") $(printf %q "$lttng_bin") ${quick[*]}' || failed=1
exit \$failed
GUEST
log "running both in the $COTRACE_VM_TARGET guest"
COTRACE_VM_TIMEOUT=${COTRACE_VM_TIMEOUT:-1800} vm/run.sh bash "$runner"
