#!/usr/bin/env bash
# The VM step of scripts/bench.sh (or native, where the host kernel has user_events): in one
# boot, with a private lttng-sessiond, runs the kernel write bench (row 3), the facade bench
# with LTTng only / kernel only / both (row 4), cotrace::init() with both tracers present
# (row 7) and, when given, the registration bench (row 6) and the kernel scaling (row 5). Every bench prints `@result` lines,
# which scripts/bench.sh collects from this script's output.
#
#   scripts/lib/bench-guest.sh WRITE_BIN FACADE_BIN SIZE_COTRACE_BIN [REGISTRATION_BIN C_PROVIDER_SO
#                              [SCALING_BIN]]
#
# COTRACE_BENCH_ITERS / COTRACE_BENCH_ROUNDS (set by bench.sh --quick) reach the benches.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
write_bin=$1 facade_bin=$2 size_bin=$3 reg_bin=${4-} reg_so=${5-} scale_bin=${6-}
log() { printf 'bench-guest: %s\n' "$*" >&2; }

[[ -e /sys/kernel/tracing/user_events_data ]] || { log "this kernel has no user_events"; exit 1; }
# shellcheck source=private-sessiond.sh
source scripts/lib/private-sessiond.sh
start_private_sessiond || exit 1
echo "@result guest.kernel $(uname -r)"
echo "@result guest.cpus $(nproc)"

log "row 3: kernel enabled write (cotrace vs raw writev vs tracepoint crate)"
: >/sys/kernel/tracing/trace
COTRACE_REQUIRE_USER_EVENTS=1 "$write_bin"

log "row 4: facade with LTTng only, kernel only, both"
"$facade_bin"

if command -v valgrind >/dev/null; then
  # User-space instructions (callgrind, exact even under TCG; the kernel's share of each write
  # is not counted): the facade's loop against the direct calls and the C peers over the three
  # enabled rows,
  # and Registration::write against the raw writev and the tracepoint crate.
  log "rows 3, 4: user-space instructions under callgrind"
  cg=$(mktemp -d)
  # One dump per tracer state (a dump before each `switch`): with one round, parts 3, 4 and 5
  # are LTTng only, kernel only and both, each 500/10+1 warm-up + 500 timed calls per loop.
  COTRACE_BENCH_ITERS=500 COTRACE_BENCH_ROUNDS=1 valgrind --tool=callgrind \
    --dump-before='*facade_enabled::switch*' \
    --callgrind-out-file="$cg/facade.out" "$facade_bin" >"$cg/facade.log" 2>&1 ||
    { tail -20 "$cg/facade.log" >&2; exit 1; }
  for part in 3:lttng 4:kernel 5:both; do
    callgrind_annotate --inclusive=yes "$cg/facade.out.${part%%:*}" 2>/dev/null | awk -v s="${part#*:}" '
      /facade_enabled::facade_loop/ { gsub(",", "", $1); f = $1 }
      /facade_enabled::direct_loop/ { gsub(",", "", $1); d = $1 }
      /bench_c_pair_loop/ { gsub(",", "", $1); p = $1 }
      END { if (f && d) printf "@result cg.facade.%s %.1f\n@result cg.direct.%s %.1f\n", s, f / 551, s, d / 551
            if (p) printf "@result cg.peers.%s %.1f\n", s, p / 551 }'
  done
  # Empty the trace first: records of an event that died with its process are decoded with
  # the format of whichever later event got its id (seen: the facade's first record shown as
  # the write bench's event), and the write bench checks the first record of its events.
  : >/sys/kernel/tracing/trace
  COTRACE_BENCH_ITERS=2000 COTRACE_BENCH_ROUNDS=1 COTRACE_REQUIRE_USER_EVENTS=1 valgrind \
    --tool=callgrind --callgrind-out-file="$cg/write.out" "$write_bin" >"$cg/write.log" 2>&1 ||
    { tail -20 "$cg/write.log" >&2; exit 1; }
  # Calls per variant: 1 check write + 1000 warm-up + 2000 timed.
  callgrind_annotate --inclusive=yes "$cg/write.out" 2>/dev/null | awk '
    /write::write_cotrace/ { gsub(",", "", $1); printf "@result cg.kernel.cotrace %.1f\n", $1 / 3001 }
    /write::write_dynamic_checked/ { gsub(",", "", $1); printf "@result cg.kernel.checked %.1f\n", $1 / 3001 }
    /write::Raw::write_packed/ { gsub(",", "", $1); printf "@result cg.kernel.raw2 %.1f\n", $1 / 3001 }
    /write::write_tracepoint/ { gsub(",", "", $1); printf "@result cg.kernel.tracepoint %.1f\n", $1 / 3001 }'
  rm -rf "$cg"
fi

log "row 7: cotrace::init() with both tracers present (median of 5 runs)"
samples=()
for _ in 1 2 3 4 5; do
  samples+=("$(COTRACE_SIZE_INIT=1 "$size_bin" | sed -n 's/^init_ns //p')")
done
printf '%s\n' "${samples[@]}" | sort -n | sed -n 3p | sed 's/^/@result init.vm_ns /'
COTRACE_SIZE_INIT=1 "$size_bin" | sed -n 's/^tracers \(.*\) \(.*\)/@result init.vm_tracers \1,\2/p'

if [[ -n $reg_bin ]]; then
  log "row 6: registration of many events"
  "$reg_bin" --c-provider "$reg_so"
fi

if [[ -n $scale_bin ]]; then
  log "row 5: 1, 2, 4 threads firing one event with the kernel on"
  COTRACE_BENCH_ITERS=${COTRACE_BENCH_ITERS:-20000} "$scale_bin" kernel
fi
