#!/usr/bin/env bash
# The demo: the shop example traced by LTTng-UST and by the kernel's user_events at the same
# time, inside a Linux 6.12 kernel with user_events (QEMU; built once and cached), printing the
# events each tracer recorded and a summary line per tracer.
#
#   ./scripts/demo.sh [REQUESTS]
#
# With COTRACE_VM_TARGET=arm64-64k or arm64-4k: the same in that arm64 guest (vm/run.sh), the
# shop example cross-built for aarch64-unknown-linux-gnu, Debian arm64's LTTng 2.13 there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
requests=${1:-10}
say() { printf '==> %s\n' "$*"; }
target=${COTRACE_VM_TARGET:-x86_64}
cross=() app=$PWD/target/release/examples/shop

say "installing packages (skipped when present)"
if [[ $target == x86_64 ]]; then
  scripts/install-deps.sh
else
  scripts/install-deps-arm64.sh
  cross=(--target aarch64-unknown-linux-gnu)
  app=$PWD/target/aarch64-unknown-linux-gnu/release/examples/shop
fi
say "building the shop example (release${cross[*]:+, ${cross[*]}})"
cargo build --release "${cross[@]}" --example shop
say "getting the user_events kernel ($target; cached after the first build, ~5 min cold)"
vm/build-kernel.sh "$target" >/dev/null
say "booting it under QEMU and running the demo inside"
COTRACE_VM_TIMEOUT=${COTRACE_VM_TIMEOUT:-600} \
  vm/run.sh scripts/demo-guest.sh "$app" "$requests"
