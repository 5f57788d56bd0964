//! What a `tracing` callsite costs with `cotrace::tracing::layer()`, side by side with
//! `tracing` without a subscriber and with an `EnvFilter` that rejects it, and enabled, in one
//! run (median ns per call of alternating rounds, each row in its own process: `tracing`
//! caches a callsite's interest over every live dispatcher, so rows must not share one).
//!
//! Rows (the same `info!(target: "bench", n = i, "hello")`):
//! - `no subscriber`: `tracing` with no dispatcher set (the floor);
//! - `EnvFilter rejects (by level)`: `registry().with(EnvFilter::new("warn")).with(fmt::layer())`:
//!   the global max level (WARN) rejects the `info!` before its cached interest is loaded;
//! - `EnvFilter rejects (by target)`: `EnvFilter::new("other=info")`: the max level lets the
//!   `info!` through and its cached interest (`never`) rejects it, as cotrace's does;
//! - `cotrace, off`: `registry().with(cotrace::tracing::layer())`, word 0 (interest `never`);
//! - `cotrace + fmt(EnvFilter warn), off`: the cotrace layer next to a `fmt` layer whose own
//!   filter rejects the event (a per-layer filter each);
//! - `cotrace, word on, no tracer`: the word made non-zero by an in-process user count
//!   (`EnableWord::acquire_user`, what an LTTng attach adds) with no LTTng session nor kernel
//!   enablement: the layer's own work on an enabled callsite and the adapters' early returns;
//! - `fmt layer to io::sink, on`: a plain enabled `tracing` subscriber, for scale;
//! - `cotrace.with_filter(EnvFilter warn) rejects (by level)`: the layer under its own
//!   `EnvFilter` (`layer().with_filter(EnvFilter::new("warn"))`): the filter's max level
//!   (WARN) becomes `tracing`'s, which rejects the `info!` before its cached interest is loaded.
//!
//! With `COTRACE_BENCH_TRACERS=1` (set by `scripts/bench-tracing.sh`, which runs this in the
//! VM with a private `lttng-sessiond`), two more rows:
//! - `cotrace, LTTng on`: a snapshot session enabling `bench:*`, started by the row;
//! - `cotrace, ftrace on`: `<tracefs>/events/user_events/<the event>/enable`.
//!
//! `cargo bench -p cotrace --features tracing --bench tracing_disabled`;
//! `COTRACE_BENCH_ITERS` (default 2000000; enabled rows a twentieth), `COTRACE_BENCH_ROUNDS`
//! (default 5).

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

const ROWS: [&str; 10] = [
    "no subscriber",
    "EnvFilter rejects (by level)",
    "EnvFilter rejects (by target)",
    "cotrace, off",
    "cotrace + fmt(EnvFilter warn), off",
    "cotrace, word on, no tracer",
    "fmt layer to io::sink, on",
    "cotrace.with_filter(EnvFilter warn) rejects (by level)",
    "cotrace, LTTng on",
    "cotrace, ftrace on",
];
/// Rows that need a session daemon and user_events.
const TRACER_ROWS: usize = 8;
/// Rows of enabled callsites (fewer iterations).
const ENABLED_ROWS: [usize; 4] = [5, 6, 8, 9];

fn lttng(args: &[&str]) {
    let out = std::process::Command::new("lttng")
        .arg("--no-sessiond")
        .args(args)
        .output()
        .expect("run lttng");
    assert!(
        out.status.success(),
        "lttng {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One row, in its own process.
fn row(row: usize, iters: u64) -> f64 {
    let hit = |i: u64| tracing::info!(target: "bench", n = i, "hello");
    match row {
        0 => {}
        1 => tracing_subscriber::registry()
            .with(EnvFilter::new("warn"))
            .with(tracing_subscriber::fmt::layer())
            .init(),
        2 => tracing_subscriber::registry()
            .with(EnvFilter::new("other=info"))
            .with(tracing_subscriber::fmt::layer())
            .init(),
        4 => tracing_subscriber::registry()
            .with(cotrace::tracing::layer())
            .with(tracing_subscriber::fmt::layer().with_filter(EnvFilter::new("warn")))
            .init(),
        6 => tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
            .init(),
        7 => tracing_subscriber::registry()
            .with(cotrace::tracing::layer().with_filter(EnvFilter::new("warn")))
            .init(),
        _ => tracing_subscriber::registry()
            .with(cotrace::tracing::layer())
            .init(),
    }
    // First use defines the callsite's event; the layer's poller then settles the interest.
    hit(0);
    let event = || {
        cotrace::events()
            .find(|e| e.desc().provider == "bench")
            .expect("bench event defined")
    };
    let session = format!("tl_bench_{}", std::process::id());
    let mut ftrace = None;
    match row {
        5 => {
            // Held for the rest of the process: this row measures the enabled layer.
            std::mem::forget(event().word().acquire_user().expect("a free user slot"));
        }
        8 => {
            lttng(&["create", &session, "--snapshot"]);
            lttng(&[
                "enable-event",
                "--userspace",
                "bench:*",
                "--session",
                &session,
            ]);
            lttng(&["start", &session]);
            wait("LTTng", || event().snapshot().users_enabled());
        }
        9 => {
            let tracefs = cotrace::cotrace_kernel::availability().expect("user_events");
            let enable = tracefs
                .join("events/user_events")
                .join(event().desc().kernel_name)
                .join("enable");
            std::fs::write(&enable, "1").expect("enable with ftrace");
            wait("ftrace", || event().snapshot().kernel_enabled());
            ftrace = Some(enable);
        }
        _ => {}
    }
    std::thread::sleep(Duration::from_millis(300));
    let ns = time(iters, &hit);
    if row == 8 {
        lttng(&["destroy", &session]);
    }
    if let Some(enable) = ftrace {
        let _ = std::fs::write(enable, "0");
    }
    ns
}

fn main() {
    let iters = env("COTRACE_BENCH_ITERS", 2_000_000);
    let rounds = env("COTRACE_BENCH_ROUNDS", 5) as usize;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--row") {
        let r: usize = args[i + 1].parse().expect("row number");
        let n = if ENABLED_ROWS.contains(&r) {
            iters / 20
        } else {
            iters
        };
        println!("{}", row(r, n));
        return;
    }
    let rows = if env("COTRACE_BENCH_TRACERS", 0) == 1 {
        ROWS.len()
    } else {
        TRACER_ROWS
    };
    let exe = std::env::current_exe().expect("own path");
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); rows];
    for _ in 0..rounds {
        for (r, s) in samples.iter_mut().enumerate() {
            let out = std::process::Command::new(&exe)
                .args(["--row", &r.to_string()])
                .env("COTRACE_BENCH_ITERS", iters.to_string())
                .stderr(std::process::Stdio::inherit())
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
    let by_target = median(samples[2].clone());
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
