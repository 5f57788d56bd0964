//! cotrace-ust against a C `lttng_ust_tracepoint` with the same payload (u64, u32, a 12-byte
//! string), disabled and enabled, in one run, reported as ratios (Rust / C).
//!
//! The C provider (`benches/c/bench_tp.{h,c}`) is compiled here at run time with `cc` into a
//! shared object linked to liblttng-ust and loaded with dlopen; its loop runs in C. The Rust
//! loop does what the cotrace facade does per call: one relaxed load of the enable word, and
//! when it is non-zero, an out-of-line call to `EventHandle::fire_enabled` (the C macro's
//! enabled path is likewise a call into the probe). Rounds alternate C and Rust; the median
//! per-call time of each is reported.
//!
//! The disabled check costs about one cycle per call on either side, so its time is sensitive to
//! where the compiler places each loop (a loop that straddles a 32-byte boundary can take 1.5
//! cycles instead of 1): compare `--callgrind` instruction counts for it, which do not move.
//!
//! The enabled half needs a session daemon that `lttng` can reach: `scripts/bench-lttng.sh`
//! starts a private one. Without one, only the disabled half runs. The enabled session is a
//! snapshot session (overwrite mode, nothing written to disk), so both sides always find room
//! in the ring buffer.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{Ordering, compiler_fence};
use std::time::{Duration, Instant};

use cotrace_ust::{EventSpec, FieldSpec, FieldType, Loglevel, Value, register_provider};
use cotrace_word::EnableWord;

#[path = "c/provider.rs"]
mod c_provider;
use c_provider::build_c_provider;

static WORD: EnableWord = EnableWord::new();
static EV: EventSpec = EventSpec {
    provider: "bench_rust",
    event: "ev",
    loglevel: Loglevel::Info,
    fields: &[
        FieldSpec {
            name: "n",
            ty: FieldType::U64,
        },
        FieldSpec {
            name: "k",
            ty: FieldType::U32,
        },
        FieldSpec {
            name: "msg",
            ty: FieldType::Str,
        },
    ],
    word: &WORD,
};

/// Iterations per loop in `--callgrind` mode (the script divides by it).
const CALLGRIND_ITERS: u64 = 10_000;

const MSG: &str = "hello, world";
const MSG_C: &std::ffi::CStr = c"hello, world";

type CLoop = unsafe extern "C" fn(u64, *const std::ffi::c_char);
type CEnabled = unsafe extern "C" fn() -> std::ffi::c_int;

#[inline(never)]
fn rust_loop(handle: cotrace_ust::EventHandle, iters: u64) {
    for i in 0..iters {
        if WORD.is_enabled() {
            fire_out_of_line(handle, i);
        }
        compiler_fence(Ordering::SeqCst);
    }
}

/// The enabled path, out of line like the C macro's call into its probe, so the disabled
/// check stays a compact loop.
#[cold]
#[inline(never)]
fn fire_out_of_line(handle: cotrace_ust::EventHandle, i: u64) {
    let _ = handle.fire_enabled(&[
        Value::U64(i),
        Value::U32(i as u32),
        Value::Str(black_box(MSG)),
    ]);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

// One function per (side, phase), never inlined, so callgrind can attribute instructions to
// each (`--toggle-collect=lttng_vs_c::phase_*`).
// Each body differs (the black_box tag) so the compiler cannot merge them into one function.
#[inline(never)]
fn phase_c_disabled(c_loop: CLoop, iters: u64) {
    black_box(1u8);
    // SAFETY: the C loop takes an iteration count and a NUL-terminated string.
    unsafe { c_loop(iters, MSG_C.as_ptr()) }
}
#[inline(never)]
fn phase_c_enabled(c_loop: CLoop, iters: u64) {
    black_box(2u8);
    // SAFETY: as above.
    unsafe { c_loop(iters, MSG_C.as_ptr()) }
}
#[inline(never)]
fn phase_rust_disabled(handle: cotrace_ust::EventHandle, iters: u64) {
    black_box(3u8);
    rust_loop(handle, iters)
}
#[inline(never)]
fn phase_rust_enabled(handle: cotrace_ust::EventHandle, iters: u64) {
    black_box(4u8);
    rust_loop(handle, iters)
}

/// Runs `rounds` alternating rounds and returns the median and the fastest round's ns per call:
/// ((C, Rust), (C, Rust)).
fn measure(
    c_loop: CLoop,
    handle: cotrace_ust::EventHandle,
    iters: u64,
    rounds: usize,
    enabled: bool,
) -> ((f64, f64), (f64, f64)) {
    let (mut c, mut r) = (vec![], vec![]);
    for _ in 0..rounds {
        let t = Instant::now();
        if enabled {
            phase_c_enabled(c_loop, iters)
        } else {
            phase_c_disabled(c_loop, iters)
        }
        c.push(t.elapsed().as_nanos() as f64 / iters as f64);
        let t = Instant::now();
        if enabled {
            phase_rust_enabled(handle, iters)
        } else {
            phase_rust_disabled(handle, iters)
        }
        r.push(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let fastest = (min(&c), min(&r));
    ((median(c), median(r)), fastest)
}

fn lttng(args: &[&str]) -> bool {
    Command::new("lttng")
        .arg("--no-sessiond")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn report(what: &str, ((c, r), (c_min, r_min)): ((f64, f64), (f64, f64))) {
    println!(
        "{what:<9} C {c:>8.2} ns/call   cotrace-ust {r:>8.2} ns/call   ratio (Rust/C) {:.3}x",
        r / c
    );
    // For scripts/bench.sh.
    println!("@result lttng.{what}.c_ns {c:.3}");
    println!("@result lttng.{what}.rust_ns {r:.3}");
    println!("@result lttng.{what}.c_min_ns {c_min:.3}");
    println!("@result lttng.{what}.rust_min_ns {r_min:.3}");
}

fn main() {
    let so = build_c_provider(&Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/c"));
    // SAFETY: loading the provider runs its constructor, which registers its probe with
    // liblttng-ust (loaded as its dependency); the two symbols have the declared types.
    let (c_loop, c_enabled, _lib) = unsafe {
        let lib = libloading::Library::new(&so).expect("load the C provider");
        let c_loop: CLoop = *lib.get(b"bench_c_loop\0").unwrap();
        let c_enabled: CEnabled = *lib.get(b"bench_c_enabled\0").unwrap();
        (c_loop, c_enabled, lib)
    };
    let _ = std::fs::remove_file(&so);
    let provider = register_provider("bench_rust", &[&EV]).expect("register");
    let handle = provider.events()[0];
    println!("{}", cotrace_ust::status());

    let quick = std::env::args().any(|a| a == "--quick");
    // Under callgrind (scripts/bench-lttng.sh --callgrind): a few iterations of each loop,
    // whose instruction counts the script reads per function.
    let callgrind = std::env::args().any(|a| a == "--callgrind");
    let (dis_iters, en_iters, rounds) = if callgrind {
        (CALLGRIND_ITERS, CALLGRIND_ITERS, 1)
    } else if quick {
        (2_000_000, 50_000, 3)
    } else {
        (50_000_000, 1_000_000, 7)
    };

    let c_on = || {
        // SAFETY: a plain query of the C tracepoint's state, no arguments.
        unsafe { c_enabled() != 0 }
    };
    assert!(!c_on(), "C tracepoint enabled before the session");
    assert!(!WORD.is_enabled());
    report(
        "disabled",
        measure(c_loop, handle, dis_iters, rounds, false),
    );

    let have_sessiond = lttng(&["list"]);
    if !have_sessiond {
        println!("enabled   skipped: no session daemon reachable (run scripts/bench-lttng.sh)");
        return;
    }
    assert!(lttng(&["create", "cotrace_bench", "--snapshot"]));
    assert!(lttng(&[
        "enable-event",
        "-u",
        "bench_c:ev,bench_rust:ev",
        "-s",
        "cotrace_bench"
    ]));
    assert!(lttng(&["start", "cotrace_bench"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(c_on() && WORD.is_enabled()) {
        assert!(
            Instant::now() < deadline,
            "the session did not enable both events"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    report("enabled", measure(c_loop, handle, en_iters, rounds, true));
    assert!(lttng(&["stop", "cotrace_bench"]));
    assert!(lttng(&["destroy", "cotrace_bench"]));
}
