#!/usr/bin/env bash
# CI check: regenerates the bindings into a temporary file and diffs them with the committed
# src/generated.rs (exit 1 on a difference).
#
# Skips (exit 0, with a note) when the LTTng-UST headers are not installed: then there is
# nothing to compare against. When the pinned bindgen CLI is missing it is installed with cargo
# into the target directory if CI=true or COTRACE_INSTALL_BINDGEN=1 (about two minutes of
# compilation), and the check is skipped otherwise.
#
# Then, where libc6-dev-arm64-cross is installed (scripts/install-deps-arm64.sh), the same file
# is regenerated for aarch64-unknown-linux-gnu and must be identical: the committed layout
# assertions hold for both targets' C layouts. Elsewhere that half is skipped with a note.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=0.73.2
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
if [[ -n ${LTTNG_UST_PREFIX:-} && ! -e $LTTNG_UST_PREFIX/include/lttng/ust-events.h ]]; then
  echo "bindings check: no LTTng-UST headers in LTTNG_UST_PREFIX=$LTTNG_UST_PREFIX" >&2
  exit 1
fi
if [[ -z ${LTTNG_UST_PREFIX:-} && ! -e /usr/include/$multiarch/lttng/ust-events.h && ! -e /usr/include/lttng/ust-events.h ]]; then
  echo "bindings check: LTTng-UST headers not installed, skipped"
  exit 0
fi
if [[ -z ${BINDGEN:-} ]]; then
  tools=${CARGO_TARGET_DIR:-$here/../target}/tools
  if command -v bindgen >/dev/null && [[ $(bindgen --version | awk '{print $2}') == "$version" ]]; then
    BINDGEN=bindgen
  elif [[ -x $tools/bin/bindgen ]]; then
    BINDGEN=$tools/bin/bindgen
  elif [[ ${CI:-} == true || ${COTRACE_INSTALL_BINDGEN:-0} == 1 ]]; then
    echo "bindings check: installing bindgen-cli $version into $tools"
    cargo install bindgen-cli --version "$version" --locked --root "$tools" --quiet
    BINDGEN=$tools/bin/bindgen
  else
    echo "bindings check: bindgen $version not installed, skipped (COTRACE_INSTALL_BINDGEN=1 installs it)"
    exit 0
  fi
fi
export BINDGEN
"$here/regen.sh" --check
if [[ -d /usr/aarch64-linux-gnu/include ]]; then
  "$here/regen.sh" --check --target aarch64-unknown-linux-gnu
else
  echo "bindings check: aarch64 skipped (no /usr/aarch64-linux-gnu/include: scripts/install-deps-arm64.sh)"
fi
