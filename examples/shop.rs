//! A small request-handling app instrumented with cotrace: two threads handle simulated
//! requests, and a forked worker process does background jobs. Used by `scripts/demo.sh` and
//! the coexistence tests.
//!
//! ```text
//! cargo run --example shop -- [--requests N] [--tracers T] [--wait-enabled SECS]
//!     [--start-when FILE] [--hold FILE]
//! ```
//!
//! - `--requests N`: requests per thread (default 10); the forked worker does N/2 jobs.
//! - `--tracers T`: which tracers are expected to enable the events: `both` (default),
//!   `kernel`, `lttng` or `none`; `--wait-enabled` waits for exactly these.
//! - `--wait-enabled SECS`: before working, wait up to SECS for every event to be enabled by
//!   the expected tracers (so the counts are exact); prints which ones are not.
//! - `--start-when FILE`: then, before working, wait (up to 120 s) until FILE exists, so a test
//!   can act between "every event is enabled" and the work (e.g. pause the tracers' readers).
//! - `--hold FILE`: after working, wait (up to 120 s) until FILE exists before exiting, so a
//!   script can read the kernel's trace while the events still exist.
//!
//! At the end it prints `expected <event> <count>` lines: what each tracer should have seen.

use std::time::{Duration, Instant};

cotrace::provider! {
    /// The shop's request handling.
    pub mod shop {
        /// A request arrived.
        #[level(info)]
        fn request_start(worker: u32, id: u64, path: &str);
        /// A request finished.
        #[level(info)]
        fn request_done(worker: u32, id: u64, status: u16, path: &str, latency_ns: u64);
        /// A cache lookup missed.
        #[level(warn)]
        fn cache_miss(id: u64, key: &str, digest: &[u8]);
        /// The forked background worker finished one job.
        #[level(notice)]
        fn job_done(pid: u32, job: u64, ok: bool);
    }
}

struct Options {
    requests: u64,
    /// (kernel, lttng): which tracers should enable the events.
    tracers: (bool, bool),
    wait_enabled: Option<Duration>,
    start_when: Option<std::path::PathBuf>,
    hold: Option<std::path::PathBuf>,
}

fn options() -> Options {
    let mut opts = Options {
        requests: 10,
        tracers: (true, true),
        wait_enabled: None,
        start_when: None,
        hold: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&arg));
        match arg.as_str() {
            "--requests" => opts.requests = value().parse().unwrap_or_else(|_| usage("--requests")),
            "--wait-enabled" => {
                let secs = value().parse().unwrap_or_else(|_| usage("--wait-enabled"));
                opts.wait_enabled = Some(Duration::from_secs(secs));
            }
            "--start-when" => opts.start_when = Some(value().into()),
            "--hold" => opts.hold = Some(value().into()),
            "--tracers" => {
                opts.tracers = match value().as_str() {
                    "both" => (true, true),
                    "kernel" => (true, false),
                    "lttng" => (false, true),
                    "none" => (false, false),
                    _ => usage("--tracers"),
                }
            }
            _ => usage(&arg),
        }
    }
    opts
}

fn usage(arg: &str) -> ! {
    eprintln!(
        "shop: bad argument {arg}; usage: shop [--requests N] [--tracers both|kernel|lttng|none] [--wait-enabled SECS] [--start-when FILE] [--hold FILE]"
    );
    std::process::exit(2)
}

/// True when the word is enabled by exactly the expected tracers.
fn ready(word: cotrace::WordSnapshot, (kernel, lttng): (bool, bool)) -> bool {
    word.kernel_enabled() == kernel && word.users_enabled() == lttng
}

/// Waits until every event is enabled by the expected tracers (kernel bit, at least one LTTng
/// session), or the timeout passes.
fn wait_enabled(timeout: Duration, tracers: (bool, bool)) {
    let deadline = Instant::now() + timeout;
    loop {
        let not_ready: Vec<String> = cotrace::events()
            .filter(|e| !ready(e.snapshot(), tracers))
            .map(|e| format!("{} ({})", e.desc().lttng_name(), e.snapshot()))
            .collect();
        if not_ready.is_empty() {
            println!("shop: every event is enabled by the expected tracers");
            return;
        }
        if Instant::now() > deadline {
            println!(
                "shop: still not enabled by both tracers: {}",
                not_ready.join(", ")
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn handle(worker: u32, id: u64) {
    let start = Instant::now();
    let path = format!("/item/{}", id % 7);
    cotrace::fire!(shop::request_start(worker, id, &path));
    if id.is_multiple_of(3) {
        let key = format!("item:{}", id % 7);
        let digest = [id as u8, (id >> 8) as u8, 0xca, 0xfe];
        cotrace::fire!(shop::cache_miss(id, &key, &digest));
    }
    let status = if id.is_multiple_of(5) { 404 } else { 200 };
    cotrace::fire!(shop::request_done(
        worker,
        id,
        status,
        &path,
        start.elapsed().as_nanos() as u64
    ));
}

/// The forked worker: runs `jobs` jobs in a child process and returns how many it reported.
fn forked_worker(jobs: u64, wait: Option<Duration>, tracers: (bool, bool)) -> u64 {
    // SAFETY: fork in a process whose other threads have finished (they were joined): the child
    // only runs this function's code, then exits with `_exit`.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => {
            eprintln!("shop: fork failed: {}", std::io::Error::last_os_error());
            0
        }
        0 => {
            // The child: the kernel keeps its copy of each word up to date; LTTng sees a new
            // app (cotrace-ust's fork handlers) and attaches its sessions again.
            if let Some(timeout) = wait {
                let deadline = Instant::now() + timeout;
                let ev = shop::job_done.event();
                while !ready(ev.snapshot(), tracers) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            let me = std::process::id();
            for job in 0..jobs {
                cotrace::fire!(shop::job_done(me, job, job % 4 != 3));
            }
            // SAFETY: ends the child without running the parent's atexit handlers twice.
            unsafe { libc::_exit(0) }
        }
        child => {
            let mut status = 0;
            // SAFETY: waits for the child we just created; `status` is a valid out-pointer.
            unsafe { libc::waitpid(child, &mut status, 0) };
            if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                jobs
            } else {
                eprintln!("shop: forked worker failed (status {status:#x})");
                0
            }
        }
    }
}

fn main() {
    let opts = options();
    let status = cotrace::init();
    print!("{status}");
    if let Some(timeout) = opts.wait_enabled {
        wait_enabled(timeout, opts.tracers);
    }
    if let Some(file) = &opts.start_when {
        if !wait_for(file) {
            println!(
                "shop: {} did not appear within 120 s; working anyway",
                file.display()
            );
        }
    }

    std::thread::scope(|s| {
        for worker in 0..2u32 {
            s.spawn(move || {
                for i in 0..opts.requests {
                    handle(worker, u64::from(worker) * 1000 + i);
                }
            });
        }
    });
    let jobs = forked_worker(opts.requests / 2, opts.wait_enabled, opts.tracers);

    let per_thread = opts.requests;
    let misses = (0..2u64)
        .map(|w| (0..per_thread).filter(|i| (w * 1000 + i) % 3 == 0).count() as u64)
        .sum::<u64>();
    println!("shop: done");
    println!("expected request_start {}", 2 * per_thread);
    println!("expected request_done {}", 2 * per_thread);
    println!("expected cache_miss {misses}");
    println!("expected job_done {jobs}");

    if let Some(file) = opts.hold {
        wait_for(&file);
    }
}

/// Waits up to 120 s until `file` exists; false if it never did.
fn wait_for(file: &std::path::Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !file.exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}
