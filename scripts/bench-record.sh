#!/usr/bin/env bash
# Benchmark (a documented command, not a timed test): `cotrace record` against the same
# recording made by hand, for N firings of one event from one thread, each written to both
# tracers (2*N records). Prints a markdown table: records, wall time, records/s, peak RSS, what
# was missing, and the ratio against the hand-made pipeline measured in the same run.
#
#   scripts/bench-record.sh [--quick] [--events N]... [--rounds R] [--out FILE]
#
#   --events N  firings (default 1000000; records = 2 x N); may be given several times
#   --quick     N = 20000 (CI-style smoke: the command cannot rot)
#   --rounds R  R rounds per size, each cotrace record then by hand (default 1); a row per round,
#               then per size the fastest round of each (others' load only adds time)
#   --out FILE  also write the table there (default target/bench/record.md)
#
# The app is the coexist example, driven through a fifo: `init`, wait until both tracers
# enabled cx:tick, `fire N 1 bench`, `quit`.
#   cotrace:  `cotrace record -e 'cx:*' --allow-loss --buffer-kb B -- coexist` (kernel raw ring
#             buffer read live, babeltrace2 child, streaming merge into timeline.txt + kernel.txt)
#   by hand:  `lttng create/enable-channel/enable-event/add-context/start`, `trace-cmd record
#             -C mono -b B -e user_events:cx_tick` (the app fires once tracefs shows tracing_on
#             1 and the event enabled; stopped with SIGINT, as Ctrl-C), then `trace-cmd report
#             -t` and `babeltrace2` into text files.
# Wall time: from starting the app (cotrace: starting `cotrace record`) until both text outputs
# are written. Peak RSS: GNU time's "Maximum resident set size" (the largest single process of
# the tree, not a sum); for cotrace also a /proc VmHWM poll of cotrace itself and of its
# babeltrace2 child, to show them apart. Losses are reported, never hidden: cotrace's `LOST:`
# line, trace-cmd's `[LOST N EVENTS]`, babeltrace2's discarded-events warnings, and "missing"
# = 2N - records found in the output; for the hand-made kernel half also the ring buffer's
# overrun and dropped-events counters that trace-cmd saved (`trace-cmd report --stat`).
# The table file starts with the command, the commit and the host's load (`uptime`) at the
# start and end: the machine may be shared, and under QEMU TCG only the ratios mean much.
# Needs user_events and root: runs in the 6.12 VM (vm/run.sh) unless this kernel has
# user_events and we are root. Every wait is bounded (COTRACE_BENCH_STEP_TIMEOUT seconds per
# step, default scaled with N); a step that times out fails the script with a message.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cmdline=$* sizes=() out=target/bench/record.md rounds=1
while (($#)); do
  case $1 in
    --quick) sizes+=(20000) ;;
    --rounds) rounds=${2:?--rounds needs R}; shift ;;
    --rounds=*) rounds=${1#--rounds=} ;;
    --events) sizes+=("${2:?--events needs N}"); shift ;;
    --events=*) sizes+=("${1#--events=}") ;;
    --out) out=${2:?--out needs FILE}; shift ;;
    *) echo "usage: scripts/bench-record.sh [--quick] [--events N]... [--rounds R] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done
((${#sizes[@]})) || sizes=(1000000)
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench-record: --rounds wants a positive integer, not '$rounds'" >&2; exit 2; }
for n in "${sizes[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "bench-record: --events wants a positive integer, not '$n'" >&2; exit 2; }
done

if [[ ${COTRACE_BENCH_INNER:-} != 1 ]]; then
  command -v /usr/bin/time >/dev/null || { echo "bench-record: GNU time missing: scripts/install-deps.sh" >&2; exit 1; }
  cargo build --release -p cotrace-cli
  cargo build --release -p cotrace --example coexist
  mkdir -p "$(dirname "$out")"
  # The machine is shared: its load goes with the figures (ratios are measured in one run).
  load0=$(uptime)
  # The commit measured (taken now: a commit made while this runs is not what ran).
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
  git diff --quiet HEAD 2>/dev/null || commit+=" + uncommitted changes"
  if [[ -e /sys/kernel/tracing/user_events_data && $(id -u) -eq 0 ]]; then
    # shellcheck disable=SC2016 # $0 and $@ are the inner shell's
    unshare --mount --propagation private -- env COTRACE_BENCH_INNER=1 bash -c \
      'mount -t tmpfs cotrace-run /run && mount -t tmpfs cotrace-shm /dev/shm && exec "$0" "$@"' \
      "$0" "${sizes[@]/#/--events=}" --rounds="$rounds" | tee "$out.log"
  else
    # Under TCG a million firings take minutes per pipeline: the VM's limit grows with N.
    total=0
    for n in "${sizes[@]}"; do total=$((total + n * rounds)); done
    COTRACE_VM_TIMEOUT=${COTRACE_VM_TIMEOUT:-$((600 + total / 200))} \
      COTRACE_VM_MEMORY=${COTRACE_VM_MEMORY:-3G} \
      vm/run.sh env COTRACE_BENCH_INNER=1 bash "$0" "${sizes[@]/#/--events=}" --rounds="$rounds" | tee "$out.log"
  fi
  status=${PIPESTATUS[0]}
  {
    echo "\`scripts/bench-record.sh${cmdline:+ $cmdline}\` at commit $commit"
    echo "host load at start: $load0"
    echo "host load at end:  $(uptime)"
    echo
    tr -d '\r' <"$out.log" | sed -n 's/^@table //p'
  } >"$out"
  ((status == 0)) || { echo "bench-record: failed (status $status); log: $out.log" >&2; exit "$status"; }
  echo "bench-record: table in $out"
  exit 0
fi

# ---- inside the VM (or a private mount namespace) ----
# The log goes to the script's stderr, also from a step whose stderr is redirected to a file.
exec {log_fd}>&2
log() { printf 'bench-record: %s\n' "$*" >&"$log_fd"; }
die() { log "$*"; exit 1; }
# shellcheck source=scripts/lib/private-sessiond.sh
source scripts/lib/private-sessiond.sh
start_private_sessiond || exit 1
cotrace=$PWD/target/release/cotrace
app=$PWD/target/release/examples/coexist
[[ -x $cotrace && -x $app ]] || die "build first: $cotrace, $app"
command -v trace-cmd >/dev/null || die "trace-cmd missing (package trace-cmd): the hand-made kernel half needs it"
command -v babeltrace2 >/dev/null || die "babeltrace2 missing"
work=$(mktemp -d "${TMPDIR:-/tmp}/cotrace-bench.XXXXXX")
trap 'rm -rf "$work"; stop_private_sessiond' EXIT
tracefs=/sys/kernel/tracing
# Kernel and LTTng buffers (KiB per CPU), the same for both pipelines.
buffer_kb=${COTRACE_BENCH_BUFFER_KB:-65536}

rss_kb() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
mib() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f", k / 1024 }'; }
now() { echo "$EPOCHREALTIME"; }
# The polls below (phases, peak RSS, waits) start no process: under TCG a fork and exec costs
# tens of ms of the 2 emulated CPUs, and an RSS poll of `cat`s and `sleep`s every 0.5 s
# (cotrace's run only) took CPU from the pipeline it measured. `nap S` sleeps on a fifo nobody
# writes to; the children and status files are read with `read`.
mkfifo "$work/tick"
exec {tick}<>"$work/tick"
nap() { read -r -t "$1" -u "$tick" _ || true; }
# Whether file $1 has a line starting with $2.
has_line() {
  local l
  while IFS= read -r l || [[ -n $l ]]; do [[ $l == "$2"* ]] && return 0; done 2>/dev/null <"$1"
  return 1
}
# Runs "$@" with the step's time limit; a timeout is a failure that says which step.
# Each step's time is logged (where the hand-made pipeline's time goes).
step() {
  local what=$1; shift
  local rc=0 t=$EPOCHREALTIME
  timeout -k 10 "$step_s" "$@" || rc=$?
  ((rc != 124 && rc != 137)) || die "timed out after ${step_s}s: $what"
  ((rc == 0)) || die "$what failed (status $rc)"
  log "  $what: $(elapsed "$t") s"
}
# Seconds since $1 (an $EPOCHREALTIME), to 0.1 s, without starting a process.
elapsed() {
  local a=${1/./} b=${EPOCHREALTIME/./}
  local ds=$(((10#$b - 10#$a) / 100000))
  echo "$((ds / 10)).$((ds % 10))"
}
# Waits (bounded) for pid $2, a child of this shell; fails with $1 if it outlives the step.
wait_pid() {
  local what=$1 pid=$2 deadline=$((SECONDS + step_s))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || { kill -KILL "$pid" 2>/dev/null; die "timed out after ${step_s}s: $what"; }
    nap 0.2
  done
  wait "$pid"
}
# The child processes of $1 (one level), in the array kids.
children() {
  local f c
  local -a a
  kids=()
  for f in /proc/"$1"/task/*/children; do
    c=''
    { read -r c <"$f"; } 2>/dev/null || true
    read -ra a <<<"$c" || true
    kids+=("${a[@]}")
  done
}
# Polls the peak RSS (VmHWM, KiB) of $1 and its descendants until $1 exits, keeping the largest
# per process name in file $2 ("name kib" lines). VmHWM only grows, so a poll every 0.5 s misses
# at most the growth of a process's last half second.
poll_rss() {
  local root=$1 file=$2
  declare -A peak=()
  local pids p name hwm
  while kill -0 "$root" 2>/dev/null; do
    pids=("$root")
    for ((i = 0; i < ${#pids[@]}; i++)); do
      children "${pids[i]}"
      pids+=("${kids[@]}")
    done
    for p in "${pids[@]}"; do
      name='' hwm=''
      while read -r k v _; do
        case $k in Name:) name=$v ;; VmHWM:) hwm=$v ;; esac
      done 2>/dev/null <"/proc/$p/status" || continue
      [[ -n $name && -n $hwm ]] || continue
      ((hwm > ${peak[$name]:-0})) && peak[$name]=$hwm
    done
    for name in "${!peak[@]}"; do echo "$name ${peak[$name]}"; done >"$file"
    nap 0.5
  done
}

# Notes (in "$2.ok" and "$2.fired") when the app's replies "ok" (both tracers on: firing starts)
# and "fired" (done) first appear in file $1, polling every 0.1 s while process $3 lives: the
# phases of a run (set-up, firing, and stopping plus text output).
mark_phases() {
  local file=$1 stem=$2 pid=$3
  while kill -0 "$pid" 2>/dev/null; do
    [[ -e $stem.ok ]] || { has_line "$file" ok && now >"$stem.ok"; }
    has_line "$file" fired && { now >"$stem.fired"; return 0; }
    nap 0.1
  done
  # The app may say "fired" and exit between two polls (by hand $3 is the app itself).
  [[ -e $stem.ok ]] || { has_line "$file" ok && now >"$stem.ok"; }
  if has_line "$file" fired; then now >"$stem.fired"; fi
}
# "set-up a s, firing b s, after c s" for t0, the mark files with stem $1, and t1.
phases() {
  local ok fired
  ok=$(cat "$1.ok" 2>/dev/null || echo "$2") fired=$(cat "$1.fired" 2>/dev/null || echo "$3")
  awk -v a="$2" -v o="$ok" -v f="$fired" -v b="$3" \
    'BEGIN { printf "set-up %.1f s, firing %.1f s, stop + output %.1f s", o - a, f - o, b - f }'
}

# Each row is printed (as "@table ...") as soon as it is measured: a later size that fails
# does not take the earlier rows with it.
row() {
  local s="|" f
  for f in "$@"; do s+=" $f |"; done
  echo "@table $s"
}
echo "@table | firings N | records found (of 2N) | pipeline | wall s | records/s | peak RSS MiB (largest recorder process; parts) | missing; lost | vs by hand (goal: time <= 1.2x, RSS < 100 MiB) |"
echo "@table | ---: | ---: | --- | ---: | ---: | --- | --- | --- |"
# `trace-cmd --version` exits 255 after printing its version.
tc_version=$({ trace-cmd --version 2>/dev/null || true; } | sed -n 's/^trace-cmd version \([^ ]*\).*/\1/p')
log "trace-cmd $tc_version, $(babeltrace2 --version | head -1), $(lttng --version | head -1)," \
  "buffers ${buffer_kb} KiB/CPU, $(nproc) CPUs"

# One round at size $n: cotrace record, then the same by hand; sets c_row, h_row, c_wall, h_wall,
# tool (cotrace's peak RSS, KiB) and h_rss.
measure() {
  # ---- cotrace record ----
  log "N=$n: cotrace record (step limit ${step_s}s)"
  d=$work/cotrace-$n
  mkfifo "$d.fifo"
  # The driver opens the fifo read-write: that never blocks, so a recorder that dies before
  # starting the app cannot leave the driver (and a `wait` on it) stuck.
  exec {w}<>"$d.fifo"
  t0=$(now)
  /usr/bin/time -v -o "$d.time" timeout -k 10 "$step_s" "$cotrace" record --allow-loss \
    --buffer-kb "$buffer_kb" -e 'cx:*' -o "$d" -- "$app" <"$d.fifo" >"$d.out" 2>"$d.err" &
  rec=$!
  poll_rss "$rec" "$d.rss" &
  poller=$!
  mark_phases "$d.out" "$d.mark" "$rec" &
  printf 'init\nwait 1 1 120000\nfire %s 1 bench\nquit\n' "$n" >&"$w"
  rc=0
  wait_pid "cotrace record" "$rec" || rc=$?
  t1=$(now)
  exec {w}>&-
  wait "$poller" || true
  if ((rc != 0)); then
    cat "$d.err" "$d.out" >&2
    ((rc == 124)) && die "timed out after ${step_s}s: cotrace record (N=$n)"
    die "cotrace record failed (status $rc)"
  fi
  got=$(grep -c 'cx[:_]tick' "$d/timeline.txt" || true)
  if ((got < expected)); then
    # Which firings are missing, per tracer (first gaps): the start, the end, or scattered.
    for tracer in kernel lttng; do
      awk -v t="$tracer" -v n="$n" '$2 == t && match($0, / seq=[0-9]+/) {
          s = substr($0, RSTART + 5, RLENGTH - 5) + 0; seen[s] = 1 }
        END { g = 0; for (i = 0; i < n; i++) if (!(i in seen)) { if (!in_gap) { start = i; in_gap = 1 } }
          else if (in_gap) { if (g++ < 5) printf "  %s: seq %d..%d missing\n", t, start, i - 1; in_gap = 0 }
          if (in_gap && g < 5) printf "  %s: seq %d..%d missing\n", t, start, n - 1 }' "$d/timeline.txt" >&2
    done
  fi
  lost=$(sed -n 's/^LOST: //p' "$d.out")
  own=$(awk '$1 == "cotrace" { print $2 }' "$d.rss" 2>/dev/null)
  # The recorder's peak: cotrace and its helpers (babeltrace2, lttng), not CMD, whose RSS holds
  # the LTTng shared-memory ring buffers it writes into (the app's cost in both pipelines).
  tool=$(awk '$1 != "coexist" && $1 != "time" && $1 != "timeout" && $2 > m { m = $2 } END { print m + 0 }' "$d.rss")
  bt=$(awk '$1 == "babeltrace2" { print $2 }' "$d.rss" 2>/dev/null)
  c_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  c_phases=$(phases "$d.mark" "$t0" "$t1")
  c_rate=$(awk -v r="$got" -v w="$c_wall" 'BEGIN { printf "%.0f", r / w }')
  c_rss=$(rss_kb "$d.time")
  log "cotrace: $got records in ${c_wall}s ($c_phases); peak RSS by process (KiB): $(tr '\n' ' ' <"$d.rss"); summary:"
  sed 's/^/  /' "$d.out" >&2
  grep -v '^$' "$d.err" | sed 's/^/  stderr: /' >&2 || true
  c_row=("$n" "$got" "cotrace record" "$c_wall ($c_phases)" "$c_rate" \
    "$(mib "$tool") (cotrace $(mib "$own"), babeltrace2 $(mib "$bt"); with the app $(mib "$c_rss"))" \
    "$((expected - got))${lost:+; LOST: $lost}")
  rm -rf "$d" "$d".*

  # ---- by hand: lttng + trace-cmd record, then trace-cmd report -t + babeltrace2 ----
  log "N=$n: by hand (lttng, trace-cmd record, trace-cmd report, babeltrace2)"
  d=$work/hand-$n
  mkdir -p "$d"
  mkfifo "$d/fifo"
  exec {w}<>"$d/fifo"
  t0=$(now)
  timeout -k 10 "$step_s" "$app" <"$d/fifo" >"$d/app.out" 2>&1 &
  apppid=$!
  mark_phases "$d/app.out" "$d/mark" "$apppid" &
  echo init >&"$w"
  for _ in $(seq 1200); do [[ -d $tracefs/events/user_events/cx_tick ]] && break; nap 0.05; done
  [[ -d $tracefs/events/user_events/cx_tick ]] || die "the app did not register cx_tick within 60 s"
  step "lttng create" lttng create hand --output="$d/lttng" >/dev/null
  step "lttng enable-channel" lttng enable-channel -u -s hand c --subbuf-size=$((buffer_kb / 8))K --num-subbuf=8 >/dev/null
  step "lttng enable-event" lttng enable-event -u -s hand -c c 'cx:*' >/dev/null
  step "lttng add-context" lttng add-context -u -s hand -c c -t vpid -t vtid >/dev/null
  step "lttng start" lttng start hand >/dev/null
  # trace-cmd record first turns tracing off (tracing_on 0), enables the event (the kernel sets
  # the app's bit: firing now would be lost), resizes the buffers (which empties them), starts
  # its per-CPU readers, and only then writes 1 to tracing_on and prints "Hit Ctrl^C to stop
  # recording". So: turn tracing_on off ourselves first, and fire only once it is 1 again and
  # the event is enabled (tracefs, observable), bounded. stdbuf -oL makes the "Hit Ctrl^C" line
  # reach record.out when printed (trace-cmd's stdout is a file: block-buffered otherwise); it
  # is logged, not waited for. No -P: only the app registers cx_tick, and trace-cmd's pid
  # filter would add set_event_pid's sched probes (see the README's Scope).
  echo 0 >"$tracefs/tracing_on"
  /usr/bin/time -v -o "$d/record.time" timeout -k 10 "$step_s" stdbuf -oL trace-cmd record -C mono \
    -b "$buffer_kb" -e user_events:cx_tick -o "$d/trace.dat" >"$d/record.out" 2>&1 &
  recpid=$!
  ready=0
  for _ in $(seq 1200); do
    if [[ $(<"$tracefs/tracing_on") == 1 && $(<"$tracefs/events/user_events/cx_tick/enable") == 1 ]]; then
      ready=1
      break
    fi
    kill -0 "$recpid" 2>/dev/null || break
    nap 0.05
  done
  ((ready)) || die "trace-cmd record did not start recording within 60 s (tracing_on" \
    "$(<"$tracefs/tracing_on"), cx_tick enable $(<"$tracefs/events/user_events/cx_tick/enable")):" \
    "$(cat "$d/record.out")"
  log "trace-cmd record: tracing_on 1 and cx_tick enabled; its output so far: $(tr '\n' ' ' <"$d/record.out")"
  printf 'wait 1 1 120000\nfire %s 1 bench\nquit\n' "$n" >&"$w"
  wait_pid "the app (by hand)" "$apppid" || die "the app failed: $(cat "$d/app.out")"
  exec {w}>&-
  grep -q '^ok' "$d/app.out" || die "the app never saw both tracers enabled: $(cat "$d/app.out")"
  # Stop trace-cmd with SIGINT, as a user would with Ctrl-C. The signal must go to trace-cmd
  # itself: GNU time (and `timeout` in the background) ignore or do not pass SIGINT on, which
  # is what hung the first draft of this script (`kill -INT` of time's pid, then `wait`).
  children "$recpid" # time -> timeout -> trace-cmd
  children "${kids[0]:-0}"
  tc=${kids[*]}
  [[ -n $tc ]] || die "trace-cmd record is not running: $(cat "$d/record.out" "$d/record.time"; ps -ef)"
  for p in $tc; do [[ $(cat /proc/"$p"/comm 2>/dev/null) == trace-cmd ]] && kill -INT "$p"; done
  rc=0 t=$EPOCHREALTIME
  wait_pid "trace-cmd record to stop after SIGINT" "$recpid" || rc=$?
  log "  trace-cmd record stopping after SIGINT: $(elapsed "$t") s"
  if ((rc != 0)); then
    # Seen once: trace-cmd wrote trace.dat, then its clean-up failed to reset
    # events/user_events/filter, gone with the app's event once trace-cmd disabled it (a race):
    # the recording is whole, and `trace-cmd report` below counts what it holds.
    if ! grep -q 'events/user_events/filter' "$d/record.out" || [[ ! -s $d/trace.dat ]]; then
      die "trace-cmd record failed (status $rc): $(cat "$d/record.out")"
    fi
    log "trace-cmd record exited with status $rc after writing trace.dat (its clean-up found" \
      "events/user_events/filter gone with the app's event): counted as usual"
  fi
  echo 1 >"$tracefs/tracing_on" # trace-cmd restored our 0
  step "lttng stop" lttng stop hand >/dev/null
  step "lttng destroy" lttng destroy hand >/dev/null
  step "trace-cmd report" /usr/bin/time -v -o "$d/report.time" trace-cmd report -t -i "$d/trace.dat" \
    >"$d/kernel.txt" 2>"$d/report.err"
  step "babeltrace2" /usr/bin/time -v -o "$d/bt.time" babeltrace2 "$d/lttng" >"$d/lttng.txt" 2>"$d/bt.err"
  t1=$(now)
  k=$(grep -c 'cx_tick:' "$d/kernel.txt" || true)
  u=$(grep -c 'cx:tick:' "$d/lttng.txt" || true)
  got=$((k + u))
  klost=$(awk '{ while (match($0, /LOST [0-9]+ EVENTS/)) { split(substr($0, RSTART, RLENGTH), f, " ");
    s += f[2]; $0 = substr($0, RSTART + RLENGTH) } } END { print s + 0 }' "$d/kernel.txt")
  # The kernel's ring-buffer counters per CPU, which trace-cmd record saves in trace.dat
  # (`trace-cmd report --stat`): records overwritten (overrun) or refused (dropped events).
  trace-cmd report --stat -i "$d/trace.dat" >"$d/stat.txt" 2>&1 || true
  kover=$(awk '/^ *(overrun|dropped events):/ { s += $NF } END { print s + 0 }' "$d/stat.txt")
  ulost=$(awk 'tolower($0) ~ /discarded [0-9]+ event/ { match(tolower($0), /discarded [0-9]+/);
    split(substr($0, RSTART, RLENGTH), f, " "); s += f[2] } END { print s + 0 }' "$d/bt.err")
  h_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  h_phases=$(phases "$d/mark" "$t0" "$t1")
  h_rate=$(awk -v r="$got" -v w="$h_wall" 'BEGIN { printf "%.0f", r / w }')
  peaks=""
  h_rss=0
  for f in record report bt; do
    v=$(rss_kb "$d/$f.time")
    if ((v > h_rss)); then h_rss=$v; fi
    peaks+="${peaks:+, }$(case $f in record) echo trace-cmd record ;; report) echo trace-cmd report ;; bt) echo babeltrace2 ;; esac) $(mib "$v")"
  done
  { echo "trace-cmd report head:"; head -3 "$d/kernel.txt"; cat "$d/report.err"; grep -E '^ *(CPU|overrun|dropped)' "$d/stat.txt"; } |
    sed 's/^/  /' >&2
  log "by hand: kernel $k + lttng $u records in ${h_wall}s ($h_phases); kernel LOST $klost (overrun + dropped $kover), lttng discarded $ulost"
  grep -v '^$' "$d/record.out" | tail -5 | sed 's/^/  trace-cmd record: /' >&2 || true
  h_row=("$n" "$got" "by hand" "$h_wall ($h_phases)" "$h_rate" "$(mib "$h_rss") ($peaks)" \
    "$((expected - got)); trace-cmd LOST $klost, overrun+dropped $kover, babeltrace2 discarded $ulost")
  rm -rf "$d"

}

best_rows=()
for n in "${sizes[@]}"; do
  expected=$((2 * n))
  step_s=${COTRACE_BENCH_STEP_TIMEOUT:-$((300 + n / 200))}
  c_best='' h_best='' c_walls='' h_walls='' c_rss_max=0 h_rss_max=0
  for ((round = 1; round <= rounds; round++)); do
    log "N=$n: round $round of $rounds"
    measure
    ratio_t=$(awk -v h="$h_wall" -v c="$c_wall" 'BEGIN { printf "%.2f", c / h }')
    ratio_m=$(awk -v h="$h_rss" -v c="$tool" 'BEGIN { printf "%.2f", c / h }')
    c_row[0]="$n (round $round)" h_row[0]="$n (round $round)"
    row "${c_row[@]}" "time ${ratio_t}x, RSS ${ratio_m}x of by hand"
    row "${h_row[@]}" "1"
    c_walls+="${c_walls:+, }$c_wall" h_walls+="${h_walls:+, }$h_wall"
    if [[ -z $c_best ]] || awk -v a="$c_wall" -v b="$c_best" 'BEGIN { exit !(a < b) }'; then c_best=$c_wall; fi
    if [[ -z $h_best ]] || awk -v a="$h_wall" -v b="$h_best" 'BEGIN { exit !(a < b) }'; then h_best=$h_wall; fi
    if ((tool > c_rss_max)); then c_rss_max=$tool; fi
    if ((h_rss > h_rss_max)); then h_rss_max=$h_rss; fi
  done
  if ((rounds > 1)); then
    # Others' load only adds time: the fastest round of each pipeline is the fairer figure.
    ratio=$(awk -v h="$h_best" -v c="$c_best" 'BEGIN { printf "%.2f", c / h }')
    best_rows+=("| $n | fastest of $rounds rounds: cotrace record $c_best s ($c_walls), by hand $h_best s ($h_walls) | ${ratio}x | $(mib "$c_rss_max") MiB vs $(mib "$h_rss_max") MiB |")
  fi
done
if ((${#best_rows[@]})); then
  echo "@table "
  echo "@table | firings N | wall time over the rounds | cotrace / by hand (goal <= 1.2x) | largest peak RSS, cotrace's tree vs by hand (goal < 100 MiB) |"
  echo "@table | ---: | --- | ---: | --- |"
  printf '@table %s\n' "${best_rows[@]}"
fi

