#!/usr/bin/env bash
# Builds (once) a small Linux 6.12 kernel with CONFIG_USER_EVENTS from Debian's linux-source-6.12
# and prints the path of its bzImage on stdout. The image is cached under
#   ${COTRACE_CACHE_DIR:-$HOME/.cache/cotrace}/kernel-<hash>/bzImage
# where <hash> covers the config fragment, the source package version and the compiler, so a
# change to any of them rebuilds and an unchanged tree reuses the image in a second.
# Progress goes to stderr: a cold build takes 5-8 minutes on 2 cores.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${COTRACE_CACHE_DIR:-$HOME/.cache/cotrace}
fragment=$here/kernel.config
tarball=/usr/src/linux-source-6.12.tar.xz

log() { printf 'build-kernel: %s\n' "$*" >&2; }

if [[ ! -f $tarball ]]; then
  log "missing $tarball: run scripts/install-deps.sh (package linux-source-6.12)"
  exit 1
fi

src_version=$(dpkg-query -W -f='${Version}' linux-source-6.12)
cc_version=$(gcc --version | head -n1)
hash=$( { cat "$fragment"; echo "$src_version"; echo "$cc_version"; } | sha256sum | cut -c1-16)
out=$cache/kernel-$hash
if [[ -f $out/bzImage ]]; then
  log "cached kernel $out/bzImage (linux-source $src_version)"
  echo "$out/bzImage"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/build.lock"
log "waiting for the build lock" && flock 9
if [[ -f $out/bzImage ]]; then echo "$out/bzImage"; exit 0; fi

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
log "configuring: allnoconfig + $(grep -c '^CONFIG_' "$fragment") options from vm/kernel.config"
(cd "$srcdir" && KCONFIG_ALLCONFIG=/dev/null scripts/kconfig/merge_config.sh -n -O "$build" "$fragment") \
  >"$build/config.log" 2>&1 || { cat "$build/config.log" >&2; exit 1; }
for opt in CONFIG_USER_EVENTS CONFIG_9P_FS CONFIG_PERF_EVENTS CONFIG_VIRTIO_PCI CONFIG_KCMP \
  CONFIG_HIST_TRIGGERS CONFIG_TRACING_MAP CONFIG_SYNTH_EVENTS; do
  grep -q "^$opt=y" "$build/.config" || { log "$opt did not survive olddefconfig"; exit 1; }
done

jobs=$(nproc)
log "compiling with $jobs jobs (cold: about 5-8 minutes); progress every 30 s"
make -C "$srcdir" O="$build" -j"$jobs" bzImage >"$build/make.log" 2>&1 &
make_pid=$!
while kill -0 "$make_pid" 2>/dev/null; do
  sleep 30
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
cp "$build/arch/x86/boot/bzImage" "$out/bzImage.tmp"
cp "$build/.config" "$out/config"
mv "$out/bzImage.tmp" "$out/bzImage"
rm -rf "$build"
log "built $out/bzImage in $(( $(date +%s) - start ))s"
echo "$out/bzImage"
