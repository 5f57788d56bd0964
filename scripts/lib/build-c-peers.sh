#!/usr/bin/env bash
# Builds the C peers of the LTTng and facade benches (ust-side/benches/c/bench_tp.c: a C
# lttng_ust_tracepoint and the same event written to user_events by hand) on the host, into
# target/bench/bench_c.so, and prints its absolute path. The benches take it from
# COTRACE_BENCH_C_PROVIDER: compiled in the VM under TCG it would take a long time.
#
#   export COTRACE_BENCH_C_PROVIDER=$(scripts/lib/build-c-peers.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
mkdir -p target/bench
out=$PWD/target/bench/bench_c.so
"${CC:-cc}" -O2 -fPIC -shared -I ust-side/benches/c ust-side/benches/c/bench_tp.c -o "$out" \
  -llttng-ust -ldl
echo "$out"
