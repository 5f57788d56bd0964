#!/bin/sh
# PID 1 of the arm64 guest (vm/run.sh with COTRACE_VM_TARGET=arm64-4k|arm64-64k), run by the
# arm64 busybox of vm/arm64-userspace.sh: the kernel starts `<userspace>/usr/bin/busybox sh
# THIS` and passes `cotrace_userspace=<userspace>` from its command line in the environment.
# The root is the host's x86_64 / (read-only 9p); this lays the arm64 user space's usr/bin,
# usr/sbin and usr/lib over the host's (read-only overlays, no upper layer), so /bin/bash, the
# loader /lib/ld-linux-aarch64.so.1 and /usr/lib/aarch64-linux-gnu are arm64 as on an arm64
# Debian, then hands over to vm/guest-init.sh, the same init as the x86_64 guest's.
# shellcheck disable=SC2154 # set by the kernel from its command line
us=$cotrace_userspace
bb=$us/usr/bin/busybox
fail() {
  echo "guest-init-arm64: $*" >/dev/console
  $bb poweroff -f
}
if [ -z "$us" ] || [ ! -x "$bb" ]; then
  echo "guest-init-arm64: no arm64 user space (cotrace_userspace='$us')" >/dev/console
  exit 1 # PID 1 exiting: the kernel panics, and panic=-1 ends QEMU at once
fi
for d in bin sbin lib; do
  $bb mount -t overlay overlay -o "lowerdir=$us/usr/$d:/usr/$d" "/usr/$d" ||
    fail "overlay of $us/usr/$d on /usr/$d failed"
done
# The kernel has no RTC_HCTOSYS (allnoconfig), so the clock would start in 1970, and LTTng then
# writes a negative clock offset that babeltrace2 refuses: take the host's time, passed by
# vm/run.sh as cotrace_time=<unix seconds> (a few seconds behind after the boot).
# shellcheck disable=SC2154 # set by the kernel from its command line
[ -n "$cotrace_time" ] && $bb date -s "@$cotrace_time" >/dev/null
exec /bin/bash "${0%/*}/guest-init.sh"
