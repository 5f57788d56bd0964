#!/usr/bin/env bash
# Runs the LTTng suites (scripts/test-lttng.sh: the bindings check and the cargo tests of
# cotrace-lttng-sys and cotrace-ust, each with its own private lttng-sessiond) against an
# LTTng built from the upstream sources by scripts/build-lttng.sh, instead of the system's:
# its lttng-sessiond, lttng and liblttng-ust.so.1 come first in PATH and LD_LIBRARY_PATH (the
# application's dlopen of liblttng-ust.so.1 finds that version; from 2.15 a session daemon
# refuses an application with an older liblttng-ust, LTTNG_UST_ABI_MAJOR_VERSION 11).
#
#   scripts/test-lttng-version.sh 2.15.1              build (cached) and test
#   scripts/test-lttng-version.sh 2.15.1 -- FILTER    pass FILTER to the test binaries
#   scripts/test-lttng-version.sh 2.15.1 --env CMD... run CMD with that LTTng (e.g. the demo)
#
# The session daemons write CTF 1.8 (LTTNG_SESSIOND_DEFAULT_TRACE_FORMAT=ctf-1.8): 2.15 writes
# CTF 2 by default, which Debian 12's babeltrace2 2.0 cannot read. A last line
#   | VERSION | bindings check, layout check, cargo tests of cotrace-lttng-sys and cotrace-ust | RESULT |
# is the row of the README's compatibility table (RESULT also says what bindings/check.sh found
# against that version's headers and what bindings/tests/layout.rs compared, and the date and
# duration); it is also appended to target/lttng-compat.md. A layout difference fails the run
# (it is one of the suite's tests); a bindings difference alone does not (the README lists the
# differences and why they do not matter).
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:?usage: test-lttng-version.sh VERSION [-- FILTER | --env CMD...]}
shift
prefix=$(scripts/build-lttng.sh "$version")
export PATH=$prefix/bin:$PATH
export LD_LIBRARY_PATH=$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LTTNG_SESSIOND_DEFAULT_TRACE_FORMAT=ctf-1.8
export LTTNG_UST_PREFIX=$prefix
echo "test-lttng-version: $(lttng --version | head -n1) from $prefix"

if [[ ${1:-} == --env ]]; then
  shift
  exec "$@"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
set +e
scripts/test-lttng.sh --no-fail-fast "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# libtest's summary lines: "test result: ok. 12 passed; 0 failed; ..."
read -r passed failed < <(awk '/^test result:/ {p += $4; f += $6} END {print p+0, f+0}' "$log")
failing=$(sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$log" | sort -u | paste -sd, - | sed 's/,/, /g')
result="$passed passed, $failed failed${failing:+ ($failing)}"
if ((rc != 0 && failed == 0)); then result="$result; exit status $rc (see the log)"; fi
# What bindings/check.sh said (scripts/test-lttng.sh runs it first).
if grep -q '^regen: src/generated.rs is up to date' "$log"; then
  bindings="bindings identical to what bindgen generates from its headers"
elif grep -q '^test-lttng: bindings differ' "$log"; then
  bindings="bindings differ from what its headers generate ($(grep -c '^[-+][^-+]' "$log") diff lines; README lists them)"
else
  bindings="bindings check: $(grep -m1 '^bindings check: ' "$log" | sed 's/^bindings check: //' || echo 'no result')"
fi
# What bindings/tests/layout.rs compared ("LAYOUT N items against LTTng-UST V headers (DIR): R").
layout=$(sed -n 's/^.*LAYOUT \([0-9]*\) items against LTTng-UST \([^ ]*\) headers .*: \(.*\)$/layout check: \1 items vs \2 headers, \3/p' "$log" | head -n1)
result="$result; $bindings; ${layout:-layout check: no result (see the log)} ($(date -u +%F), $(($(date +%s) - start)) s)"
row="| $version | \`scripts/test-lttng-version.sh $version\`: bindings check, layout check, cargo tests of cotrace-lttng-sys and cotrace-ust | $result |"
mkdir -p target && echo "$row" >> target/lttng-compat.md
echo "$row"
exit "$rc"
