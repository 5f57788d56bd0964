#!/usr/bin/env bash
# Prepares (once) the arm64 user space of the arm64 guest and prints its directory on stdout:
# Debian's own arm64 packages, downloaded with `apt-get download PKG:arm64` and unpacked with
# `dpkg -x` (nothing is installed on the host), under
#   ${COTRACE_CACHE_DIR:-$HOME/.cache/cotrace}/arm64-userspace-<hash>/
# where <hash> covers the package names and versions. The guest (vm/guest-init-arm64.sh) lays
# its usr/bin, usr/sbin and usr/lib over the host's (read-only overlays), so that /bin/bash,
# /bin/sh, the busybox applets, the loader /lib/ld-linux-aarch64.so.1 and the multiarch
# libraries in /usr/lib/aarch64-linux-gnu are arm64 there, as on an arm64 Debian.
# Needs the arm64 dpkg architecture: scripts/install-deps-arm64.sh.
set -euo pipefail

cache=${COTRACE_CACHE_DIR:-$HOME/.cache/cotrace}
log() { printf 'arm64-userspace: %s\n' "$*" >&2; }

packages=(
  # The loader, libc and libgcc_s: what a Rust binary for aarch64-unknown-linux-gnu links.
  libc6 libgcc-s1
  # A shell for vm/guest-init.sh and the job (bash), and sh, mount, stty... (busybox).
  bash libtinfo6 busybox-static
  # The real user_events clients kernel-side/tests/perf.rs runs (perf 6.1 and trace-cmd), and
  # the libraries they link: `apt-cache depends --recurse --no-recommends ... linux-perf:arm64
  # trace-cmd:arm64`, without the interpreters and tools they do not need to start.
  linux-perf trace-cmd
  # binutils: perf script runs addr2line (Debian's perf has no libbfd); the host's x86_64 one
  # cannot start here, and perf script then died of SIGPIPE (tests/perf_callgraph.rs).
  binutils binutils-aarch64-linux-gnu binutils-common libbinutils libctf-nobfd0 libctf0
  libgprofng0 libjansson4
  libbabeltrace1 libblkid1 libbz2-1.0 libcap2 libcom-err2 libcrypt1 libdb5.3 libdw1 libelf1
  libexpat1 libffi8 libgdbm-compat4 libgdbm6 libglib2.0-0 libgssapi-krb5-2 libk5crypto3
  libkeyutils1 libkrb5-3 libkrb5support0 liblzma5 libmount1 libncursesw6 libnsl2 libnuma1
  libopencsd1 libpcre2-8-0 libperl5.36 libpython3.11 libreadline8 libselinux1 libslang2
  libsqlite3-0 libssl3 libstdc++6 libtirpc3 libtraceevent1 libtraceevent1-plugin libtracefs1
  libunwind8 libuuid1 libzstd1 zlib1g
  # LTTng 2.13 for the LTTng side's tests: liblttng-ust (loaded at run time), lttng-sessiond
  # and lttng (lttng-tools), babeltrace2, and their libraries (same recursive query).
  # (liblttng-ust-dev for the unversioned liblttng-ust-fork.so the fork tests LD_PRELOAD.)
  liblttng-ust1 liblttng-ust-common1 liblttng-ust-ctl5 liburcu8 lttng-tools liblttng-ctl0
  liblttng-ust-dev
  libxml2 libicu72 libpopt0 libkmod2 babeltrace2 libbabeltrace2-0
  # util-linux, as on every Debian: setpriv (ust-side/tests/secure.rs runs a setuid copy as
  # nobody with `setpriv --reuid=65534 --regid=65534 --clear-groups`, which busybox's setpriv
  # does not take), unshare, nsenter, flock...; and the libraries its commands link.
  util-linux libcap-ng0 libpam0g libaudit1 libsmartcols1 libsystemd0 libudev1 libgcrypt20
  libgpg-error0 liblz4-1
  # liburcu's headers, which liblttng-ust-dev's include: scripts/test-arm64.sh cross-compiles
  # bindings/tests/layout.rs's C program against this tree's headers (the guest has no cc).
  liburcu-dev
)

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  log "dpkg has no arm64 architecture: run scripts/install-deps-arm64.sh"
  exit 1
fi
# One apt-cache call for all (a call per package took ~3 s each at load 6, minutes per boot).
declare -A candidate=()
while read -r p v; do
  candidate[$p]=$v
done < <(apt-cache policy "${packages[@]/%/:arm64}" 2>/dev/null |
  awk '/^[^ ].*:$/ { p = $0; sub(/:$/, "", p); sub(/:arm64$/, "", p) }
       /^  Candidate: / { print p, $2 }')
versions=() specs=()
for p in "${packages[@]}"; do
  v=${candidate[$p]:-}
  if [[ -z $v || $v == '(none)' ]]; then
    log "no arm64 candidate for $p: run scripts/install-deps-arm64.sh (apt-get update)"
    exit 1
  fi
  versions+=("$p=$v")
  specs+=("$p:arm64=$v")
done
# The hash also covers this script, which shapes the tree.
hash=$( { printf '%s\n' "${versions[@]}"; cat "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)
out=$cache/arm64-userspace-$hash
if [[ -f $out/.complete ]]; then
  echo "$out"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/arm64-userspace.lock"
flock 9
if [[ -f $out/.complete ]]; then echo "$out"; exit 0; fi
rm -rf "$out" "$out.debs" && mkdir -p "$out" "$out.debs"
log "downloading ${specs[*]}"
# (apt warns that _apt cannot write to a root-owned directory and downloads as root: harmless.)
(cd "$out.debs" && apt-get download -qq "${specs[@]}") 2> >(grep -v '^W: Download is performed unsandboxed' >&2)
for p in "${packages[@]}"; do
  deb=$(find "$out.debs" -name "${p}_*_arm64.deb" | head -n1)
  [[ -n $deb ]] || { log "apt-get download did not fetch $p:arm64"; exit 1; }
  dpkg -x "$deb" "$out"
done
# Debian's arm64 packages put some files in /bin, /sbin, /lib (merged-/usr is done by
# usrmerge at install time): move them under usr/ where the guest's overlays look.
for d in bin sbin lib; do
  if [[ -d $out/$d && ! -L $out/$d ]]; then
    mkdir -p "$out/usr/$d"
    cp -a "$out/$d/." "$out/usr/$d/"
    rm -rf "${out:?}/$d"
  fi
done
# busybox's applets where the packages put no command (sh, mount, stty, mountpoint, poweroff...).
# The list comes from the host's busybox-static (scripts/install-deps.sh), the same Debian
# build for amd64: the arm64 one cannot run here.
bb=$out/usr/bin/busybox
[[ -x $bb ]] || { log "no bin/busybox in busybox-static:arm64"; exit 1; }
while read -r path; do
  dir=$out/usr/${path%/*}
  dir=${dir/\/usr\/usr\//\/usr\/}
  mkdir -p "$dir"
  [[ -e $dir/${path##*/} || -L $dir/${path##*/} ]] || ln -s /usr/bin/busybox "$dir/${path##*/}"
done < <(/bin/busybox --list-full)
# Debian's busybox has no mountpoint applet, and the host's (util-linux) is x86_64: the
# `mountpoint -q DIR` that vm/guest-init.sh uses, as a directory on another device than its
# parent (or the root itself).
cat >"$out/usr/bin/mountpoint" <<'SH'
#!/bin/sh
# mountpoint -q DIR, for the arm64 guest (written by vm/arm64-userspace.sh)
[ "$1" = -q ] && shift
[ -d "$1" ] || exit 1
[ "$(stat -c %d:%i "$1")" = "$(stat -c %d:%i /)" ] && exit 0
[ "$(stat -c %d "$1")" != "$(stat -c %d "$1/..")" ]
SH
chmod 755 "$out/usr/bin/mountpoint"
rm -rf "$out.debs"
touch "$out/.complete"
log "arm64 user space in $out (${versions[*]})"
echo "$out"
