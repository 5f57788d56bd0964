#!/usr/bin/env bash
# Benchmark: Command::spawn + wait (with pre_exec, so the hooks run) before cotrace-ust loads
# liblttng-ust, then with ForkPolicy::TraceChildren and ForkPolicy::ExecOnly
# (ust-side/benches/fork_exec.rs), against a private lttng-sessiond in a private mount namespace
# (root needed).
#
#   scripts/bench-fork.sh            15 rounds of 100 spawns per case
#   scripts/bench-fork.sh --quick    3 rounds of 50
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench -p cotrace-ust --bench fork_exec --no-run
if [[ ${COTRACE_BENCH_ISOLATED:-} != 1 ]]; then
  exec unshare --mount --propagation private -- env COTRACE_BENCH_ISOLATED=1 bash -c \
    'mount -t tmpfs cotrace-run /run && mount -t tmpfs cotrace-shm /dev/shm && exec "$0" "$@"' \
    "$0" "$@"
fi

# shellcheck source=lib/private-sessiond.sh
source scripts/lib/private-sessiond.sh
start_private_sessiond || exit 1
cargo bench -p cotrace-ust --bench fork_exec -- "$@"
