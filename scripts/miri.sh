#!/usr/bin/env bash
# The crates' pure unit tests (no FFI, no syscalls) under Miri, which checks them for undefined
# behaviour: the enable word and its owners (cotrace-word), the kernel adapter's format builder
# and payload encoder (cotrace-kernel), and the LTTng probe's payload, staging and filter-stack
# layout code (cotrace-ust).
#
# Needs a nightly toolchain with Miri:
#   rustup toolchain install nightly --component miri,rust-src --profile minimal
# (installed here when missing). Integer-to-pointer casts are permitted
# (-Zmiri-permissive-provenance): LTTng's filter interpreter stack carries pointers as bytes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! cargo +nightly miri --version >/dev/null 2>&1; then
  rustup toolchain install nightly --component miri --component rust-src --profile minimal
fi
rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || true
cargo +nightly miri setup

export MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-permissive-provenance"
step() { printf '\n==> miri: %s\n' "$*"; }

step "cotrace-word (unit, integration and doc tests; loom models are cfg(loom) only)"
cargo +nightly miri test -p cotrace-word

step "cotrace-kernel: format builder and payload encoder (tests that make syscalls skipped)"
# (its tests that make syscalls are #[cfg_attr(miri, ignore)])
cargo +nightly miri test -p cotrace-kernel --lib

step "cotrace-ust: payload check, staging, interpreter stack and string arena"
cargo +nightly miri test -p cotrace-ust --lib probe::

step "all Miri runs passed"
