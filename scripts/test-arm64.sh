#!/usr/bin/env bash
# Runs cotrace's tests in the arm64 guests (issue 23), apart from scripts/test.sh and CI:
#
#   scripts/test-arm64.sh [64k] [4k]      (default: 64k)
#
# For each page size: installs what is missing (scripts/install-deps-arm64.sh), builds (once,
# cached) the arm64 Linux 6.12 kernel with that page size (vm/build-kernel.sh arm64-64k|arm64-4k,
# 15-35 minutes cold at nice 19 on 2 loaded cores), prints the guest's page size as its kernel
# sees it, and runs cotrace-kernel's tests cross-compiled for aarch64-unknown-linux-gnu in
# that guest (scripts/test-kernel.sh with COTRACE_VM_TARGET=arm64-<size>), then the LTTng
# side's (cotrace-ust, cotrace-lttng-sys) against Debian arm64's LTTng 2.13 in the same guest.
# COTRACE_ARM64_LTTNG_TESTS="NAME..." runs only the LTTng-side tests whose names contain one of
# the NAMEs (libtest filters; CI's subset: the GOT hook's exact count, lazy binding, a fork).
# The coexistence matrix: COTRACE_VM_TARGET=arm64-64k scripts/test-facade.sh; the demo:
# COTRACE_VM_TARGET=arm64-64k scripts/demo.sh; the benchmarks: scripts/bench-arm64.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'test-arm64: %s\n' "$*" >&2; }
sizes=("$@")
((${#sizes[@]})) || sizes=(64k)
for size in "${sizes[@]}"; do
  [[ $size == 4k || $size == 64k ]] || { echo "usage: scripts/test-arm64.sh [64k] [4k]" >&2; exit 2; }
done

# cotrace-ust's and cotrace-lttng-sys's test binaries, cross-built, run in the guest as
# scripts/test-lttng.sh runs them on the host (each test isolates its own lttng-sessiond).
lttng_suite() {
  local binaries runner status
  log "$COTRACE_VM_TARGET: LTTng side (cargo test -p cotrace-ust -p cotrace-lttng-sys --target aarch64-unknown-linux-gnu)"
  mapfile -t binaries < <(
    cargo test -p cotrace-ust -p cotrace-lttng-sys --target aarch64-unknown-linux-gnu --no-run \
      --message-format=json 2>/dev/null |
      jq -r 'select(.reason == "compiler-artifact" and .executable != null and .profile.test == true) | .executable'
  )
  ((${#binaries[@]})) || { log "no LTTng-side test binaries were built"; return 1; }
  # The guest has no compiler: what tests compile with cc is cross-compiled here.
  # tests/secure.rs loads a C library.
  local evil=$PWD/target/aarch64-unknown-linux-gnu/cotrace-test/libevil.so
  mkdir -p "${evil%/*}"
  aarch64-linux-gnu-gcc -shared -fPIC -o "$evil" ust-side/tests/data/evil.c
  # bindings/tests/layout.rs compiles a C program against LTTng-UST's headers: here, its
  # program (written by the host's build of the same test) against Debian arm64's headers in
  # the guest's user space (liblttng-ust-dev, liburcu-dev), for aarch64.
  local us layout=${evil%/*}/layout
  us=$(vm/arm64-userspace.sh)
  COTRACE_TEST_LAYOUT_C=$layout.c cargo test -q -p cotrace-lttng-sys --test layout -- \
    --ignored --exact write_the_c_program >/dev/null
  aarch64-linux-gnu-gcc -std=gnu11 -Wall -Werror -I"$us/usr/include/aarch64-linux-gnu" \
    -I"$us/usr/include" -o "$layout" "$layout.c"
  runner=$(mktemp "${TMPDIR:-/tmp}/cotrace-test-arm64.XXXXXX")
  {
    echo 'failed=0'
    for b in "${binaries[@]}"; do
      printf 'echo "==> %s"\n%q --test-threads=2 --color=never %s || failed=1\n' "${b##*/}" "$b" \
        "${COTRACE_ARM64_LTTNG_TESTS:-}"
    done
    echo "exit \$failed"
  } >"$runner"
  set +e
  (cd ust-side && COTRACE_TEST_EVIL_LIB=$evil COTRACE_TEST_LAYOUT_EXE=$layout COTRACE_VM_TIMEOUT=${COTRACE_VM_TIMEOUT:-900} RUST_BACKTRACE=1 ../vm/run.sh bash "$runner")
  status=$?
  set -e
  rm -f "$runner"
  return "$status"
}

./scripts/install-deps-arm64.sh >/dev/null
failed=()
for size in "${sizes[@]}"; do
  export COTRACE_VM_TARGET=arm64-$size
  vm/build-kernel.sh "$COTRACE_VM_TARGET" >/dev/null
  # shellcheck disable=SC2016 # expanded in the guest
  seen=$(COTRACE_VM_TIMEOUT=300 vm/run.sh bash -c \
    'echo "guest: $(uname -m) $(uname -r), $(grep -m1 KernelPageSize /proc/self/smaps)"' | grep '^guest:' || true)
  log "$COTRACE_VM_TARGET ${seen:-guest: did not answer}"
  if ! [[ $seen =~ KernelPageSize:\ +${size%k}\ kB ]]; then
    log "the $COTRACE_VM_TARGET guest does not have ${size%k} kB pages"
    failed+=("$size: page size")
    continue
  fi
  if ! scripts/test-kernel.sh; then failed+=("$size: kernel-side tests"); fi
  if ! lttng_suite; then failed+=("$size: LTTng-side tests"); fi
done
if ((${#failed[@]})); then
  log "FAILED: ${failed[*]}"
  exit 1
fi
log "all passed in: ${sizes[*]/#/arm64-}"
