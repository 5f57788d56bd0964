#!/usr/bin/env bash
# Checks that the loom model can fail: copies cotrace-word to a temporary directory, replaces
# `release_users`'s compare-and-swap (the release of every guard and share) with a racy
# load-then-store (the bug the model exists to catch), runs the loom tests there, and succeeds
# only if they FAIL.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$here/src" "$here/tests" "$tmp/"
cat >"$tmp/Cargo.toml" <<'TOML'
[package]
name = "cotrace-word"
version = "0.1.0"
edition = "2024"
[features]
kernel-emulation = []
[target.'cfg(loom)'.dependencies]
loom = "0.7"
[workspace]
TOML
python3 - "$tmp/src/word.rs" <<'PY'
import sys
path = sys.argv[1]
src = open(path).read()
old = """        self.update_users(|users| users.checked_sub(n))"""
new = """        // MUTANT: load, compute, plain store: loses concurrent updates.
        let current = self.bits.load(Ordering::Relaxed);
        let users = (current & USER_MASK).checked_sub(n)?;
        self.bits.store((current & SHARED_MASK) | users, Ordering::Relaxed);
        Some(users)"""
assert src.count(old) == 1, "release_users changed: update loom-mutant.sh"
open(path, "w").write(src.replace(old, new))
PY
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/../target/loom-mutant}
if RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test --manifest-path "$tmp/Cargo.toml" \
    --release --test loom >"$tmp/out.log" 2>&1; then
  cat "$tmp/out.log"
  echo "loom-mutant: FAIL: the loom model passed with a racy release_users"
  exit 1
fi
grep -E 'panicked|assertion' "$tmp/out.log" | head -n 3
echo "loom-mutant: ok: the loom model caught the racy load-then-store release"
