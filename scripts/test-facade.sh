#!/usr/bin/env bash
# The facade's tests that need both real tracers (scripts/test.sh's last step; also rerun by
# scripts/flake-hunt.sh): the coexistence matrix, the soak under faults (COTRACE_SOAK_SECS,
# default 60), registration, names, #[persist], kernel writes, dynamic events, the tracing
# layer, a dlclose'd plugin's event (plugin-test/tests/unload.rs) and the `cotrace` command
# (cli/tests/cli.rs). They run in the user_events kernel under QEMU (vm/run.sh), or natively
# when this kernel has user_events and we are root, with a private lttng-sessiond per test.
#
# The matrix and soak tables go to target/coexistence-matrix.md (the guest cannot write to the
# tree: they are cut out of the output). Every test binary runs; the exit status is non-zero if
# any failed.
#
# With COTRACE_VM_TARGET=arm64-64k or arm64-4k (issue 23), everything is cross-built for
# aarch64-unknown-linux-gnu and runs in that arm64 guest (scripts/install-deps-arm64.sh), never
# natively.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cross=()
[[ ${COTRACE_VM_TARGET:-x86_64} != x86_64 ]] && cross=(--target aarch64-unknown-linux-gnu)

# The test files that need both real tracers, as PACKAGE:TEST; each is built and run in the kernel.
vm_tests=(cotrace:coexistence cotrace:registration cotrace:names cotrace:persist
  cotrace:kernel_writes cotrace:perf_callgraph cotrace:dynamic cotrace:tracing_layer cotrace-plugin-test:unload
  cotrace-cli:cli)
# The traced apps the facade tests start (cargo test --no-run builds no examples): the matrix's
# app, and the shop example (coexistence's shop rows, the cotrace command's tests).
cargo build "${cross[@]}" -p cotrace --features tracing --example coexist --example shop --example tracing_service
facade_tests=()
for t in "${vm_tests[@]}"; do
  features=()
  [[ ${t%%:*} == cotrace ]] && features=(--features tracing)
  bin=$(cargo test "${cross[@]}" -p "${t%%:*}" "${features[@]}" --test "${t#*:}" --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .executable != null and .profile.test == true) | .executable')
  [[ -n $bin ]] || { echo "test-facade.sh: test binary $t not built" >&2; exit 1; }
  facade_tests+=("$bin")
done
runner=$(mktemp "${TMPDIR:-/tmp}/cotrace-facade.XXXXXX")
facade_log=$(mktemp "${TMPDIR:-/tmp}/cotrace-facade-log.XXXXXX")
trap 'rm -f "$runner" "$facade_log"' EXIT
{
  # Every binary runs, even after a failure (so one run shows every failure); the exit status
  # says whether any failed.
  echo 'failed=0'
  for b in "${facade_tests[@]}"; do
    printf 'echo "==> %s"\n' "$(basename "$b")"
    printf '%q --test-threads=1 --color=never' "$b"
    # persist's test is #[ignore]d on hosts without user_events; here it must run (its helper
    # `child` is run by it, not on its own).
    [[ $(basename "$b") == persist-* ]] && printf ' --ignored --exact persistent_event_decodes_after_exit'
    [[ $(basename "$b") == perf_callgraph-* ]] &&
      printf ' --ignored --exact dwarf_call_graphs_show_the_function_that_fired'
    printf ' || failed=1\n'
  done
  echo 'exit $failed'
} >"$runner"
# The soak's length (tests/coexistence.rs): 60 s unless COTRACE_SOAK_SECS says otherwise.
export COTRACE_SOAK_SECS=${COTRACE_SOAK_SECS:-60}
set +e
if ((${#cross[@]} == 0)) && [[ -e /sys/kernel/tracing/user_events_data && $(id -u) -eq 0 ]]; then
  COTRACE_REQUIRE_USER_EVENTS=1 bash "$runner" 2>&1 | tee "$facade_log"
else
  # One VM runs every binary: ~6-7 min on an idle 2-core machine, past 10 min at load ~12
  # (the `cotrace` command's tests alone took 326-749 s there); each test bounds its own waits.
  COTRACE_REQUIRE_USER_EVENTS=1 COTRACE_VM_TIMEOUT=${COTRACE_VM_TIMEOUT:-1800} \
    vm/run.sh bash "$runner" 2>&1 | tee "$facade_log"
fi
status=${PIPESTATUS[0]}
set -e
# The guest cannot write to the tree: keep the matrix and soak tables it printed (README).
sed -n '/^<!-- coexistence-\(matrix\|soak\): begin -->$/,/^<!-- coexistence-\(matrix\|soak\): end -->$/p' \
  "$facade_log" >target/coexistence-matrix.md
echo "test-facade.sh: coexistence tables in target/coexistence-matrix.md"
if ((status != 0)); then
  echo "test-facade.sh: FAILED (exit status $status):" >&2
  grep -E '^==> |^test result:' "$facade_log" | sed 's/^/  /' >&2 || true
  exit "$status"
fi
