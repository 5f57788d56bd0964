#!/usr/bin/env bash
# cotrace's test command: sets up what it needs, then runs every test suite.
#   1. Debian packages (scripts/install-deps.sh; idempotent)
#   2. host tests: `cargo test --workspace` (the word, the facade, LTTng-UST against a real
#      lttng-sessiond that the tests start themselves, the kernel adapter's "no user_events here"
#      behaviour)
#   3. the enable word's loom model, and a check that the model catches a racy release
#   4. the LTTng side's extra checks (scripts/test-lttng.sh)
#   5. the kernel side inside a real Linux 6.12 with user_events under QEMU (scripts/test-kernel.sh;
#      the kernel is built once and cached)
# Any failure stops the run with a non-zero status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing packages (skipped when present)"
scripts/install-deps.sh

step "host tests: cargo test --workspace"
cargo test --workspace

step "loom model of the enable word"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=3 \
  cargo test -p cotrace-word --test loom --release
step "loom sanity: the model must fail on a racy release"
shared-word/loom-mutant.sh

if [[ -x scripts/test-lttng.sh ]]; then
  step "LTTng-UST side: scripts/test-lttng.sh"
  scripts/test-lttng.sh
fi

if [[ -x scripts/test-kernel.sh ]]; then
  step "kernel side in a user_events kernel: scripts/test-kernel.sh"
  scripts/test-kernel.sh
fi

step "all test suites passed"
