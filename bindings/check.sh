#!/usr/bin/env bash
# CI check: regenerates the bindings into a temporary file and diffs them with the committed
# src/generated.rs. Skips (exit 0, with a note) when the LTTng-UST headers, libclang or the pinned
# bindgen CLI are absent, because then there is nothing to compare against.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
if [[ ! -e /usr/include/$multiarch/lttng/ust-events.h && ! -e /usr/include/lttng/ust-events.h ]]; then
  echo "bindings check: LTTng-UST headers not installed, skipped"
  exit 0
fi
if ! command -v "${BINDGEN:-bindgen}" >/dev/null; then
  if [[ ${COTRACE_INSTALL_BINDGEN:-0} == 1 ]]; then
    cargo install bindgen-cli --version 0.73.2 --locked
  else
    echo "bindings check: bindgen CLI not installed, skipped (set COTRACE_INSTALL_BINDGEN=1 to install it)"
    exit 0
  fi
fi
exec "$here/regen.sh" --check
