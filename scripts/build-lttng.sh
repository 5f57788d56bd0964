#!/usr/bin/env bash
# Builds (once) userspace-rcu + lttng-ust + lttng-tools of one LTTng version from the upstream
# trees in third-party/lttng (see its SOURCES.md) into one prefix, and prints the prefix on stdout:
#   ${COTRACE_CACHE_DIR:-$HOME/.cache/cotrace}/lttng-<version>-<hash>
# <hash> covers the three tarballs, the configure flags (the recipe) and the compiler, so an
# unchanged set is reused in a second. The build takes a flock, like vm/build-kernel.sh.
# Progress goes to stderr; a cold build took 15 min (2.16.0-rc1) on 2 cores at load 2-5.
#
#   scripts/build-lttng.sh 2.15.1        (also 2.14.2, 2.16.0-rc1)
#
# Sources: $COTRACE_LTTNG_SOURCES, else third-party/lttng, else /work/shared/third-party/lttng
# (the first holding the version's three tarballs).
# Needs: autoconf automake libtool pkg-config bison flex libpopt-dev libxml2-dev uuid-dev
# libnuma-dev (scripts/install-deps.sh installs them: .ci/run builds 2.15.1).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=${1:?usage: build-lttng.sh VERSION (e.g. 2.15.1)}
urcu_version=0.15.6
cache=${COTRACE_CACHE_DIR:-$HOME/.cache/cotrace}
log() { printf 'build-lttng: %s\n' "$*" >&2; }

# The first folder that holds all three tarballs of this version (the repository commits only
# the 2.15.1 set, which .ci/run uses).
names=("userspace-rcu-$urcu_version.tar.gz" "lttng-ust-$version.tar.gz" "lttng-tools-$version.tar.gz")
src=${COTRACE_LTTNG_SOURCES:-}
if [[ -z $src ]]; then
  for d in "$here/../third-party/lttng" /work/shared/third-party/lttng; do
    [[ -f $d/${names[0]} && -f $d/${names[1]} && -f $d/${names[2]} ]] && { src=$d; break; }
  done
  src=${src:-$here/../third-party/lttng}
fi
tarballs=("${names[@]/#/$src/}")
for t in "${tarballs[@]}"; do
  [[ -f $t ]] || { log "missing $t (set COTRACE_LTTNG_SOURCES to the tarballs' folder)"; exit 1; }
done

# The recipe: bump it when a configure flag or the build order below changes.
urcu_flags=()
ust_flags=(--disable-man-pages --disable-examples --disable-numa)
tools_flags=(--disable-man-pages --without-lttng-ust-python --disable-tests)
recipe="1 ${urcu_flags[*]} | ${ust_flags[*]} | ${tools_flags[*]}"
hash=$( { sha256sum "${tarballs[@]}" | cut -d' ' -f1; echo "$recipe"; gcc --version | head -n1; } \
  | sha256sum | cut -c1-16)
prefix=$cache/lttng-$version-$hash
if [[ -f $prefix/.complete ]]; then
  log "cached $prefix"
  echo "$prefix"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/lttng-build.lock"
log "waiting for the build lock" && flock 9
if [[ -f $prefix/.complete ]]; then echo "$prefix"; exit 0; fi

start=$(date +%s)
work=$cache/lttng-build-$version-$hash
rm -rf "$prefix" "$work" && mkdir -p "$prefix" "$work"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig CPPFLAGS=-I$prefix/include
export LDFLAGS="-L$prefix/lib -Wl,-rpath,$prefix/lib"
jobs=$(nproc)

# build NAME TARBALL CONFIGURE-FLAGS...: bootstrap (the tarballs are git archives), configure,
# make, install; the log stays in $work/NAME.log and its tail is shown on failure.
build() {
  local name=$1 tarball=$2; shift 2
  local dir=$work/$name step_start
  step_start=$(date +%s)
  mkdir -p "$dir" && tar -xzf "$tarball" -C "$dir" --strip-components=1
  log "$name: bootstrap, configure, make -j$jobs (log: $work/$name.log)"
  if ! (cd "$dir" && ./bootstrap && ./configure --prefix="$prefix" "$@" \
      && nice -n 19 make -j"$jobs" && make install) >"$work/$name.log" 2>&1; then
    tail -n 40 "$work/$name.log" >&2
    log "$name failed; full log in $work/$name.log"
    exit 1
  fi
  log "$name: built in $(( $(date +%s) - step_start ))s"
}

build userspace-rcu "${tarballs[0]}" "${urcu_flags[@]}"
build lttng-ust "${tarballs[1]}" "${ust_flags[@]}"
build lttng-tools "${tarballs[2]}" "${tools_flags[@]}"

rm -rf "$work"
touch "$prefix/.complete"
log "built $prefix in $(( $(date +%s) - start ))s"
echo "$prefix"
