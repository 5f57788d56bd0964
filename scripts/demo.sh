#!/usr/bin/env bash
# The demo: the shop example traced by LTTng-UST and by the kernel's user_events at the same
# time, inside a Linux 6.12 kernel with user_events (QEMU; built once and cached), printing the
# events each tracer recorded and a summary line per tracer.
#
#   ./scripts/demo.sh [REQUESTS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
requests=${1:-10}
say() { printf '==> %s\n' "$*"; }

say "installing packages (skipped when present)"
scripts/install-deps.sh
say "building the shop example (release)"
cargo build --release --example shop
say "getting the user_events kernel (cached after the first build, ~5 min cold)"
vm/build-kernel.sh >/dev/null
say "booting it under QEMU and running the demo inside"
COTRACE_VM_TIMEOUT=${COTRACE_VM_TIMEOUT:-600} \
  vm/run.sh scripts/demo-guest.sh "$PWD/target/release/examples/shop" "$requests"
