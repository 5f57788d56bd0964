#!/usr/bin/env bash
# Installs what the arm64 guest needs (scripts/test-arm64.sh, vm/build-kernel.sh arm64-*,
# vm/run-arm64.sh), apart from scripts/install-deps.sh so that the default path (demo, tests,
# CI) does not pay for it. Idempotent.
#
# - gcc-aarch64-linux-gnu (with libc6-dev-arm64-cross): cross-builds the arm64 kernel, links the arm64 Rust binaries;
# - qemu-system-arm: qemu-system-aarch64 (-M virt -cpu max, TCG);
# - the arm64 architecture for dpkg/apt (`dpkg --add-architecture arm64`), so that
#   vm/arm64-userspace.sh can `apt-get download` arm64 packages: nothing arm64 is installed on
#   the host, and the host's own upgrade plan does not change (checked with apt-get -s upgrade);
# - rustup's aarch64-unknown-linux-gnu standard library (.cargo/config.toml names the linker).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/install-deps.sh

log() { printf 'install-deps-arm64: %s\n' "$*"; }
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive

update=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  log "adding the arm64 architecture to dpkg (for apt-get download of arm64 packages)"
  "${sudo_cmd[@]}" dpkg --add-architecture arm64
  update=1
fi
# libc6-dev-arm64-cross: the crt files and libc to link against (gcc only recommends it).
packages=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((update)) || ((${#missing[@]})); then
  "${sudo_cmd[@]}" apt-get update -qq
fi
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  log "rustup target add aarch64-unknown-linux-gnu"
  rustup target add aarch64-unknown-linux-gnu
fi
log "all present: ${packages[*]}, dpkg architecture arm64, rust target aarch64-unknown-linux-gnu"
