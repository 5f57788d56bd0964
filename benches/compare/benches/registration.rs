//! Row 6 of `scripts/bench.sh`: registering many events (default 10,000; `COTRACE_REG_EVENTS`)
//! with both tracers, against what C does, in one process on a kernel with user_events and a
//! reachable lttng-sessiond (scripts/lib/bench-guest.sh runs it in the VM).
//!
//! - user_events: what `cotrace::init()` does (each event's format built by
//!   `EventFormat::with_fields`, then `cotrace_kernel::register_many` of the chunk: one
//!   descriptor check and lock, the ioctls back to back; `COTRACE_REG_ONE_BY_ONE=1`:
//!   `cotrace_kernel::register` per event, as an event defined at run time) against a raw loop
//!   of `DIAG_IOCSREG` ioctls on one fd
//!   (the C loop, written with libc; the `name_args` string is built in the loop too). Both
//!   register the same signature, `u64 n; u32 k; __data_loc char[] msg` (the string cotrace
//!   sends for these fields; the raw loop used to send `__rel_loc`), under distinct names of
//!   one length, in
//!   alternating chunks of 20 (raw first in even chunks, cotrace first in odd ones), so both
//!   see the kernel's event table and the process's enabler list at the same sizes, and a
//!   burst of load on the host (under TCG a chunk takes a few ms) falls on both alike; with
//!   chunks of 500 the ratio moved by ±15 % between runs.
//! - LTTng: `cotrace_ust::register_provider` of one provider with N events against `dlopen` of
//!   a C provider with the same N tracepoints (`LTTNG_UST_TRACEPOINT_EVENT_INSTANCE`s of one
//!   class, built beforehand by `--build-c DIR`, outside the timed part: cc under TCG is slow).
//!   The C provider is loaded first.
//! - The disabled check: ns per iteration of a loop over one event's word check, with 10
//!   events registered and again with all of them registered (fastest of 15 rounds each).
//!
//! Prints `@result reg.* VALUE` lines.

use std::ffi::CString;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::AtomicU32;
use std::time::Instant;

use cotrace::EnableWord;
use cotrace::cotrace_kernel::{self, EventFormat, FieldType};
use cotrace::cotrace_ust::{self, EventSpec, FieldSpec, Loglevel};

/// The fields as cotrace declares them (`EventFormat`, `FieldType::Str` is `__data_loc`), so
/// both sides register the same signature (names of the same length, `reg_raw_N`/`reg_cot_N`).
const FIELDS: &str = "u64 n; u32 k; __data_loc char[] msg";
const CHUNK: usize = 20;

fn events() -> usize {
    std::env::var("COTRACE_REG_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Writes and compiles the C provider of `n` tracepoints into `dir/reg_c.so`.
fn build_c(dir: &Path, n: usize) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let args = "LTTNG_UST_TP_ARGS(uint64_t, n, uint32_t, k, const char *, msg)";
    let mut h = String::from(
        "#undef LTTNG_UST_TRACEPOINT_PROVIDER\n#define LTTNG_UST_TRACEPOINT_PROVIDER reg_c\n\
         #undef LTTNG_UST_TRACEPOINT_INCLUDE\n#define LTTNG_UST_TRACEPOINT_INCLUDE \"./reg_tp.h\"\n\
         #if !defined(REG_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)\n\
         #define REG_TP_H\n#include <stdint.h>\n#include <lttng/tracepoint.h>\n",
    );
    h += &format!(
        "LTTNG_UST_TRACEPOINT_EVENT_CLASS(reg_c, cls, {args}, LTTNG_UST_TP_FIELDS(\
         lttng_ust_field_integer(uint64_t, n, n) lttng_ust_field_integer(uint32_t, k, k) \
         lttng_ust_field_string(msg, msg)))\n"
    );
    for i in 0..n {
        h += &format!("LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(reg_c, cls, reg_c, e{i}, {args})\n");
    }
    h += "#endif\n#include <lttng/tracepoint-event.h>\n";
    std::fs::write(dir.join("reg_tp.h"), h).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("reg_c.c"),
        "#define LTTNG_UST_TRACEPOINT_CREATE_PROBES\n#define LTTNG_UST_TRACEPOINT_DEFINE\n\
         #include \"reg_tp.h\"\n",
    )
    .map_err(|e| e.to_string())?;
    let out = dir.join("reg_c.so");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-O1", "-fPIC", "-shared", "-I"])
        .arg(dir)
        .arg(dir.join("reg_c.c"))
        .arg("-o")
        .arg(&out)
        .args(["-llttng-ust", "-ldl"])
        .status()
        .map_err(|e| format!("cc: {e}"))?;
    if !status.success() {
        return Err("building the C provider failed".into());
    }
    Ok(out)
}

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

/// What `cotrace::init()` does: each event's format built and checked, then
/// `cotrace_kernel::register_many` of them (one descriptor check and one lock for the batch,
/// the `DIAG_IOCSREG`s back to back); the registrations are kept. `COTRACE_REG_ONE_BY_ONE=1`:
/// `cotrace_kernel::register` per event instead (what an event defined at run time takes).
#[inline(never)]
fn cotrace_register(
    words: &'static [EnableWord],
    first: usize,
    keep: &mut Vec<cotrace_kernel::Registration>,
    one_by_one: bool,
) -> Result<(), String> {
    if one_by_one {
        for (i, w) in words.iter().enumerate() {
            let format = kernel_format(&format!("reg_cot_{}", first + i));
            keep.push(
                cotrace_kernel::register(w, format)
                    .map_err(|e| format!("cotrace_kernel::register #{}: {e}", first + i))?,
            );
        }
        return Ok(());
    }
    let batch = words.iter().enumerate().map(|(i, w)| {
        let format = kernel_format(&format!("reg_cot_{}", first + i));
        (w, format, cotrace_kernel::RegisterOptions::new())
    });
    for (i, outcome) in cotrace_kernel::register_many(batch).into_iter().enumerate() {
        keep.push(
            outcome.map_err(|e| format!("cotrace_kernel::register_many #{}: {e}", first + i))?,
        );
    }
    Ok(())
}

/// The C loop: one DIAG_IOCSREG per event on one fd.
#[inline(never)]
fn raw_register(fd: libc::c_int, words: &[AtomicU32], first: usize) -> Result<(), String> {
    let request = libc::_IOWR::<*mut UserReg>(b'*' as u32, 0);
    for (i, word) in words.iter().enumerate() {
        let args = CString::new(format!("reg_raw_{} {FIELDS}", first + i)).unwrap();
        ioctl_register(fd, request, word, &args)
            .map_err(|e| format!("raw DIAG_IOCSREG #{}: {e}", first + i))?;
    }
    Ok(())
}

/// One DIAG_IOCSREG of `word` (bit 31) with `args` as its name and fields.
#[inline(always)]
fn ioctl_register(
    fd: libc::c_int,
    request: libc::c_ulong,
    word: &AtomicU32,
    args: &CString,
) -> std::io::Result<()> {
    let mut reg = UserReg {
        size: size_of::<UserReg>() as u32,
        enable_bit: 31,
        enable_size: 4,
        flags: 0,
        enable_addr: word.as_ptr() as u64,
        name_args: args.as_ptr() as u64,
        write_index: 0,
    };
    // SAFETY: DIAG_IOCSREG with a valid user_reg; the words are leaked ('static) and the
    // process exits with them registered.
    if unsafe { libc::ioctl(fd, request, &mut reg as *mut UserReg) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Diagnosis (`COTRACE_REG_THIRD=1`, or `syscalls` / `work` for one half of it): the raw
/// ioctl with user-space work shaped like cotrace's around it (the format built by
/// `EventFormat::with_fields`, its string copied and ~600 bytes kept per event: `work`; 5
/// `getpid` and a `kcmp`: `syscalls`), to tell whether cotrace's excess inside the ioctl
/// follows from the user-space work between ioctls, and from which part.
#[inline(never)]
fn raw_plus_register(
    fd: libc::c_int,
    words: &[AtomicU32],
    first: usize,
    kept: &mut Vec<Box<dyn std::any::Any>>,
    third: &str,
) -> Result<(), String> {
    let request = libc::_IOWR::<*mut UserReg>(b'*' as u32, 0);
    let (work, syscalls) = (third != "syscalls", third != "work");
    for (i, word) in words.iter().enumerate() {
        let args = if work {
            let format = kernel_format(&format!("reg_rpl_{}", first + i));
            let args = CString::new(format.as_str()).unwrap();
            kept.push(Box::new((format, args.clone(), Box::new([0u64; 64]))));
            args
        } else {
            CString::new(format!("reg_rpl_{} {FIELDS}", first + i)).unwrap()
        };
        if syscalls {
            for _ in 0..5 {
                // SAFETY: getpid takes no arguments.
                black_box(unsafe { libc::getpid() });
            }
            // SAFETY: kcmp with this process's pid twice, KCMP_FILE (0) and two descriptors.
            let pid = unsafe { libc::getpid() };
            // SAFETY: as above.
            black_box(unsafe { libc::syscall(libc::SYS_kcmp, pid, pid, 0, fd, fd) });
        }
        ioctl_register(fd, request, word, &args)
            .map_err(|e| format!("raw+ DIAG_IOCSREG #{}: {e}", first + i))?;
    }
    Ok(())
}

#[inline(never)]
fn check_loop(word: &'static EnableWord, n: u64) {
    for i in 0..n {
        if word.is_enabled() {
            black_box(i * 3);
        }
        black_box(i);
    }
}

/// Clock ticks every CPU of the machine has spent busy so far (`/proc/stat`'s first line: all
/// but idle and iowait).
fn busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or_default();
    line.split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse::<u64>().ok())
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4) // idle, iowait
        .map(|(_, v)| v)
        .sum()
}

/// Waits until the machine is idle (at most 1 busy tick in each of 3 windows of 100 ms in a
/// row), at most 60 s, so that work left over from the step before (liblttng-ust's listener
/// thread, the session daemon) is not timed as part of the next side's. One VM run without it
/// gave cotrace 3.2x the C provider; the runs with it still spread widely (README, row 6).
fn machine_idle(before: &str) {
    let start = Instant::now();
    let (mut last, mut quiet) = (busy_ticks(), 0);
    while quiet < 3 && start.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let now = busy_ticks();
        quiet = if now.saturating_sub(last) <= 1 {
            quiet + 1
        } else {
            0
        };
        last = now;
    }
    println!(
        "  (waited {:.1} s for the machine to be idle before {before}{})",
        start.elapsed().as_secs_f64(),
        if quiet < 3 { ": it was not" } else { "" }
    );
}

/// ns per iteration of the check loop: the fastest of 15 rounds spread over ~0.75 s (a load
/// spike from the other processes, or the session daemon still digesting the registrations,
/// only ever adds time).
fn check_ns(word: &'static EnableWord) -> f64 {
    let n = 2_000_000;
    check_loop(word, n / 10);
    (0..15)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let t = Instant::now();
            check_loop(word, black_box(n));
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn spec(provider: &'static str, event: String, word: &'static EnableWord) -> &'static EventSpec {
    Box::leak(Box::new(EventSpec {
        provider,
        event: Box::leak(event.into_boxed_str()),
        loglevel: Loglevel::Info,
        fields: &[
            FieldSpec {
                name: "n",
                ty: cotrace_ust::FieldType::U64,
            },
            FieldSpec {
                name: "k",
                ty: cotrace_ust::FieldType::U32,
            },
            FieldSpec {
                name: "msg",
                ty: cotrace_ust::FieldType::Str,
            },
        ],
        word,
    }))
}

fn kernel_format(name: &str) -> EventFormat {
    EventFormat::with_fields(
        name,
        &[
            ("n", FieldType::U64),
            ("k", FieldType::U32),
            ("msg", FieldType::Str),
        ],
    )
    .expect("valid format")
}

fn leak_words(n: usize) -> &'static [EnableWord] {
    Box::leak((0..n).map(|_| EnableWord::new()).collect())
}

/// What one side of the user_events half cost: wall time, and the calling thread's user and
/// system CPU time, page faults and context switches (`getrusage(RUSAGE_THREAD)` around each
/// chunk), so an excess can be told apart as user space, kernel, or waiting.
#[derive(Default)]
struct Side {
    /// `COTRACE_REG_WINDOWS=1`: each chunk's CLOCK_MONOTONIC start and end, ns (diagnosis:
    /// `perf record -k CLOCK_MONOTONIC` samples told apart by side).
    windows: Option<Vec<(u64, u64)>>,
    /// Each chunk's time, ns, in chunk order (for the median of the per-chunk ratios).
    chunks: Vec<u64>,
    ns: u128,
    user_us: i64,
    sys_us: i64,
    minflt: i64,
    voluntary: i64,
    involuntary: i64,
}

fn thread_usage() -> libc::rusage {
    // SAFETY: an all-zero rusage is a valid value; getrusage fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    usage
}

fn monotonic_ns() -> u64 {
    // SAFETY: an all-zero timespec is a valid value; clock_gettime fills it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: CLOCK_MONOTONIC with a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Side {
    fn new() -> Self {
        Self {
            windows: (std::env::var("COTRACE_REG_WINDOWS").as_deref() == Ok("1")).then(Vec::new),
            ..Self::default()
        }
    }

    /// Times `work`, adding its cost to this side.
    fn time<T>(&mut self, work: impl FnOnce() -> T) -> T {
        let before = thread_usage();
        let t = Instant::now();
        let start = self.windows.is_some().then(monotonic_ns);
        let out = work();
        let elapsed = t.elapsed().as_nanos();
        self.ns += elapsed;
        self.chunks.push(elapsed as u64);
        if let (Some(windows), Some(start)) = (self.windows.as_mut(), start) {
            windows.push((start, monotonic_ns()));
        }
        let after = thread_usage();
        let us = |tv: libc::timeval| tv.tv_sec * 1_000_000 + tv.tv_usec;
        self.user_us += us(after.ru_utime) - us(before.ru_utime);
        self.sys_us += us(after.ru_stime) - us(before.ru_stime);
        self.minflt += after.ru_minflt - before.ru_minflt;
        self.voluntary += after.ru_nvcsw - before.ru_nvcsw;
        self.involuntary += after.ru_nivcsw - before.ru_nivcsw;
        out
    }

    fn print(&self, key: &str) {
        for (start, end) in self.windows.iter().flatten() {
            println!("@window {key} {start} {end}");
        }
        println!("@result reg.{key}_user_ms {:.2}", self.user_us as f64 / 1e3);
        println!("@result reg.{key}_sys_ms {:.2}", self.sys_us as f64 / 1e3);
        println!("@result reg.{key}_minflt {}", self.minflt);
        println!(
            "@result reg.{key}_csw {}/{}",
            self.voluntary, self.involuntary
        );
    }
}

/// The median over chunks of `side`'s time over `base`'s for the same chunk of events (run
/// next to each other): a burst of the host's load lands in few chunks, and moves this far
/// less than the ratio of the totals (the table's figure), which it can dominate.
fn median_chunk_ratio(side: &Side, base: &Side) -> f64 {
    let mut ratios: Vec<f64> = side
        .chunks
        .iter()
        .zip(&base.chunks)
        .map(|(&s, &b)| s as f64 / b.max(1) as f64)
        .collect();
    if ratios.is_empty() {
        return f64::NAN;
    }
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

/// user_events: alternating chunks of raw and cotrace registrations of `words.len()` events.
fn kernel_half(
    tracefs: &Path,
    words: &'static [EnableWord],
    keep: &mut Vec<cotrace_kernel::Registration>,
    raw_side: &mut Side,
    ct_side: &mut Side,
    third_side: &mut Option<Side>,
    third_kind: &str,
) -> Result<(), String> {
    let n = words.len();
    let one_by_one = std::env::var("COTRACE_REG_ONE_BY_ONE").as_deref() == Ok("1");
    let path = CString::new(tracefs.join("user_events_data").to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; plain open(2).
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(format!(
            "open user_events_data: {}",
            std::io::Error::last_os_error()
        ));
    }
    let raw_words: &'static [AtomicU32] = Box::leak((0..n).map(|_| AtomicU32::new(0)).collect());
    keep.reserve(n);
    let third_words: &'static [AtomicU32] = Box::leak((0..n).map(|_| AtomicU32::new(0)).collect());
    let mut third_kept: Vec<Box<dyn std::any::Any>> = Vec::with_capacity(n);
    // SAFETY: a valid C string; plain open(2).
    let third_fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    for (chunk, start) in (0..n).step_by(CHUNK).enumerate() {
        let end = (start + CHUNK).min(n);
        let mut raw = || raw_side.time(|| raw_register(fd, &raw_words[start..end], start));
        // Each DIAG_IOCSREG walks the process's list of enablers (trace_events_user.c,
        // `user_event_enabler_exists`), so the second of a pair of chunks pays for the first's
        // CHUNK: the order alternates, and both see the same lengths on average.
        if chunk % 2 == 0 {
            raw()?;
        }
        ct_side.time(|| cotrace_register(&words[start..end], start, keep, one_by_one))?;
        if chunk % 2 == 1 {
            raw()?;
        }
        if let Some(third) = third_side.as_mut() {
            third.time(|| {
                raw_plus_register(
                    third_fd,
                    &third_words[start..end],
                    start,
                    &mut third_kept,
                    third_kind,
                )
            })?;
        }
    }
    std::mem::forget(third_kept);
    Ok(())
}

fn run(c_so: &Path) -> Result<(), String> {
    let n = events();
    // `COTRACE_REG_NO_KERNEL=1`: the LTTng half and the check only (a host without
    // user_events: the check's time is only meaningful outside TCG).
    let kernel = std::env::var("COTRACE_REG_NO_KERNEL").as_deref() != Ok("1");
    let tracefs = if kernel {
        Some(cotrace_kernel::availability().map_err(|e| format!("user_events: {e}"))?)
    } else {
        None
    };

    // 10 events with both tracers, and the check's time with them.
    // The checked word is a static, like the words `provider!` declares; the other 9 and the
    // N are leaked heap words.
    static CHECKED: EnableWord = EnableWord::new();
    let few: Vec<&'static EnableWord> = std::iter::once(&CHECKED)
        .chain(leak_words(9).iter())
        .collect();
    let mut keep_kernel = Vec::new();
    for (i, w) in few.iter().enumerate().filter(|_| kernel) {
        keep_kernel.push(
            cotrace_kernel::register(w, kernel_format(&format!("reg_few_{i}")))
                .map_err(|e| e.to_string())?,
        );
    }
    let few_specs: Vec<&'static EventSpec> = few
        .iter()
        .enumerate()
        .map(|(i, w)| spec("reg_few", format!("e{i}"), w))
        .collect();
    let _few_provider =
        cotrace_ust::register_provider("reg_few", &few_specs).map_err(|e| e.to_string())?;
    let check_few = check_ns(few[0]);

    let words = leak_words(n);
    if std::env::var("COTRACE_REG_PREFAULT").as_deref() == Ok("1") {
        // Diagnosis: the heap grown and touched beforehand (and kept: no trim), so the
        // registrations' allocations take no page fault; tells their faults' share apart.
        // SAFETY: mallopt with valid parameters.
        unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) };
        let blocks: Vec<Box<[u8; 96]>> = (0..n * 6).map(|_| Box::new([1u8; 96])).collect();
        drop(black_box(blocks));
    }
    let (mut raw_side, mut ct_side) = (Side::new(), Side::new());
    let third_kind = std::env::var("COTRACE_REG_THIRD").unwrap_or_default();
    let mut third_side = (!third_kind.is_empty()).then(Side::new);
    if let Some(tracefs) = tracefs {
        kernel_half(
            tracefs,
            words,
            &mut keep_kernel,
            &mut raw_side,
            &mut ct_side,
            &mut third_side,
            &third_kind,
        )?;
    }
    let (raw_ns, ct_ns) = (raw_side.ns, ct_side.ns);
    let ms = |ns: u128| ns as f64 / 1e6;
    if std::env::var("COTRACE_REG_KERNEL_ONLY").as_deref() == Ok("1") {
        // The user_events half alone (diagnosis: no LTTng half, no check timing).
        println!(
            "user_events, {n} events: cotrace {:.1} ms, raw DIAG_IOCSREG loop {:.1} ms, {:.3}x",
            ms(ct_ns),
            ms(raw_ns),
            ct_ns as f64 / raw_ns as f64
        );
        println!(
            "  median of the per-chunk ratios: {:.3}x",
            median_chunk_ratio(&ct_side, &raw_side)
        );
        println!(
            "@result reg.kernel_chunk_ratio_median {:.4}",
            median_chunk_ratio(&ct_side, &raw_side)
        );
        raw_side.print("raw_kernel");
        ct_side.print("cotrace_kernel");
        if let Some(third) = &third_side {
            println!(
                "raw ioctl + cotrace-like user work: {:.1} ms, {:.3}x the raw loop \
                 (median per chunk {:.3}x)",
                ms(third.ns),
                third.ns as f64 / raw_ns as f64,
                median_chunk_ratio(third, &raw_side)
            );
            third.print("rawplus_kernel");
        }
        drop(keep_kernel);
        return Ok(());
    }

    // LTTng: the C provider first, then cotrace's.
    machine_idle("the C provider's dlopen");
    let t = Instant::now();
    // SAFETY: loading the C provider runs its constructors, which register its probe and
    // tracepoints with liblttng-ust; it stays loaded until exit.
    let lib = unsafe { libloading::Library::new(c_so) }.map_err(|e| e.to_string())?;
    let c_ns = t.elapsed().as_nanos();
    std::mem::forget(lib);
    machine_idle("cotrace's LTTng registration");
    let specs: Vec<&'static EventSpec> = words
        .iter()
        .enumerate()
        .map(|(i, w)| spec("reg_rust", format!("e{i}"), w))
        .collect();
    let t = Instant::now();
    let provider = cotrace_ust::register_provider("reg_rust", &specs).map_err(|e| e.to_string())?;
    let ust_ns = t.elapsed().as_nanos();
    if !provider.is_registered_with_lttng() {
        return Err("liblttng-ust did not take the provider".into());
    }
    machine_idle("the disabled check");
    let check_many = check_ns(few[0]);
    let check_many_new = check_ns(&words[n - 1]);

    println!("registration of {n} events (u64, u32, string):");
    println!(
        "  user_events: cotrace {:.1} ms, raw DIAG_IOCSREG loop {:.1} ms",
        ms(ct_ns),
        ms(raw_ns)
    );
    println!(
        "  LTTng: cotrace register_provider {:.1} ms, C provider dlopen {:.1} ms",
        ms(ust_ns),
        ms(c_ns)
    );
    println!(
        "  disabled check: {check_few:.3} ns/iteration with 10 events, {check_many:.3} with {n} \
         more ({check_many_new:.3} on the last one registered)"
    );
    println!("@result reg.events {n}");
    println!("@result reg.raw_kernel_ms {:.2}", ms(raw_ns));
    println!("@result reg.cotrace_kernel_ms {:.2}", ms(ct_ns));
    println!("@result reg.c_lttng_ms {:.2}", ms(c_ns));
    println!("@result reg.cotrace_lttng_ms {:.2}", ms(ust_ns));
    println!("@result reg.check_few_ns {check_few:.4}");
    println!("@result reg.check_many_ns {check_many:.4}");
    println!("@result reg.check_many_last_ns {check_many_new:.4}");
    if kernel {
        println!(
            "@result reg.kernel_chunk_ratio_median {:.4}",
            median_chunk_ratio(&ct_side, &raw_side)
        );
        raw_side.print("raw_kernel");
        ct_side.print("cotrace_kernel");
    }
    drop(keep_kernel);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs benches once in test mode.
    if args.iter().any(|a| a == "--test") {
        return ExitCode::SUCCESS;
    }
    let result = match args.iter().position(|a| a == "--build-c") {
        Some(p) => match args.get(p + 1) {
            Some(dir) => build_c(Path::new(dir), events()).map(|so| println!("{}", so.display())),
            None => Err("--build-c DIR".into()),
        },
        None => match args.iter().position(|a| a == "--c-provider") {
            Some(p) => run(Path::new(args.get(p + 1).map_or("", |s| s.as_str()))),
            None => Err("usage: registration --build-c DIR | --c-provider SO".into()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registration: {e}");
            ExitCode::FAILURE
        }
    }
}
