#!/usr/bin/env bash
# Regenerates src/generated.rs from the installed LTTng-UST 2.13 headers with the bindgen CLI.
#
#   bindings/regen.sh            rewrite src/generated.rs
#   bindings/regen.sh --check    regenerate into a temporary file and diff it with the committed
#                                one; exit 1 on a difference (CI runs this when headers exist)
#   bindings/regen.sh --check --target aarch64-unknown-linux-gnu
#                                the same for aarch64: clang targets aarch64 with the arm64 glibc
#                                headers of libc6-dev-arm64-cross and the LTTng-UST and urcu
#                                headers of liblttng-ust-dev:arm64 and liburcu-dev:arm64
#                                (downloaded, not installed; scripts/install-deps-arm64.sh).
#                                One committed file must hold on both: its layout assertions
#                                are then those of each target's C layout.
#
# LTTNG_UST_PREFIX=P takes the headers from P/include (an LTTng built by
# scripts/build-lttng.sh) instead of the system's.
#
# Needs: libclang (Debian: libclang-dev), liblttng-ust-dev, and the bindgen CLI
# (`cargo install bindgen-cli --version 0.73.2 --locked`; the version is pinned because its
# output format is part of what --check compares). Users of the crate need none of this: the
# output is committed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
want_version=0.73.2
check=0 target=
while (($#)); do
  case $1 in
    --check) check=1 ;;
    --target) target=${2:?--target needs a triple}; shift ;;
    *) echo "usage: bindings/regen.sh [--check] [--target aarch64-unknown-linux-gnu]" >&2; exit 2 ;;
  esac
  shift
done
if [[ -n $target && $target != aarch64-unknown-linux-gnu ]]; then
  echo "regen: --target $target: only aarch64-unknown-linux-gnu is supported besides the host's" >&2
  exit 2
fi
if [[ -n $target ]] && ((!check)); then
  echo "regen: --target only with --check: src/generated.rs is generated for the host" >&2
  exit 2
fi

bindgen=${BINDGEN:-bindgen}
if ! command -v "$bindgen" >/dev/null; then
  echo "regen: bindgen CLI not found; install it with: cargo install bindgen-cli --version $want_version --locked" >&2
  exit 2
fi
have_version=$("$bindgen" --version | awk '{print $2}')
if [[ $have_version != "$want_version" ]]; then
  echo "regen: bindgen $have_version found, $want_version expected (output differs between versions)" >&2
  exit 2
fi

multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
includes=(-I"/usr/include/$multiarch" -I/usr/include)
version_h=/usr/include/$multiarch/lttng/ust-version.h
if [[ -n ${LTTNG_UST_PREFIX:-} ]]; then
  includes=(-I"$LTTNG_UST_PREFIX/include" "${includes[@]}")
  version_h=$LTTNG_UST_PREFIX/include/lttng/ust-version.h
fi
out=$(mktemp)
stage=
trap 'rm -f "$out"; [[ -z $stage ]] || rm -rf "$stage"' EXIT
clang_target=()
if [[ -n $target ]]; then
  cross=/usr/aarch64-linux-gnu/include
  [[ -d $cross ]] || { echo "regen: $cross missing (package libc6-dev-arm64-cross)" >&2; exit 2; }
  [[ -z ${LTTNG_UST_PREFIX:-} ]] || { echo "regen: --target with LTTNG_UST_PREFIX is not supported" >&2; exit 2; }
  # Debian's arm64 LTTng-UST and userspace-rcu headers (urcu's are per architecture),
  # downloaded and unpacked, never installed (dpkg's arm64 architecture is needed for the
  # download: scripts/install-deps-arm64.sh).
  stage=$(mktemp -d)
  (cd "$stage" && apt-get download -qq liblttng-ust-dev:arm64 liburcu-dev:arm64) \
    2> >(grep -v '^W: Download is performed unsandboxed' >&2) ||
    { echo "regen: apt-get download of liblttng-ust-dev:arm64 liburcu-dev:arm64 failed" >&2; exit 2; }
  for deb in "$stage"/*.deb; do dpkg -x "$deb" "$stage/root"; done
  version_h=$stage/root/usr/include/aarch64-linux-gnu/lttng/ust-version.h
  includes=(-I"$stage/root/usr/include/aarch64-linux-gnu" -I"$cross" -I/usr/include)
  clang_target=(--target=aarch64-linux-gnu)
fi

# Types: the descriptors a provider hands to liblttng-ust, the call site, the event, channel,
# session and ring-buffer structures its probe callback reads. Functions: only the ones cotrace
# calls, generated as a dynamically loaded table (the application must run without the library).
"$bindgen" "$here/wrapper.h" \
  --rust-target 1.85 \
  --rust-edition 2024 \
  --no-doc-comments \
  --use-core \
  --with-derive-default \
  --default-enum-style moduleconsts \
  --no-prepend-enum-name \
  --allowlist-type 'lttng_ust_tracepoint' \
  --allowlist-type 'lttng_ust_tracepoint_probe' \
  --allowlist-type 'lttng_ust_probe_desc' \
  --allowlist-type 'lttng_ust_event_desc' \
  --allowlist-type 'lttng_ust_tracepoint_class' \
  --allowlist-type 'lttng_ust_event_field' \
  --allowlist-type 'lttng_ust_type_(common|integer|float|string|enum|array|sequence)' \
  --allowlist-type 'lttng_ust_enum_(desc|entry|value|entry_option)' \
  --allowlist-type 'lttng_ust_type' \
  --allowlist-type 'lttng_ust_string_encoding' \
  --allowlist-type 'lttng_ust_probe_ctx' \
  --allowlist-type 'lttng_ust_event_(common|recorder|notifier|type|filter_result)' \
  --allowlist-type 'lttng_ust_notification_ctx' \
  --allowlist-type 'lttng_ust_channel_(buffer|buffer_ops|common|type)' \
  --allowlist-type 'lttng_ust_session' \
  --allowlist-type 'lttng_ust_ring_buffer_ctx' \
  --allowlist-var 'LTTNG_UST_PROVIDER_MAJOR|LTTNG_UST_PROVIDER_MINOR' \
  --allowlist-var 'LTTNG_UST_ABI_SYM_NAME_LEN' \
  --allowlist-var 'LTTNG_UST_TRACEPOINT_LOGLEVEL_.*' \
  --allowlist-type 'lttng_ust_tracepoint_loglevel' \
  --allowlist-function 'lttng_ust_probe_(register|unregister)' \
  --allowlist-function 'lttng_ust_tracepoint_module_(register|unregister)' \
  --allowlist-function 'lttng_ust_(before_fork|after_fork_parent|after_fork_child)' \
  --opaque-type 'sigset_t' \
  --opaque-type '__sigset_t' \
  --dynamic-loading LttngUst \
  --dynamic-link-require-all \
  --output "$out" \
  -- "${clang_target[@]}" "${includes[@]}"

{
  echo "// @generated by bindings/regen.sh (bindgen $want_version) from LTTng-UST $(
    awk '/define LTTNG_UST_MAJOR_VERSION/{a=$3} /define LTTNG_UST_MINOR_VERSION/{b=$3} /define LTTNG_UST_PATCHLEVEL_VERSION/{c=$3} END{print a"."b"."c}' \
      "$version_h") headers. Do not edit."
  cat "$out"
} > "$out.full"
mv "$out.full" "$out"

if ((check)); then
  if diff -u "$here/src/generated.rs" "$out"; then
    echo "regen: src/generated.rs is up to date${target:+ for $target}"
  else
    echo "regen: src/generated.rs differs from what the installed headers generate${target:+ for $target}" >&2
    exit 1
  fi
else
  cp "$out" "$here/src/generated.rs"
  echo "regen: wrote $here/src/generated.rs"
fi
