#!/bin/bash
# PID 1 of the test VM (see vm/run.sh): mounts what a normal system has, makes the read-only 9p
# root writable where programs expect it, runs the job vm/run.sh left on the share, writes its
# exit status back to the share and powers off. Never exits (PID 1 exiting panics the kernel).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
bb=/bin/busybox
console=/dev/${cotrace_console:-ttyS0}

fail() {
  echo "guest-init: $*" >&2
  $bb poweroff -f
}

mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm 2>/dev/null
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tracefs tracefs /sys/kernel/tracing || echo "guest-init: tracefs mount failed" >&2
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true

# Writable layers over the read-only root where programs write.
for dir in /tmp /var /root /home /etc; do
  [[ -d $dir ]] || continue
  layer=/run/overlay$dir
  mkdir -p "$layer/upper" "$layer/work"
  mount -t overlay overlay -o "lowerdir=$dir,upperdir=$layer/upper,workdir=$layer/work" "$dir" ||
    echo "guest-init: overlay on $dir failed" >&2
done
chmod 1777 /tmp

mkdir -p /run/cotrace-share
mount -t 9p -o trans=virtio,version=9p2000.L cotrace_share /run/cotrace-share ||
  fail "cannot mount the job share"
[[ -f /run/cotrace-share/job.sh ]] || fail "no job.sh on the share"

stty -F "$console" -onlcr 2>/dev/null
hostname cotrace-vm 2>/dev/null
ip link set lo up 2>/dev/null || $bb ip link set lo up 2>/dev/null

/bin/bash /run/cotrace-share/job.sh </dev/null >"$console" 2>&1
status=$?
sync
echo "$status" >/run/cotrace-share/status.tmp && mv /run/cotrace-share/status.tmp /run/cotrace-share/status
sync
echo "guest-init: command exited with status $status" >"$console"
$bb poweroff -f
sleep 5
