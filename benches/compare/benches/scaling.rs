//! Row 5 of `scripts/bench.sh`: 1, 2 and 4 threads firing one enabled event
//! (`cotrace::fire!`, u64 + u32 + 12-byte string) as fast as they can; throughput relative to
//! one thread.
//!
//!   scaling lttng    LTTng on (a snapshot session it creates; needs a reachable sessiond)
//!   scaling kernel   the kernel on (ftrace enables the event; needs user_events, root)
//!
//! Rounds alternate the thread counts, and each is followed by the same threads running a loop
//! that touches nothing shared (the reference: how much parallelism the machine gives right
//! now), and with the kernel by a hand-written event written with a raw `writev` (what C
//! would do); the fastest round's events/s of each is reported.
//! `COTRACE_BENCH_ITERS` is the events per thread per round (default 100000),
//! `COTRACE_BENCH_ROUNDS` the rounds (default 5). Prints `@result scale.TRACER.tN` lines
//! (events/s) and `@result scale.TRACER.cpus`.

use std::hint::black_box;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

cotrace::provider! {
    /// The scaling benchmark's event.
    pub mod scale {
        /// One call.
        #[level(info)]
        fn ev(n: u64, k: u32, msg: &str);
    }
}

const SESSION: &str = "cotrace_scaling";
const THREADS: [usize; 3] = [1, 2, 4];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn lttng(args: &[&str]) -> Result<(), String> {
    let out = Command::new("lttng")
        .arg("--no-sessiond")
        .args(args)
        .output()
        .map_err(|e| format!("lttng: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "lttng {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[inline(never)]
fn fire_loop(iters: u64) {
    for i in 0..iters {
        cotrace::fire!(scale::ev(i, i as u32, black_box("hello, world")));
    }
}

/// The reference: a loop that touches no shared state, so its scaling is what the machine
/// gives (CPUs free now, turbo, SMT) and the event's scaling can be read against it.
/// Loop iterations per "event" of the reference, calibrated so that one thread's reference
/// round takes as long as its event round (thread start-up then weighs the same in both).
static COMPUTE_PER_EVENT: AtomicU64 = AtomicU64::new(1);

#[inline(never)]
fn compute_loop(iters: u64) {
    for i in 0..iters * COMPUTE_PER_EVENT.load(Ordering::Relaxed) {
        black_box(i);
    }
}

fn calibrate(iters: u64) {
    let time = |f: fn(u64)| {
        let t = Instant::now();
        f(iters);
        t.elapsed().as_secs_f64()
    };
    let fire = time(fire_loop);
    let compute = time(compute_loop);
    let per = (fire / compute).round().max(1.0);
    COMPUTE_PER_EVENT.store(per as u64, Ordering::Relaxed);
}

/// Iterations per second with `threads` threads each running `body(iters)`.
fn round(threads: usize, iters: u64, body: fn(u64)) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(move || body(iters));
        }
    });
    (threads as u64 * iters) as f64 / start.elapsed().as_secs_f64()
}

/// The kernel's baseline: a hand-written user_events event (its own fd, word and registration),
/// written with one `writev` of a prebuilt header and the string, as C would.
static RAW_FD: AtomicI32 = AtomicI32::new(-1);
static RAW_INDEX: AtomicU32 = AtomicU32::new(0);
static RAW_WORD: AtomicU32 = AtomicU32::new(0);

#[repr(C, packed)]
struct UserReg {
    size: u32,
    enable_bit: u8,
    enable_size: u8,
    flags: u16,
    enable_addr: u64,
    name_args: u64,
    write_index: u32,
}

/// Registers the raw event `name` and returns its `enable` file.
fn raw_register(tracefs: &std::path::Path, name: &str) -> Result<std::path::PathBuf, String> {
    let path = std::ffi::CString::new(tracefs.join("user_events_data").to_str().unwrap_or(""))
        .map_err(|e| e.to_string())?;
    // SAFETY: a valid C string; plain open(2).
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(format!("open: {}", std::io::Error::last_os_error()));
    }
    let args = std::ffi::CString::new(format!("{name} u64 n; u32 k; __rel_loc char[] msg"))
        .map_err(|e| e.to_string())?;
    let mut reg = UserReg {
        size: size_of::<UserReg>() as u32,
        enable_bit: 31,
        enable_size: 4,
        flags: 0,
        enable_addr: RAW_WORD.as_ptr() as u64,
        name_args: args.as_ptr() as u64,
        write_index: 0,
    };
    let request = libc::_IOWR::<*mut UserReg>(b'*' as u32, 0);
    // SAFETY: DIAG_IOCSREG with a valid user_reg; the word is a static; the process exits
    // with it registered (the kernel drops it then).
    if unsafe { libc::ioctl(fd, request, &mut reg as *mut UserReg) } != 0 {
        return Err(format!("DIAG_IOCSREG: {}", std::io::Error::last_os_error()));
    }
    RAW_FD.store(fd, Ordering::Relaxed);
    RAW_INDEX.store(reg.write_index, Ordering::Relaxed);
    Ok(tracefs.join("events/user_events").join(name).join("enable"))
}

#[inline(never)]
fn raw_loop(iters: u64) {
    let (fd, index) = (
        RAW_FD.load(Ordering::Relaxed),
        RAW_INDEX.load(Ordering::Relaxed),
    );
    const MSG: &[u8] = b"hello, world\0";
    for i in 0..iters {
        if RAW_WORD.load(Ordering::Relaxed) != 0 {
            let mut header = [0u8; 20];
            header[..4].copy_from_slice(&index.to_ne_bytes());
            header[4..12].copy_from_slice(&i.to_ne_bytes());
            header[12..16].copy_from_slice(&(i as u32).to_ne_bytes());
            header[16..].copy_from_slice(&((MSG.len() as u32) << 16).to_ne_bytes());
            let iov = [
                libc::iovec {
                    iov_base: header.as_ptr() as *mut _,
                    iov_len: header.len(),
                },
                libc::iovec {
                    iov_base: MSG.as_ptr() as *mut _,
                    iov_len: MSG.len(),
                },
            ];
            // SAFETY: two valid iovecs over live buffers.
            black_box(unsafe { libc::writev(fd, iov.as_ptr(), 2) });
        }
    }
}

fn wait_enabled(what: &str, want: impl Fn(cotrace::WordSnapshot) -> bool) -> Result<(), String> {
    let start = Instant::now();
    while !want(scale::ev.event().snapshot()) {
        if start.elapsed() > Duration::from_secs(10) {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn run(tracer: &str) -> Result<(), String> {
    let status = cotrace::init();
    let iters = env_or("COTRACE_BENCH_ITERS", 100_000) as u64;
    let rounds = env_or("COTRACE_BENCH_ROUNDS", 5).max(1);
    let mut enable_file = None;
    let mut raw_enable = None;
    match tracer {
        "lttng" => {
            if !status.lttng.available {
                return Err(format!("LTTng unavailable: {}", status.lttng.detail));
            }
            lttng(&["create", SESSION, "--snapshot"])?;
            lttng(&["enable-event", "-u", "scale:ev", "-s", SESSION])?;
            lttng(&["start", SESSION])?;
            wait_enabled("the LTTng session", |w| w.users_enabled())?;
        }
        "kernel" => {
            let tracefs =
                cotrace::cotrace_kernel::availability().map_err(|e| format!("user_events: {e}"))?;
            let path = tracefs.join("events/user_events/scale_ev/enable");
            std::fs::write(&path, "1").map_err(|e| format!("{}: {e}", path.display()))?;
            enable_file = Some(path);
            wait_enabled("ftrace", |w| w.kernel_enabled())?;
            let raw = raw_register(tracefs, &format!("scale_raw_{}", std::process::id()))?;
            std::fs::write(&raw, "1").map_err(|e| format!("{}: {e}", raw.display()))?;
            let start = Instant::now();
            while RAW_WORD.load(Ordering::Relaxed) == 0 {
                if start.elapsed() > Duration::from_secs(10) {
                    return Err("timed out waiting for the raw event's bit".into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            raw_enable = Some(raw);
        }
        _ => return Err("usage: scaling lttng|kernel".into()),
    }
    // Warm-up: ring buffers, per-CPU pages, the kernel's first writes.
    for &t in &THREADS {
        round(t, iters / 10 + 1, fire_loop);
    }
    calibrate(iters);
    // samples[0..3]: the event with 1, 2, 4 threads; samples[3..6]: the reference;
    // samples[6..9] (kernel): the raw writev baseline.
    let n = THREADS.len();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); 3 * n];
    for r in 0..rounds {
        for k in 0..n {
            let t = (k + r) % n;
            samples[t].push(round(THREADS[t], iters, fire_loop));
            samples[n + t].push(round(THREADS[t], iters, compute_loop));
            if raw_enable.is_some() {
                samples[2 * n + t].push(round(THREADS[t], iters, raw_loop));
            }
        }
    }
    if let Some(raw) = &raw_enable {
        let _ = std::fs::write(raw, "0");
    }
    if let Some(path) = enable_file {
        let _ = std::fs::write(path, "0");
    } else {
        lttng(&["destroy", SESSION])?;
    }
    // The fastest round of each (others' load only ever slows a round down).
    let medians: Vec<f64> = samples
        .into_iter()
        .map(|v| v.into_iter().fold(0.0, f64::max))
        .collect();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{tracer} on, {iters} events per thread, fastest of {rounds} rounds, {cpus} CPUs:");
    for (i, t) in THREADS.iter().enumerate() {
        let (m, reference) = (medians[i], medians[n + i]);
        println!(
            "  {t} thread(s): {m:>12.0} events/s  ({:.2}x one thread; a loop touching nothing \
             shared: {:.2}x)",
            m / medians[0],
            reference / medians[n]
        );
        println!("@result scale.{tracer}.t{t} {m:.0}");
        println!("@result scale.{tracer}.ref_t{t} {reference:.0}");
        if raw_enable.is_some() {
            let raw = medians[2 * n + i];
            println!(
                "      raw writev (prebuilt header), same threads: {raw:>12.0} events/s ({:.2}x)",
                raw / medians[2 * n]
            );
            println!("@result scale.{tracer}.raw_t{t} {raw:.0}");
        }
    }
    println!("@result scale.{tracer}.cpus {cpus}");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs benches once in test mode.
    if args.iter().any(|a| a == "--test") {
        fire_loop(10);
        return ExitCode::SUCCESS;
    }
    let tracer = args
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or("lttng", |s| s.as_str());
    match run(tracer) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scaling: {e}");
            if tracer == "lttng" {
                let _ = lttng(&["destroy", SESSION]);
            }
            ExitCode::FAILURE
        }
    }
}
