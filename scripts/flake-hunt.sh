#!/usr/bin/env bash
# Hunts flaky tests: reruns the LTTng step and the VM steps of ./scripts/test.sh N times and
# prints every failure with its message, then a tally.
#
#   scripts/flake-hunt.sh N [--load] [--steps lttng,kernel,facade]
#
#   N        how many runs of each step
#   --load   one busy loop per core (nproc) for the whole hunt, as on a loaded CI machine
#   --steps  which steps to rerun (default all three, in this order):
#              lttng   scripts/test-lttng.sh  (cotrace-lttng-sys, cotrace-ust; real lttng-sessiond)
#              kernel  scripts/test-kernel.sh (cotrace-kernel in the user_events kernel)
#              facade  scripts/test-facade.sh (the facade's tests in that kernel; its soak lasts
#                      COTRACE_SOAK_SECS, default 60)
#
# Each step's output goes to target/flake-hunt/run-I-STEP.log (kept); a failed step's failing
# tests and their messages are printed as they happen. Exits non-zero if any step failed once.
# A run of all three steps takes several minutes (most of it under QEMU TCG).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
  echo "usage: scripts/flake-hunt.sh N [--load] [--steps lttng,kernel,facade]" >&2
  exit 2
}
(($# >= 1)) && [[ $1 =~ ^[1-9][0-9]*$ ]] || usage
runs=$1
shift
load=0
steps=(lttng kernel facade)
while (($#)); do
  case $1 in
    --load) load=1 ;;
    --steps)
      (($# >= 2)) || usage
      IFS=, read -r -a steps <<<"$2"
      shift
      ;;
    *) usage ;;
  esac
  shift
done
for s in "${steps[@]}"; do
  [[ $s == lttng || $s == kernel || $s == facade ]] || usage
done

script_of() {
  case $1 in
    lttng) echo scripts/test-lttng.sh ;;
    kernel) echo scripts/test-kernel.sh ;;
    facade) echo scripts/test-facade.sh ;;
  esac
}

logs=target/flake-hunt
mkdir -p "$logs"
tally=$(mktemp "${TMPDIR:-/tmp}/cotrace-flake-tally.XXXXXX")

loaders=()
stop_load() {
  for pid in "${loaders[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  loaders=()
}
trap 'stop_load; rm -f "$tally" "$tally.tests"' EXIT
if ((load)); then
  for ((c = 0; c < $(nproc); c++)); do
    (while :; do :; done) &
    loaders+=($!)
  done
  echo "flake-hunt: ${#loaders[@]} busy loops running (pids ${loaders[*]})"
fi

# Prints the failures in a step's log: each failed test's name, each panic's message (a few
# lines), each failed matrix cell, and what vm/run.sh said if the guest itself failed.
failures_in() {
  awk '
    /^test .* \.\.\. FAILED$/ { print "  " $0; next }
    /^cell .*: FAIL/ { print "  " $0; next }
    /panicked at/ { left = 6; print "  " $0; next }
    left > 0 {
      if ($0 == "" || $0 ~ /^note: run with/ || $0 ~ /^stack backtrace:/) { left = 0; next }
      print "    " substr($0, 1, 400); left--; next
    }
    /^vm\/run.sh: / || /^test-kernel: FAILED/ || /^test-facade.sh: FAILED/ || /did not exit within/ { print "  " $0 }
  ' "$1" | head -n 120
}

# The names of the failed tests in a step's log, one per line (the step itself if none is
# named: a build error, the VM not booting, ...).
failed_tests_in() {
  local names
  names=$(sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p; s/^cell \(.*\): FAIL.*/matrix cell \1/p' "$1" | sort -u)
  if [[ -n $names ]]; then echo "$names"; else echo "(step failed, no test named)"; fi
}

hunt_start=$(date +%s)
for ((i = 1; i <= runs; i++)); do
  for s in "${steps[@]}"; do
    log=$logs/run-$i-$s.log
    t0=$(date +%s)
    printf 'flake-hunt: run %d/%d %-6s ... ' "$i" "$runs" "$s"
    if "$(script_of "$s")" >"$log" 2>&1; then
      echo "ok ($(($(date +%s) - t0)) s)"
      echo "$s pass" >>"$tally"
    else
      echo "FAILED ($(($(date +%s) - t0)) s; log $log)"
      failures_in "$log"
      echo "$s fail" >>"$tally"
      failed_tests_in "$log" | sed "s/^/$s: /" >>"$tally.tests"
    fi
  done
done
stop_load

echo
echo "flake-hunt: $runs run(s) of ${steps[*]}$( ((load)) && echo ' under a busy loop per core'), $(($(date +%s) - hunt_start)) s"
failed=0
for s in "${steps[@]}"; do
  pass=$(grep -c "^$s pass$" "$tally" || true)
  fail=$(grep -c "^$s fail$" "$tally" || true)
  printf '  %-6s %d passed, %d failed\n' "$s" "$pass" "$fail"
  ((fail == 0)) || failed=1
done
if [[ -s $tally.tests ]]; then
  echo "failures (how many runs):"
  sort "$tally.tests" | uniq -c | sed 's/^/  /'
fi
rm -f "$tally.tests"
exit "$failed"
