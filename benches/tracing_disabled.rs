//! What a `tracing` callsite costs with `cotrace::tracing::layer()` when no tracer enables it,
//! side by side with `tracing` without a subscriber and with an `EnvFilter` that rejects it,
//! in one run (median ns per call of alternating rounds).
//!
//! Rows (the same `info!` with a `u64` field and a message, one callsite per row):
//! - `no subscriber`: `tracing` with no dispatcher set (the floor);
//! - `EnvFilter rejects (by level)`: `registry().with(EnvFilter::new("warn")).with(fmt::layer())`:
//!   the global max level (WARN) rejects the `info!` before its cached interest is loaded;
//! - `cotrace, off`: `registry().with(cotrace::tracing::layer())`, word 0 (interest `never`);
//! - `cotrace + fmt(EnvFilter warn), off`: the cotrace layer next to a `fmt` layer whose own
//!   filter rejects the event (a per-layer filter each);
//! - `cotrace, word on, no session`: the word made non-zero by an in-process user count
//!   (`EnableWord::acquire_user`, what an LTTng attach adds) with no LTTng session nor kernel
//!   enablement: the layer's own work on an enabled callsite (visit, convert, check) and the
//!   adapters' early returns, without any tracer's write. Per-tracer enabled figures need a
//!   session daemon and user_events: see `scripts/bench-facade.sh` for the adapters' cost;
//! - `EnvFilter rejects (by target)`: `EnvFilter::new("other=info")`: the max level lets the
//!   `info!` through and its cached interest (`never`) rejects it, as cotrace's does.
//!
//! `cargo bench --bench tracing_disabled --features tracing`; `COTRACE_BENCH_ITERS` (default
//! 2000000), `COTRACE_BENCH_ROUNDS` (default 5).

use std::hint::black_box;
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// ns per call of `f` run `iters` times.
fn time(iters: u64, f: &dyn Fn(u64)) -> f64 {
    let start = Instant::now();
    for i in 0..iters {
        f(black_box(i));
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

const ROWS: [&str; 6] = [
    "no subscriber",
    "EnvFilter rejects (by level)",
    "cotrace, off",
    "cotrace + fmt(EnvFilter warn), off",
    "cotrace, word on, no session",
    "EnvFilter rejects (by target)",
];

/// One row, in its own process: `tracing` caches a callsite's interest over every live
/// dispatcher, so rows must not share a process.
fn row(row: usize, iters: u64) -> f64 {
    let hit = |i: u64| tracing::info!(target: "bench", n = i, "hello");
    match row {
        0 => {}
        1 => tracing_subscriber::registry()
            .with(EnvFilter::new("warn"))
            .with(tracing_subscriber::fmt::layer())
            .init(),
        5 => tracing_subscriber::registry()
            .with(EnvFilter::new("other=info"))
            .with(tracing_subscriber::fmt::layer())
            .init(),
        2 | 4 => tracing_subscriber::registry()
            .with(cotrace::tracing::layer())
            .init(),
        _ => tracing_subscriber::registry()
            .with(cotrace::tracing::layer())
            .with(tracing_subscriber::fmt::layer().with_filter(EnvFilter::new("warn")))
            .init(),
    }
    // First use defines the callsite's event; the layer's poller then settles the interest.
    hit(0);
    if row == 4 {
        let word = cotrace::events()
            .find(|e| e.desc().provider == "bench")
            .expect("bench event defined")
            .word();
        word.acquire_user().expect("a free user slot");
    }
    std::thread::sleep(Duration::from_millis(300));
    time(iters, &hit)
}

fn main() {
    let iters = env("COTRACE_BENCH_ITERS", 2_000_000);
    let rounds = env("COTRACE_BENCH_ROUNDS", 5) as usize;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--row") {
        let r: usize = args[i + 1].parse().expect("row number");
        let n = if r == 4 { iters / 20 } else { iters };
        println!("{}", row(r, n));
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); ROWS.len()];
    for _ in 0..rounds {
        for (r, s) in samples.iter_mut().enumerate() {
            let out = std::process::Command::new(&exe)
                .args(["--row", &r.to_string()])
                .env("COTRACE_BENCH_ITERS", iters.to_string())
                .output()
                .expect("run a row");
            let text = String::from_utf8_lossy(&out.stdout);
            let ns: f64 = text
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("row {r} printed {text:?}"));
            s.push(ns);
        }
    }
    let floor = median(samples[0].clone());
    let by_level = median(samples[1].clone());
    let by_target = median(samples[5].clone());
    println!(
        "| row | ns per call (median of {rounds}) | vs no subscriber | vs EnvFilter (level) | vs EnvFilter (target) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for (name, s) in ROWS.iter().zip(samples) {
        let m = median(s);
        println!(
            "| {name} | {m:.2} | {:.2}x | {:.2}x | {:.2}x |",
            m / floor,
            m / by_level,
            m / by_target
        );
    }
}
