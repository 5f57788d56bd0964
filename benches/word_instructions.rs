//! Instruction count of the disabled hot-path check, `EnableWord::is_enabled`, measured with
//! `valgrind --tool=callgrind` (instruction counts are repeatable, unlike time on these
//! machines).
//!
//! Run with `cargo bench --bench word_instructions`. The bench re-runs its own executable
//! under callgrind, collecting only inside one loop function each time: an empty loop (the
//! baseline), the same loop with a disabled `EnableWord::is_enabled` check, and the same loop
//! with a disabled `cotrace::fire!` call site of a three-field event. It prints the extra
//! instructions per iteration: the cost an instrumented but disabled event adds.

use std::hint::black_box;
use std::process::Command;

use cotrace::EnableWord;

static WORD: EnableWord = EnableWord::new();

cotrace::provider! {
    /// The benchmark's event.
    pub mod bench {
        /// One loop iteration.
        fn tick(i: u64, label: &str, ok: bool);
    }
}
const ITERATIONS: u64 = 1_000_000;

#[inline(never)]
fn loop_baseline(n: u64) {
    for i in 0..n {
        black_box(i);
    }
}

#[inline(never)]
fn loop_disabled_check(word: &'static EnableWord, n: u64) {
    for i in 0..n {
        if word.is_enabled() {
            fire(i);
        }
        black_box(i);
    }
}

#[inline(never)]
fn loop_disabled_fire(n: u64) {
    for i in 0..n {
        cotrace::fire!(bench::tick(i, "label", i % 2 == 0));
        black_box(i);
    }
}

#[cold]
#[inline(never)]
fn fire(i: u64) {
    black_box(i * 3);
}

/// Runs this executable under callgrind, collecting only inside `function`; returns the
/// instructions executed there.
fn instructions_in(function: &str, mode: &str) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out_file = std::env::temp_dir().join(format!("cotrace-callgrind-{mode}.out"));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect=*{function}*"))
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(&exe)
        .env("COTRACE_BENCH_MODE", mode)
        .output()
        .map_err(|e| format!("cannot run valgrind ({e}); install it (apt-get install valgrind)"))?;
    let _ = std::fs::remove_file(&out_file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("valgrind failed: {stderr}"));
    }
    stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no 'Collected :' line in callgrind's output: {stderr}"))
}

fn main() {
    match std::env::var("COTRACE_BENCH_MODE").as_deref() {
        Ok("baseline") => return loop_baseline(black_box(ITERATIONS)),
        Ok("check") => return loop_disabled_check(black_box(&WORD), black_box(ITERATIONS)),
        Ok("fire") => return loop_disabled_fire(black_box(ITERATIONS)),
        _ => {}
    }
    // `cargo test --benches` runs benches once in test mode: stay quick there.
    if std::env::args().any(|a| a == "--test") {
        loop_disabled_check(&WORD, 1000);
        return;
    }
    let baseline = instructions_in("loop_baseline", "baseline");
    let check = instructions_in("loop_disabled_check", "check");
    let fire = instructions_in("loop_disabled_fire", "fire");
    match (baseline, check, fire) {
        (Ok(baseline), Ok(check), Ok(fire)) => {
            let per = |n: u64| (n as f64 - baseline as f64) / ITERATIONS as f64;
            println!("word_instructions: {ITERATIONS} iterations under callgrind");
            println!("  empty loop (baseline):            {baseline} instructions");
            println!("  loop with a disabled check:       {check} instructions");
            println!("  loop with a disabled fire!:       {fire} instructions");
            println!(
                "  extra per disabled check:         {:.2} instructions (EnableWord::is_enabled: relaxed load, test, branch)",
                per(check)
            );
            println!(
                "  extra per disabled fire! (3 fields): {:.2} instructions (goal on x86_64: 2, cmp mem + jne)",
                per(fire)
            );
        }
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            eprintln!("word_instructions: skipped: {e}");
            std::process::exit(1);
        }
    }
}
