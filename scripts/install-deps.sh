#!/usr/bin/env bash
# Installs the Debian packages cotrace's demo, tests and VM kernel need. Idempotent: packages
# already present are skipped, so a warm machine pays one dpkg query.
set -euo pipefail

packages=(
  # LTTng-UST: the user-space tracer, its CLI and the trace reader.
  lttng-tools liblttng-ust-dev babeltrace2
  # bindgen (only to regenerate cotrace-lttng-sys) and the C benchmark providers.
  libclang-dev build-essential pkg-config
  # The user_events kernel: source, build tools, and QEMU to boot it with the host's root.
  linux-source-6.12 flex bison bc libelf-dev libssl-dev xz-utils qemu-system-x86 busybox-static
  # Real user_events clients used by the tests, and instruction counting for the benches.
  linux-perf trace-cmd valgrind
  # addr2line: tests/debug_info.rs resolves the LTTng ip context with it, next to babeltrace2.
  binutils
  # LTTng 2.15.1 built from third-party/lttng by scripts/build-lttng.sh (.ci/run tests it):
  # the trees are git archives (bootstrap with autotools); lttng-tools' own libraries.
  autoconf automake libtool libpopt-dev libxml2-dev uuid-dev libnuma-dev
  # Script tools: jq reads cargo's JSON messages, util-linux has unshare, python3 patches the
  # loom mutant.
  jq util-linux python3
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all ${#packages[@]} packages present"
