#!/usr/bin/env bash
# The demo's inside part (run by scripts/demo.sh, in a kernel that has user_events): traces one
# run of the shop example with LTTng-UST and with ftrace at the same time, prints what each
# tracer recorded and one summary line per tracer. Exits non-zero if a tracer missed events.
#
#   scripts/demo-guest.sh APP [REQUESTS]
set -euo pipefail
app=$1
requests=${2:-10}
tracefs=/sys/kernel/tracing
work=$(mktemp -d /tmp/cotrace-demo.XXXXXX)
say() { printf '\n== %s\n' "$*"; }

[[ -e $tracefs/user_events_data ]] || { echo "demo: this kernel has no user_events" >&2; exit 1; }

say "starting lttng-sessiond (user space only) and an LTTng session for 'shop:*'"
export LTTNG_HOME=$work/lttng-home
mkdir -p "$LTTNG_HOME"
lttng-sessiond --daemonize --no-kernel
lttng create demo --output="$work/lttng-trace" >/dev/null
lttng enable-event --userspace 'shop:*' >/dev/null
lttng start >/dev/null
echo > "$tracefs/trace"

say "starting the app: $app --requests $requests (it waits until both tracers enable its events)"
"$app" --requests "$requests" --wait-enabled 60 --hold "$work/hold" >"$work/app.log" 2>&1 &
app_pid=$!

say "enabling its events in ftrace as they appear in $tracefs/events/user_events/"
expected_events=(request_start request_done cache_miss job_done)
for ev in "${expected_events[@]}"; do
  for _ in $(seq 300); do [[ -e $tracefs/events/user_events/shop_$ev/enable ]] && break; sleep 0.1; done
  echo 1 >"$tracefs/events/user_events/shop_$ev/enable"
  echo "   echo 1 > events/user_events/shop_$ev/enable"
done

for _ in $(seq 1200); do
  grep -q '^shop: done' "$work/app.log" && break
  kill -0 "$app_pid" 2>/dev/null || break
  sleep 0.1
done
cp "$tracefs/trace" "$work/ftrace.txt"
for ev in "${expected_events[@]}"; do echo 0 >"$tracefs/events/user_events/shop_$ev/enable" || true; done
touch "$work/hold"
wait "$app_pid" || { echo "demo: the app failed:"; cat "$work/app.log"; exit 1; }
lttng stop >/dev/null
lttng destroy >/dev/null
babeltrace2 "$work/lttng-trace" >"$work/lttng.txt"

say "the app's output"
cat "$work/app.log"

say "LTTng-UST recorded (babeltrace2 $work/lttng-trace), first 12 of $(wc -l <"$work/lttng.txt") lines:"
head -n 12 "$work/lttng.txt"
say "the kernel recorded (ftrace: $tracefs/trace), first 12 of $(grep -c ': shop_' "$work/ftrace.txt" || true) events:"
grep -m 12 ': shop_' "$work/ftrace.txt" || true

say "summary"
ok=1
summary() { # tracer file pattern-prefix
  local tracer=$1 file=$2 sep=$3 seen_total=0 want_total=0 detail=""
  for ev in "${expected_events[@]}"; do
    want=$(awk -v e="$ev" '$1 == "expected" && $2 == e {print $3}' "$work/app.log")
    seen=$(grep -c " shop${sep}${ev}: " "$file" || true)
    seen_total=$((seen_total + seen)); want_total=$((want_total + ${want:-0}))
    detail+=" $ev $seen/${want:-?}"
    [[ $seen == "${want:-x}" ]] || ok=0
  done
  printf '%-7s %4d events seen, %4d expected  (%s )\n' "$tracer:" "$seen_total" "$want_total" "$detail"
}
summary LTTng "$work/lttng.txt" ":"
summary kernel "$work/ftrace.txt" "_"
if ((ok)); then
  echo "demo: both tracers recorded every event the app fired"
else
  echo "demo: MISMATCH between fired and recorded events (files in $work)"
  exit 1
fi
