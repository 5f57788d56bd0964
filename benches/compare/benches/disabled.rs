//! Row 1 of `scripts/bench.sh`: what a DISABLED call site costs, for cotrace and for what a
//! user would pick instead, with the same payload (u64, u32, a 12-byte string), in one run.
//!
//! Call sites (each in its own never-inlined loop function, with the C loops' compiler barrier):
//! - `cotrace`: `cotrace::fire!` of a 3-field event, after `cotrace::init()` (registered with
//!   LTTng here when liblttng-ust is installed, no session);
//! - `c_lttng`: C `lttng_ust_tracepoint` (ust-side/benches/c/bench_tp.h), its loop in C, in a
//!   shared object linked to liblttng-ust and built here with `cc`, no session;
//! - `tracepoint`: Microsoft's `tracepoint` crate, `TracepointState::enabled()` guarding the
//!   write (its documented pattern), never enabled;
//! - `tracing_none`: `tracing::info!` with no subscriber;
//! - `tracing_filtered`: `tracing::info!` under a `fmt` subscriber whose `EnvFilter`
//!   (`other_target=info`) rejects it by target, so the level hint lets it through and the
//!   callsite's cached interest decides;
//! - `usdt`: the `usdt` crate's probe (SystemTap SDT with a semaphore on Linux), no tracer
//!   attached;
//! - `word_volatile` (not a contender): the enable word read with `read_volatile`, as `usdt`
//!   reads its semaphore, to show what the stretch goal (2 instructions) would take.
//!
//! Two measures, each against the empty loop of the same language in the same run:
//! instructions per call under callgrind (repeatable; `--toggle-collect` on the loop
//! function), and ns per call, median of alternating rounds, each round one child process per
//! call site (a process can hold one global `tracing` subscriber), the order rotated per round.
//!
//! Prints a human table and `@result KEY VALUE` lines for scripts/bench.sh. `--quick`: fewer
//! iterations and rounds.

use std::ffi::{CStr, c_char};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use tracepoint::TracepointState;

cotrace::provider! {
    /// The benchmark's event.
    pub mod cmp {
        /// One loop iteration.
        #[level(info)]
        fn ev(n: u64, k: u32, msg: &str);
    }
}

#[usdt::provider]
mod cmp_usdt {
    fn ev(n: u64, k: u32, msg: &str) {}
}

const MSG: &str = "hello, world";
const MSG_C: &CStr = c"hello, world";
static TP: TracepointState = TracepointState::new(0);

type CLoop = unsafe extern "C" fn(u64, *const c_char);

/// The call sites: (mode, loop function name for callgrind, language of its empty loop).
const MODES: &[(&str, &str, &str)] = &[
    ("empty", "loop_empty", "rust"),
    ("cotrace", "loop_cotrace", "rust"),
    ("tracepoint", "loop_tracepoint", "rust"),
    ("tracing_none", "loop_tracing", "rust"),
    ("tracing_filtered", "loop_tracing", "rust"),
    ("usdt", "loop_usdt", "rust"),
    ("word_volatile", "loop_word_volatile", "rust"),
    ("c_empty", "cmp_c_loop_empty", "c"),
    ("c_lttng", "cmp_c_loop_lttng", "c"),
];

/// The C loops' `__asm__ __volatile__("" ::: "memory")`: a compiler barrier that emits no
/// instruction, so every loop does its check each iteration. It takes the counter so that the
/// empty loop counts up like the others (`inc; cmp; jne`, as gcc compiles the C loops) instead
/// of `dec; jne`: then "above the empty loop" is the call site's own cost.
#[inline(always)]
fn barrier(i: u64) {
    // SAFETY: an empty asm statement (the operand only appears in a comment); it only tells the
    // compiler that memory may have changed and that `i` is used.
    unsafe { std::arch::asm!("/* {0} */", in(reg) i, options(nostack, preserves_flags)) }
}

#[inline(never)]
fn loop_empty(n: u64) {
    for i in 0..n {
        barrier(i);
    }
}

#[inline(never)]
fn loop_cotrace(n: u64) {
    for i in 0..n {
        cotrace::fire!(cmp::ev(i, i as u32, MSG));
        barrier(i);
    }
}

#[inline(never)]
fn loop_tracepoint(n: u64) {
    for i in 0..n {
        if TP.enabled() {
            tracepoint_write(i);
        }
        barrier(i);
    }
}

#[cold]
#[inline(never)]
fn tracepoint_write(i: u64) {
    let k = i as u32;
    // `__rel_loc`: size << 16 | offset from the end of the field (0: the string follows).
    let rel_loc: u32 = (MSG.len() as u32 + 1) << 16;
    let mut data = [
        tracepoint::EventDataDescriptor::zero(),
        tracepoint::EventDataDescriptor::from_value(&i),
        tracepoint::EventDataDescriptor::from_value(&k),
        tracepoint::EventDataDescriptor::from_value(&rel_loc),
        tracepoint::EventDataDescriptor::from_bytes(MSG_C.to_bytes_with_nul()),
    ];
    TP.write(&mut data);
}

#[inline(never)]
fn loop_tracing(n: u64) {
    for i in 0..n {
        tracing::info!(n = i, k = i as u32, msg = MSG);
        barrier(i);
    }
}

#[inline(never)]
fn loop_usdt(n: u64) {
    for i in 0..n {
        cmp_usdt::ev!(|| (i, i as u32, MSG));
        barrier(i);
    }
}

/// Not a contender: what the enable word's check would cost if it were read the way `usdt`
/// reads its semaphore (`read_volatile`, which LLVM folds into `cmp mem, 0`), to show where the
/// third instruction of `EnableWord::is_enabled` (a relaxed atomic load, which LLVM does not
/// fold) comes from.
static PROPOSAL: cotrace::EnableWord = cotrace::EnableWord::new();

#[inline(never)]
fn loop_word_volatile(n: u64) {
    let word = PROPOSAL.kernel_address();
    for i in 0..n {
        // SAFETY: an aligned, live 'static u32; nothing else writes it in this bench.
        if unsafe { word.read_volatile() } != 0 {
            tracepoint_write(i);
        }
        barrier(i);
    }
}

/// Builds the C provider and loops into a shared object in `dir`.
fn build_c(dir: &Path) -> Result<PathBuf, String> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = dir.join("cotrace-cmp-disabled.so");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-O2", "-fPIC", "-shared", "-I"])
        .arg(here.join("../../ust-side/benches/c"))
        .arg(here.join("c/disabled.c"))
        .arg("-o")
        .arg(&out)
        .args(["-llttng-ust", "-ldl"])
        .status()
        .map_err(|e| format!("cc: {e} (build-essential)"))?;
    if !status.success() {
        return Err("building the C provider failed (liblttng-ust-dev installed?)".into());
    }
    Ok(out)
}

/// The child: sets up `mode`, runs its loop `iters` times and prints `ns <per call>`.
fn child(mode: &str, iters: u64, warm: bool) -> Result<(), String> {
    let mut c_loop: Option<(CLoop, libloading::Library)> = None;
    match mode {
        "cotrace" => {
            let _ = cotrace::init();
            if cmp::ev.event().is_enabled() {
                return Err("cotrace event enabled: a session is tracing it".into());
            }
        }
        "tracing_filtered" => {
            use tracing_subscriber::EnvFilter;
            tracing_subscriber::fmt()
                .with_env_filter(EnvFilter::new("other_target=info"))
                .init();
        }
        "usdt" => usdt::register_probes().map_err(|e| format!("usdt: {e}"))?,
        "c_empty" | "c_lttng" => {
            let so = std::env::var("COTRACE_CMP_CLIB").map_err(|_| "COTRACE_CMP_CLIB unset")?;
            let name = if mode == "c_empty" {
                &b"cmp_c_loop_empty\0"[..]
            } else {
                &b"cmp_c_loop_lttng\0"[..]
            };
            // SAFETY: the shared object built by `build_c`; loading it runs its LTTng
            // constructor (registers the probe); the symbol has the declared type.
            let lib = unsafe { libloading::Library::new(&so) }.map_err(|e| e.to_string())?;
            // SAFETY: as above.
            let f: CLoop = *unsafe { lib.get::<CLoop>(name) }.map_err(|e| e.to_string())?;
            c_loop = Some((f, lib));
        }
        _ => {}
    }
    let run = |n: u64| match mode {
        "empty" => loop_empty(n),
        "cotrace" => loop_cotrace(n),
        "tracepoint" => loop_tracepoint(n),
        "tracing_none" | "tracing_filtered" => loop_tracing(n),
        "usdt" => loop_usdt(n),
        "word_volatile" => loop_word_volatile(n),
        // SAFETY: the C loop takes a count and a NUL-terminated string.
        _ => unsafe { (c_loop.as_ref().expect("C loop loaded").0)(n, MSG_C.as_ptr()) },
    };
    if warm {
        run(black_box(iters / 10 + 1));
    }
    let t = Instant::now();
    run(black_box(iters));
    println!("ns {}", t.elapsed().as_nanos() as f64 / iters as f64);
    Ok(())
}

fn spawn(mode: &str, iters: u64, clib: &Path, valgrind: Option<(&str, &Path)>) -> Command {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = match valgrind {
        Some((function, out)) => {
            let mut c = Command::new("valgrind");
            c.arg("--tool=callgrind")
                .arg("--collect-atstart=no")
                .arg(format!("--toggle-collect=*{function}*"))
                .arg(format!("--callgrind-out-file={}", out.display()))
                .arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    cmd.env("COTRACE_CMP_MODE", mode)
        .env("COTRACE_CMP_ITERS", iters.to_string())
        .env("COTRACE_CMP_CLIB", clib)
        .env(
            "COTRACE_CMP_WARM",
            if valgrind.is_some() { "0" } else { "1" },
        );
    cmd
}

/// Instructions executed inside the mode's loop function (callgrind's `Collected`).
fn instructions(
    mode: &str,
    function: &str,
    iters: u64,
    clib: &Path,
    dir: &Path,
) -> Result<u64, String> {
    let out_file = dir.join(format!("callgrind-{mode}.out"));
    let output = spawn(mode, iters, clib, Some((function, &out_file)))
        .output()
        .map_err(|e| format!("cannot run valgrind ({e}): apt-get install valgrind"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("{mode} under valgrind failed: {stderr}"));
    }
    stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("{mode}: no 'Collected :' line from callgrind: {stderr}"))
}

fn time(mode: &str, iters: u64, clib: &Path) -> Result<f64, String> {
    let output = spawn(mode, iters, clib, None)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{mode} failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("ns "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("{mode}: no 'ns' line in {stdout}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run(quick: bool) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("cotrace-cmp-disabled-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = measure(quick, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn measure(quick: bool, dir: &Path) -> Result<(), String> {
    let clib = build_c(dir)?;
    let cg_iters: u64 = if quick { 20_000 } else { 100_000 };
    let (iters, rounds): (u64, usize) = if quick {
        (2_000_000, 3)
    } else {
        (50_000_000, 11)
    };

    let mut ir = Vec::new();
    for (mode, function, _) in MODES {
        ir.push(instructions(mode, function, cg_iters, &clib, dir)?);
    }
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); MODES.len()];
    for round in 0..rounds {
        for k in 0..MODES.len() {
            let m = (k + round) % MODES.len();
            ns[m].push(time(MODES[m].0, iters, &clib)?);
        }
    }
    // The fastest round: on a shared machine the others' load only ever adds time, and every
    // contender is a loop of a few instructions, so the minimum is the steadiest estimate.
    let fastest: Vec<f64> = ns
        .iter()
        .map(|v| v.iter().copied().fold(f64::INFINITY, f64::min))
        .collect();
    let ns: Vec<f64> = ns.into_iter().map(median).collect();
    let base = |lang: &str| {
        let m = if lang == "c" { "c_empty" } else { "empty" };
        MODES.iter().position(|x| x.0 == m).unwrap()
    };
    println!(
        "disabled call site, per call above the empty loop of its language: instructions \
         (callgrind, {cg_iters} calls) and ns (median of {rounds} rounds x {iters} calls)"
    );
    for (m, (mode, _, lang)) in MODES.iter().enumerate() {
        if mode.ends_with("empty") {
            continue;
        }
        let b = base(lang);
        let per_ir = (ir[m] as f64 - ir[b] as f64) / cg_iters as f64;
        let per_ns = ns[m] - ns[b];
        println!(
            "  {mode:<18} {per_ir:>7.2} instructions {per_ns:>7.3} ns (loop {:.3} ns)",
            ns[m]
        );
        println!("@result disabled.{mode}.ir {per_ir:.3}");
        println!("@result disabled.{mode}.ns {per_ns:.4}");
        println!("@result disabled.{mode}.loop_ns {:.4}", ns[m]);
        println!("@result disabled.{mode}.loop_min_ns {:.4}", fastest[m]);
    }
    for (m, (mode, _, _)) in MODES.iter().enumerate() {
        if mode.ends_with("empty") {
            println!("@result disabled.{mode}.loop_ns {:.4}", ns[m]);
            println!("@result disabled.{mode}.loop_min_ns {:.4}", fastest[m]);
            println!(
                "@result disabled.{mode}.loop_ir {:.3}",
                ir[m] as f64 / cg_iters as f64
            );
        }
    }
    println!("@result disabled.iters {iters}");
    println!("@result disabled.rounds {rounds}");
    println!("@result disabled.cg_iters {cg_iters}");
    Ok(())
}

fn main() -> ExitCode {
    if let Ok(mode) = std::env::var("COTRACE_CMP_MODE") {
        let iters = std::env::var("COTRACE_CMP_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let warm = std::env::var("COTRACE_CMP_WARM").as_deref() != Ok("0");
        return match child(&mode, iters, warm) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("disabled ({mode}): {e}");
                ExitCode::FAILURE
            }
        };
    }
    // `cargo test --benches` runs benches once in test mode: one quick pass of each loop.
    if std::env::args().any(|a| a == "--test") {
        loop_empty(1000);
        loop_cotrace(1000);
        loop_tracepoint(1000);
        loop_tracing(1000);
        loop_usdt(1000);
        loop_word_volatile(1000);
        return ExitCode::SUCCESS;
    }
    match run(std::env::args().any(|a| a == "--quick")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("disabled: {e}");
            ExitCode::FAILURE
        }
    }
}
