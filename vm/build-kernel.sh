#!/usr/bin/env bash
# Builds (once) a small Linux 6.12 kernel with CONFIG_USER_EVENTS from Debian's linux-source-6.12
# and prints the path of its image on stdout.
#
#   vm/build-kernel.sh [x86_64|arm64-4k|arm64-64k]     (default x86_64)
#
# x86_64: vm/kernel.config, the host's gcc, bzImage. arm64-4k / arm64-64k: vm/kernel.config, then
# vm/kernel-arm64.config, then the page size (CONFIG_ARM64_4K_PAGES / CONFIG_ARM64_64K_PAGES),
# cross-built with Debian's gcc-aarch64-linux-gnu (scripts/install-deps-arm64.sh), Image.
# The image is cached under
#   ${COTRACE_CACHE_DIR:-$HOME/.cache/cotrace}/kernel-<hash>/{bzImage,Image}
# where <hash> covers the config fragments, the source package version and the compiler (and,
# for arm64, the architecture and the page size), so a change to any of them rebuilds and an
# unchanged tree reuses the image in a second. The compiler runs at `nice -n 19`.
# Progress goes to stderr: a cold build takes 5-8 minutes on 2 idle cores.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${COTRACE_CACHE_DIR:-$HOME/.cache/cotrace}
fragment=$here/kernel.config
tarball=/usr/src/linux-source-6.12.tar.xz
target=${1:-x86_64}

log() { printf 'build-kernel: %s\n' "$*" >&2; }

make_env=()
case $target in
  x86_64)
    cc=gcc image_name=bzImage image_path=arch/x86/boot/bzImage fragments=("$fragment") ;;
  arm64-4k | arm64-64k)
    cc=aarch64-linux-gnu-gcc image_name=Image image_path=arch/arm64/boot/Image
    make_env=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
    pages=${target#arm64-}
    fragments=("$fragment" "$here/kernel-arm64.config") ;;
  *)
    echo "usage: vm/build-kernel.sh [x86_64|arm64-4k|arm64-64k]" >&2
    exit 2 ;;
esac

if [[ ! -f $tarball ]]; then
  log "missing $tarball: run scripts/install-deps.sh (package linux-source-6.12)"
  exit 1
fi
command -v "$cc" >/dev/null ||
  { log "missing $cc: run scripts/install-deps-arm64.sh (package gcc-aarch64-linux-gnu)"; exit 1; }

# The page-size choice is the last fragment; its text is part of the hash like the others'.
page_config=
if [[ $target == arm64-* ]]; then
  page_config="CONFIG_ARM64_${pages^^}_PAGES=y"
fi

src_version=$(dpkg-query -W -f='${Version}' linux-source-6.12)
cc_version=$("$cc" --version | head -n1)
# x86_64 hashes exactly what it always did, so existing caches stay valid.
hash=$( {
  cat "${fragments[@]}"
  echo "$src_version"
  echo "$cc_version"
  if [[ -n $page_config ]]; then echo "$target"; echo "$page_config"; fi
} | sha256sum | cut -c1-16)
out=$cache/kernel-$hash
if [[ -f $out/$image_name ]]; then
  log "cached $target kernel $out/$image_name (linux-source $src_version)"
  echo "$out/$image_name"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/build.lock"
log "waiting for the build lock" && flock 9
if [[ -f $out/$image_name ]]; then echo "$out/$image_name"; exit 0; fi

start=$(date +%s)
srcdir=$cache/src-$src_version
if [[ ! -f $srcdir/.extracted ]]; then
  log "extracting $tarball (linux-source $src_version)"
  rm -rf "$srcdir" && mkdir -p "$srcdir"
  tar -xf "$tarball" -C "$srcdir" --strip-components=1
  touch "$srcdir/.extracted"
fi

build=$cache/build-$hash
rm -rf "$build" && mkdir -p "$build"
if [[ -n $page_config ]]; then
  printf '# page size of the %s guest\n%s\n' "$target" "$page_config" >"$build/pages.config"
  fragments+=("$build/pages.config")
fi
log "configuring $target: allnoconfig + $(cat "${fragments[@]}" | grep -c '^CONFIG_') options from ${fragments[*]##*/}"
# ARCH must be in merge_config.sh's environment too: without it, it merges for the host's
# architecture and silently drops every arm64 option.
(cd "$srcdir" && env "${make_env[@]}" KCONFIG_ALLCONFIG=/dev/null \
  scripts/kconfig/merge_config.sh -n -O "$build" "${fragments[@]}") \
  >"$build/config.log" 2>&1 || { cat "$build/config.log" >&2; exit 1; }
required=(CONFIG_USER_EVENTS CONFIG_9P_FS CONFIG_PERF_EVENTS CONFIG_VIRTIO_PCI CONFIG_KCMP
  CONFIG_HIST_TRIGGERS CONFIG_TRACING_MAP CONFIG_SYNTH_EVENTS)
if [[ -n $page_config ]]; then
  required+=("${page_config%=y}" CONFIG_PCI_HOST_GENERIC CONFIG_SERIAL_AMBA_PL011_CONSOLE CONFIG_ARM_PSCI_FW)
fi
for opt in "${required[@]}"; do
  grep -q "^$opt=y" "$build/.config" || { log "$opt did not survive olddefconfig"; exit 1; }
done

jobs=$(nproc)
log "compiling with $jobs jobs at nice 19 (cold: about 5-8 minutes on idle cores); progress every 30 s"
nice -n 19 make -C "$srcdir" O="$build" "${make_env[@]}" -j"$jobs" "$image_name" >"$build/make.log" 2>&1 &
make_pid=$!
while kill -0 "$make_pid" 2>/dev/null; do
  # Wakes at once when make exits (wait returns), else after 30 s to print progress.
  timeout 30 tail --pid="$make_pid" -f /dev/null 2>/dev/null || true
  kill -0 "$make_pid" 2>/dev/null || break
  objs=$(find "$build" -name '*.o' 2>/dev/null | wc -l)
  log "  $(( $(date +%s) - start ))s: $objs objects built; last: $(tail -n1 "$build/make.log" | cut -c1-80)"
done
if ! wait "$make_pid"; then
  tail -n 40 "$build/make.log" >&2
  log "kernel build failed; full log in $build/make.log"
  exit 1
fi

mkdir -p "$out"
cp "$build/$image_path" "$out/$image_name.tmp"
cp "$build/.config" "$out/config"
mv "$out/$image_name.tmp" "$out/$image_name"
rm -rf "$build"
log "built $target $out/$image_name in $(( $(date +%s) - start ))s"
echo "$out/$image_name"
