#!/usr/bin/env bash
# Runs cotrace-kernel's tests against a real kernel with user_events.
#
#   scripts/test-kernel.sh [TEST-NAME-FILTER]
#
# 1. builds (once, cached) the Linux 6.12 kernel of vm/ if this host's kernel lacks user_events;
# 2. builds the test binaries of cotrace-kernel on the host (`cargo test --no-run`);
# 3. runs them all inside the VM (vm/run.sh) as root, or natively when this kernel has
#    user_events and we are root, with COTRACE_REQUIRE_USER_EVENTS=1 so that a missing
#    user_events is a failure there, never a skip;
# 4. prints each binary's cargo-test summary and exits non-zero if any failed.
#
# With COTRACE_VM_TARGET=arm64-4k or arm64-64k (scripts/test-arm64.sh), the binaries are
# cross-compiled for aarch64-unknown-linux-gnu and always run in that arm64 guest (vm/run.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
filter=("$@")

log() { printf 'test-kernel: %s\n' "$*" >&2; }
start=$(date +%s)

native=0
tracefs=/sys/kernel/tracing
vm_target=${COTRACE_VM_TARGET:-x86_64}
cargo_target=()
if [[ $vm_target != x86_64 ]]; then
  cargo_target=(--target aarch64-unknown-linux-gnu)
  log "running in the $vm_target guest (binaries for aarch64-unknown-linux-gnu)"
  vm/build-kernel.sh "$vm_target" >/dev/null
elif [[ -e $tracefs/user_events_data && $(id -u) -eq 0 ]]; then
  native=1
  log "this kernel ($(uname -r)) has user_events: running natively"
else
  log "this kernel ($(uname -r)) has no usable user_events: running in the VM"
  vm/build-kernel.sh >/dev/null # prints its own progress; cached after the first build
fi

log "building the test binaries (cargo test -p cotrace-kernel --no-run ${cargo_target[*]})"
mapfile -t binaries < <(
  cargo test -p cotrace-kernel "${cargo_target[@]}" --tests --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .executable != null and .profile.test == true) | .executable'
)
if ((${#binaries[@]} == 0)); then
  cargo test -p cotrace-kernel "${cargo_target[@]}" --tests --no-run # show the build errors
  log "no test binaries were built"
  exit 1
fi
log "${#binaries[@]} test binaries: $(for b in "${binaries[@]}"; do basename "$b"; done | tr '\n' ' ')"

# The script that runs in the guest (or natively): every binary, a summary line each, and a
# non-zero exit if any failed. Output goes to a log the host greps for the summaries.
runner=$(mktemp "${TMPDIR:-/tmp}/cotrace-test-kernel.XXXXXX")
output=$(mktemp "${TMPDIR:-/tmp}/cotrace-test-kernel-out.XXXXXX")
trap 'rm -f "$runner" "$output"' EXIT
{
  echo 'set -u'
  echo 'failed=0'
  for b in "${binaries[@]}"; do
    printf 'echo "==> %s"\n' "$(basename "$b")"
    printf '%q --test-threads=2 --color=never' "$b"
    for f in "${filter[@]}"; do printf ' %q' "$f"; done
    printf ' || failed=1\n'
  done
  echo 'exit $failed'
} >"$runner"

export COTRACE_REQUIRE_USER_EVENTS=1
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}
set +e
if ((native)); then
  (cd "$root/kernel-side" && bash "$runner") 2>&1 | tee "$output"
else
  (cd "$root/kernel-side" && COTRACE_VM_TIMEOUT=${COTRACE_VM_TIMEOUT:-900} "$root/vm/run.sh" bash "$runner") 2>&1 | tee "$output"
fi
status=${PIPESTATUS[0]}
set -e

echo
log "summary ($(($(date +%s) - start)) s):"
grep -E '^==> |^test result:' "$output" | sed 's/^/  /' >&2 || true
if ((status != 0)); then
  log "FAILED (exit status $status)"
  exit "$status"
fi
log "all kernel-side tests passed"
