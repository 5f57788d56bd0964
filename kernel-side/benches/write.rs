//! The enabled write path, against a raw `writev` of the same payload (what hand-written C
//! does) and Microsoft's `tracepoint` crate, in the same run, on a kernel with user_events
//! (scripts/bench-kernel.sh runs it in the VM). All three events are enabled with ftrace, so
//! every write lands in the trace ring buffer.
//!
//! cotrace: `Registration::write_typed` (what `fire!` of a `provider!` event calls) and
//! `Registration::write` (events defined at run time, every value checked).
//!
//! Event: `u32 a; u64 b; __data_loc char[] s` with `s = "hello world"` (28-byte payload + 4-byte
//! write index). Baselines:
//! - `raw writev (2 iovecs)`: header (index, a, b, data_loc) prebuilt in one buffer + the string
//!   with its NUL: the least a C caller can do;
//! - `raw writev (5 iovecs)`: one iovec per field, as C code usually does;
//! - `tracepoint crate`: `TracepointState::write` with one descriptor per field.
//!
//! Each variant runs `ITERS` writes per round, rounds interleaved, median of rounds reported.
//! Environment: `COTRACE_BENCH_ITERS`, `COTRACE_BENCH_ROUNDS`.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::hint::black_box;
use std::path::Path;
use std::pin::{Pin, pin};
use std::time::Instant;

use cotrace_kernel::{EventFormat, FieldType, Value, WriteOutcome};
use cotrace_word::EnableWord;
use tracepoint::{EventDataDescriptor, TracepointState};

const S: &str = "hello world";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn enable(tracefs: &Path, name: &str, on: bool) {
    let path = tracefs.join("events/user_events").join(name).join("enable");
    std::fs::write(&path, if on { "1" } else { "0" })
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn wait(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed().as_secs() < 10,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The hand-written C equivalent: its own descriptor, registration and iovecs.
struct Raw {
    fd: libc::c_int,
    index: u32,
    enabled: &'static std::sync::atomic::AtomicU32,
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

impl Raw {
    fn register(tracefs: &Path, name_args: &str) -> Raw {
        let path = CString::new(tracefs.join("user_events_data").to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; plain open(2).
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        assert!(fd >= 0, "open user_events_data");
        let enabled: &'static std::sync::atomic::AtomicU32 =
            Box::leak(Box::new(std::sync::atomic::AtomicU32::new(0)));
        let args = CString::new(name_args).unwrap();
        let mut reg = UserReg {
            size: std::mem::size_of::<UserReg>() as u32,
            enable_bit: 31,
            enable_size: 4,
            flags: 0,
            enable_addr: enabled.as_ptr() as u64,
            name_args: args.as_ptr() as u64,
            write_index: 0,
        };
        let request = libc::_IOWR::<*mut UserReg>(b'*' as u32, 0);
        // SAFETY: DIAG_IOCSREG on a valid user_reg; the word is leaked ('static).
        let ret = unsafe { libc::ioctl(fd, request, &mut reg as *mut UserReg) };
        assert_eq!(ret, 0, "raw DIAG_IOCSREG");
        Raw {
            fd,
            index: reg.write_index,
            enabled,
        }
    }

    fn enabled(&self) -> bool {
        self.enabled.load(std::sync::atomic::Ordering::Relaxed) != 0
    }

    /// Header prebuilt by the caller: [index|a|b|data_loc] + string with NUL.
    #[inline(never)]
    fn write_packed(&self, a: u32, b: u64) -> isize {
        let mut header = [0u8; 20];
        header[..4].copy_from_slice(&self.index.to_ne_bytes());
        header[4..8].copy_from_slice(&a.to_ne_bytes());
        header[8..16].copy_from_slice(&b.to_ne_bytes());
        let len = S.len() as u32 + 1;
        header[16..20].copy_from_slice(&DATA_LOC.to_ne_bytes()); // data right after
        let iov = [
            libc::iovec {
                iov_base: header.as_ptr() as *mut _,
                iov_len: header.len(),
            },
            libc::iovec {
                iov_base: c"hello world".as_ptr() as *mut _,
                iov_len: len as usize,
            },
        ];
        // SAFETY: two valid iovecs over live buffers.
        unsafe { libc::writev(self.fd, iov.as_ptr(), 2) }
    }

    /// One iovec per field, as C code usually writes it.
    #[inline(never)]
    fn write_per_field(&self, a: u32, b: u64) -> isize {
        let len = S.len() as u32 + 1;
        let iov = [
            libc::iovec {
                iov_base: &self.index as *const u32 as *mut _,
                iov_len: 4,
            },
            libc::iovec {
                iov_base: &a as *const u32 as *mut _,
                iov_len: 4,
            },
            libc::iovec {
                iov_base: &b as *const u64 as *mut _,
                iov_len: 8,
            },
            libc::iovec {
                iov_base: &DATA_LOC as *const u32 as *mut _,
                iov_len: 4,
            },
            libc::iovec {
                iov_base: c"hello world".as_ptr() as *mut _,
                iov_len: len as usize,
            },
        ];
        // SAFETY: five valid iovecs over live values.
        unsafe { libc::writev(self.fd, iov.as_ptr(), 5) }
    }
}

/// The `__data_loc` word of `s`: its size, and its offset from the start of the kernel's record
/// (8-byte common header, then the 16-byte fixed part: the string follows it).
const DATA_LOC: u32 = ((S.len() as u32 + 1) << 16) | (8 + 16);

#[inline(never)]
fn write_tracepoint(tp: &TracepointState, a: u32, b: u64) -> i32 {
    let mut data = [
        EventDataDescriptor::zero(),
        EventDataDescriptor::from_value(&a),
        EventDataDescriptor::from_value(&b),
        EventDataDescriptor::from_value(&DATA_LOC),
        EventDataDescriptor::from_bytes(c"hello world".to_bytes_with_nul()),
    ];
    tp.write(&mut data)
}

/// The path of `provider!` events (`fire!`): types proven at compile time.
#[inline(never)]
fn write_cotrace(reg: &cotrace_kernel::Registration, a: u32, b: u64) -> bool {
    // As `fire!` does, only whether it went (the check write below asserts it was Written);
    // the `tracepoint` crate's variant returns its `i32` the same way.
    reg.write_typed(&[Value::U32(a), Value::U64(b), Value::Str(S)])
        .is_ok()
}

/// The path of events defined at run time: every value checked against the format.
#[inline(never)]
fn write_dynamic_checked(reg: &cotrace_kernel::Registration, a: u32, b: u64) -> bool {
    reg.write(&[Value::U32(a), Value::U64(b), Value::Str(S)]) == Ok(WriteOutcome::Written)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let tracefs = match cotrace_kernel::availability() {
        Ok(t) => t,
        Err(why) => {
            eprintln!(
                "SKIPPED benches/write.rs: {why} (scripts/bench-kernel.sh runs it in the VM)"
            );
            if std::env::var("COTRACE_REQUIRE_USER_EVENTS").is_ok_and(|v| v == "1") {
                std::process::exit(1);
            }
            return;
        }
    };
    let iters = env_or("COTRACE_BENCH_ITERS", 20_000);
    let rounds = env_or("COTRACE_BENCH_ROUNDS", 7);
    let pid = std::process::id();
    let fields = "u32 a; u64 b; __data_loc char[] s";

    // cotrace
    let ct_name = format!("bench_cotrace_{pid}");
    static WORD: EnableWord = EnableWord::new();
    let format = EventFormat::with_fields(
        &ct_name,
        &[
            ("a", FieldType::U32),
            ("b", FieldType::U64),
            ("s", FieldType::Str),
        ],
    )
    .unwrap();
    assert_eq!(format.as_str(), format!("{ct_name} {fields}"));
    let reg = cotrace_kernel::register(&WORD, format).expect("register cotrace event");

    // raw
    let raw_name = format!("bench_raw_{pid}");
    let raw = Raw::register(tracefs, &format!("{raw_name} {fields}"));

    // tracepoint crate
    let tp_name = format!("bench_tp_{pid}");
    let tp = pin!(TracepointState::new(0));
    let tp_args = CString::new(format!("{tp_name} {fields}")).unwrap();
    // SAFETY: `tp` is pinned on this stack frame and unregisters itself on drop at the end of
    // main, before its memory goes.
    let rc = unsafe { Pin::as_ref(&tp).register(&tp_args) };
    assert_eq!(rc, 0, "tracepoint register");

    for name in [&ct_name, &raw_name, &tp_name] {
        enable(tracefs, name, true);
    }
    wait("cotrace enable", || WORD.snapshot().kernel_enabled());
    wait("raw enable", || raw.enabled());
    wait("tracepoint enable", || tp.enabled());

    // Every variant must really record: one write each, then look in the trace.
    assert_eq!(
        reg.write_typed(&[Value::U32(1), Value::U64(2), Value::Str(S)]),
        Ok(WriteOutcome::Written)
    );
    assert!(write_cotrace(&reg, 1, 2));
    assert!(write_dynamic_checked(&reg, 1, 2));
    assert_eq!(raw.write_packed(1, 2), 32);
    assert_eq!(raw.write_per_field(1, 2), 32);
    assert_eq!(write_tracepoint(&tp, 1, 2), 0);
    let trace =
        String::from_utf8_lossy(&std::fs::read(tracefs.join("trace")).unwrap()).into_owned();
    for name in [&ct_name, &raw_name, &tp_name] {
        let line = trace
            .lines()
            .find(|l| l.contains(&format!(" {name}: ")))
            .unwrap_or_else(|| panic!("{name} not recorded"));
        assert!(line.contains("a=0x1 (1) b=0x2 (2) s=hello world"), "{line}");
    }

    type Variant<'a> = (&'static str, Box<dyn Fn(u32) + 'a>);
    let variants: Vec<Variant<'_>> = vec![
        (
            "cotrace write_typed (provider!)",
            Box::new(|i| {
                black_box(write_cotrace(&reg, black_box(i), black_box(u64::from(i))));
            }),
        ),
        (
            "cotrace write (checked, dynamic)",
            Box::new(|i| {
                black_box(write_dynamic_checked(
                    &reg,
                    black_box(i),
                    black_box(u64::from(i)),
                ));
            }),
        ),
        (
            "raw writev (2 iovecs, prebuilt)",
            Box::new(|i| {
                black_box(raw.write_packed(black_box(i), black_box(u64::from(i))));
            }),
        ),
        (
            "raw writev (5 iovecs)",
            Box::new(|i| {
                black_box(raw.write_per_field(black_box(i), black_box(u64::from(i))));
            }),
        ),
        (
            "tracepoint crate",
            Box::new(|i| {
                black_box(write_tracepoint(&tp, black_box(i), black_box(u64::from(i))));
            }),
        ),
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        // Rotate the order each round so no variant always runs first.
        for k in 0..variants.len() {
            let v = (k + round) % variants.len();
            let f = &variants[v].1;
            for i in 0..1000 {
                f(i); // warm-up
            }
            let start = Instant::now();
            for i in 0..iters as u32 {
                f(i);
            }
            samples[v].push(start.elapsed().as_nanos() as f64 / iters as f64);
        }
    }
    for name in [&ct_name, &raw_name, &tp_name] {
        enable(tracefs, name, false);
    }

    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    println!(
        "user_events enabled write, {iters} writes x {rounds} rounds, median ns/write (min..max):"
    );
    for ((name, _), (m, s)) in variants.iter().zip(medians.iter().zip(&samples)) {
        println!(
            "  {name:<34} {m:>9.1} ns   ({:.1}..{:.1})",
            s[0],
            s[s.len() - 1]
        );
    }
    let (ours, raw2, raw5, tpc) = (medians[0], medians[2], medians[3], medians[4]);
    // For scripts/bench.sh (`median` sorted the samples: the first is the fastest round).
    for (k, key) in ["cotrace", "checked", "raw2", "raw5", "tracepoint"]
        .iter()
        .enumerate()
    {
        println!("@result kernel.{key}_ns {:.1}", medians[k]);
        println!("@result kernel.{key}_min_ns {:.1}", samples[k][0]);
    }
    println!("ratios (lower is better for cotrace):");
    println!(
        "  cotrace / raw writev (2 iovecs) = {:.3}   (goal <= 1.1)",
        ours / raw2
    );
    println!("  cotrace / raw writev (5 iovecs) = {:.3}", ours / raw5);
    println!(
        "  cotrace / tracepoint crate      = {:.3}   (goal <= 1.0)",
        ours / tpc
    );

    // The disabled path for reference: bit 31 clear, nothing sent.
    wait("cotrace disable", || !WORD.snapshot().kernel_enabled());
    let start = Instant::now();
    for i in 0..iters as u32 {
        black_box(
            reg.write(&[Value::U32(black_box(i)), Value::U64(2), Value::Str(S)])
                .ok(),
        );
    }
    println!(
        "  (disabled: Registration::write returns NotEnabled in {:.1} ns)",
        start.elapsed().as_nanos() as f64 / iters as f64
    );
}
