//! What the facade (`cotrace::fire!`) costs on top of the adapters when events are enabled, in
//! one run, reported as ratios (facade / direct).
//!
//! Two identical events (`u64 n; u32 k; &str msg` with the 12-byte `"hello, world"`):
//! - `benchfacade:ev` (kernel `benchfacade_ev`), declared with `cotrace::provider!`, registered
//!   by `cotrace::init()` and fired with `cotrace::fire!`;
//! - `benchdirect:ev` (kernel `benchdirect_ev`), its own `static EnableWord` registered by hand
//!   with `cotrace_kernel::register` and `cotrace_ust::register_provider`, fired by a loop that
//!   does by hand what a two-tracer call site must do: one relaxed load of the word, and when it
//!   is non-zero an out-of-line call that reads the word once and calls
//!   `Registration::write_typed` (bit 31 set) and `EventHandle::fire_enabled` (LTTng count non-zero)
//!   with adapter values built directly, no conversion;
//! - the leanest peers, in C (`ust-side/benches/c/bench_tp.c`, loaded with dlopen): a
//!   `lttng_ust_tracepoint` of `bench_c:ev` and, while its own enable word's bit 31 is set, a
//!   hand-written user_events event (`benchc_ev`, its own descriptor and `DIAG_IOCSREG`) written
//!   with one `writev` of a header built on the stack plus the string. What "both tracers at
//!   once" costs without cotrace, so the "both" row can be compared with the sum of its parts
//!   for the peers too.
//!
//! Rows: disabled, LTTng only, kernel (ftrace) only, both. Before each row the bench switches
//! the tracers itself (`lttng start`/`lttng stop` on a snapshot session it creates, and
//! `<tracefs>/events/user_events/NAME/enable`) and waits, bounded, until both words show the
//! expected state. Rounds alternate facade, direct and peers, and the enabled rows' rounds are
//! interleaved across the three states; the median ns per call of each is reported with the
//! ratios (and, for scripts/bench.sh, the fastest round). Afterwards one more firing of each,
//! with both tracers on, is looked up in ftrace's `trace` and in an LTTng snapshot
//! (babeltrace2): no check, no numbers.
//!
//! Needs a kernel with user_events (root) and a reachable `lttng-sessiond`:
//! `scripts/bench-facade.sh` provides both (in the VM unless this host has user_events). If
//! either tracer is missing, the bench says so and exits non-zero without printing numbers.
//! Environment: `COTRACE_BENCH_ITERS` (enabled rows, default 20000), `COTRACE_BENCH_ROUNDS`
//! (default 7), `COTRACE_BENCH_C_PROVIDER` (the C peers prebuilt; otherwise built with `cc`).

use std::ffi::{CString, c_char, c_int};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{Ordering, compiler_fence};
use std::time::{Duration, Instant};

use cotrace::cotrace_kernel::{self, EventFormat, FieldType, Registration};
use cotrace::cotrace_ust::{self, EventHandle, EventSpec, FieldSpec, Loglevel};
use cotrace::{EnableWord, WordSnapshot};

cotrace::provider! {
    /// The facade's side of the benchmark.
    pub mod benchfacade {
        /// The benchmarked event.
        #[level(info)]
        fn ev(n: u64, k: u32, msg: &str);
    }
}

#[path = "../ust-side/benches/c/provider.rs"]
mod c_provider;

const MSG: &str = "hello, world";
const MSG_C: &std::ffi::CStr = c"hello, world";
const SESSION: &str = "cotrace_facade_bench";
const FACADE_KERNEL: &str = "benchfacade_ev";
const DIRECT_KERNEL: &str = "benchdirect_ev";
const PEERS_KERNEL: &str = "benchc_ev";

static DIRECT_WORD: EnableWord = EnableWord::new();
static DIRECT_SPEC: EventSpec = EventSpec {
    provider: "benchdirect",
    event: "ev",
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
    word: &DIRECT_WORD,
};

/// The hand-registered event: its kernel registration and its LTTng handle.
struct Direct {
    kernel: Registration,
    lttng: EventHandle,
    /// Keeps the provider registered (dropping it unregisters) while `lttng` is used.
    _provider: cotrace_ust::Provider,
}

/// The C peers (`bench_tp.c`): the functions the bench calls, and the library that holds them.
struct Peers {
    /// `bench_c_pair_loop(iters, msg)`: the tracepoint, then the user_events write when enabled.
    pair_loop: unsafe extern "C" fn(u64, *const c_char),
    /// `bench_c_pair_word()`: the pair's user_events enable word.
    pair_word: unsafe extern "C" fn() -> u32,
    /// `bench_c_enabled()`: whether a session has the tracepoint enabled.
    lttng_enabled: unsafe extern "C" fn() -> c_int,
    /// Keeps the functions above loaded.
    _lib: libloading::Library,
}

/// The C function `name` of `lib`.
///
/// # Safety
/// `T` must be the function's type.
unsafe fn c_symbol<T: Copy>(lib: &libloading::Library, name: &str) -> Result<T, String> {
    let name = CString::new(name).map_err(|e| e.to_string())?;
    // SAFETY: the caller vouches for `T`.
    unsafe { lib.get::<T>(name.as_bytes_with_nul()) }
        .map(|f| *f)
        .map_err(|e| format!("C peers: {e}"))
}

impl Peers {
    /// Loads the C provider (its constructor registers `bench_c` with liblttng-ust) and
    /// registers its user_events event through `<tracefs>/user_events_data`.
    fn load(tracefs: &Path) -> Result<Peers, String> {
        let so = c_provider::build_c_provider(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("ust-side/benches/c"),
        );
        type Register = unsafe extern "C" fn(*const c_char, *const c_char) -> c_int;
        // SAFETY: loading runs the provider's constructor, which registers its probe with
        // liblttng-ust (its dependency); the four symbols have the types bench_tp.c declares.
        let (peers, register) = unsafe {
            let lib =
                libloading::Library::new(&so).map_err(|e| format!("load the C peers: {e}"))?;
            let register: Register = c_symbol(&lib, "bench_c_pair_register")?;
            let peers = Peers {
                pair_loop: c_symbol(&lib, "bench_c_pair_loop")?,
                pair_word: c_symbol(&lib, "bench_c_pair_word")?,
                lttng_enabled: c_symbol(&lib, "bench_c_enabled")?,
                _lib: lib,
            };
            (peers, register)
        };
        let _ = std::fs::remove_file(&so);
        let data = CString::new(
            tracefs
                .join("user_events_data")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .map_err(|e| e.to_string())?;
        let args = CString::new(format!(
            "{PEERS_KERNEL} u64 n; u32 k; __data_loc char[] msg"
        ))
        .map_err(|e| e.to_string())?;
        // SAFETY: two NUL-terminated strings that outlive the call (the kernel copies name_args).
        let ret = unsafe { register(data.as_ptr(), args.as_ptr()) };
        if ret != 0 {
            return Err(format!(
                "register {PEERS_KERNEL} with user_events: {}",
                std::io::Error::from_raw_os_error(-ret)
            ));
        }
        Ok(peers)
    }

    fn kernel_enabled(&self) -> bool {
        // SAFETY: reads the pair's word, no arguments.
        unsafe { (self.pair_word)() & (1 << 31) != 0 }
    }

    fn lttng_enabled(&self) -> bool {
        // SAFETY: reads the tracepoint's state, no arguments.
        unsafe { (self.lttng_enabled)() != 0 }
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[inline(never)]
fn facade_loop(iters: u64) {
    for i in 0..iters {
        cotrace::fire!(benchfacade::ev(i, i as u32, black_box(MSG)));
        compiler_fence(Ordering::SeqCst);
    }
}

#[inline(never)]
fn direct_loop(direct: &Direct, iters: u64) {
    for i in 0..iters {
        if DIRECT_WORD.is_enabled() {
            direct_fire(direct, i);
        }
        compiler_fence(Ordering::SeqCst);
    }
}

#[inline(never)]
fn peers_loop(peers: &Peers, iters: u64) {
    // SAFETY: the C loop takes an iteration count and a NUL-terminated string.
    unsafe { (peers.pair_loop)(iters, MSG_C.as_ptr()) }
}

/// The enabled path, out of line like the facade's `__emit`.
#[cold]
#[inline(never)]
fn direct_fire(direct: &Direct, i: u64) {
    let msg = black_box(MSG);
    let state = DIRECT_WORD.snapshot();
    if state.kernel_enabled() {
        // The adapter's path for values whose types are known (what `fire!` calls).
        let _ = direct.kernel.write_typed(&[
            cotrace_kernel::Value::U64(i),
            cotrace_kernel::Value::U32(i as u32),
            cotrace_kernel::Value::Str(msg),
        ]);
    }
    if state.users_enabled() {
        let _ = direct.lttng.fire_enabled(&[
            cotrace_ust::Value::U64(i),
            cotrace_ust::Value::U32(i as u32),
            cotrace_ust::Value::Str(msg),
        ]);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// ns per call of the facade, the direct calls and the C peers, in one round.
#[derive(Clone, Copy)]
struct Round {
    facade: f64,
    direct: f64,
    peers: f64,
}

/// One round: a warm-up (caches, ring buffers, the kernel's first-write paths), then ns per
/// call of the facade, the direct calls and the peers, one after the other.
fn one_round(direct: &Direct, peers: &Peers, iters: u64) -> Round {
    facade_loop(iters / 10 + 1);
    direct_loop(direct, iters / 10 + 1);
    peers_loop(peers, iters / 10 + 1);
    let per_call = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        t.elapsed().as_nanos() as f64 / iters as f64
    };
    Round {
        facade: per_call(&|| facade_loop(iters)),
        direct: per_call(&|| direct_loop(direct, iters)),
        peers: per_call(&|| peers_loop(peers, iters)),
    }
}

/// `rounds` rounds.
fn measure(direct: &Direct, peers: &Peers, iters: u64, rounds: usize) -> Vec<Round> {
    (0..rounds)
        .map(|_| one_round(direct, peers, iters))
        .collect()
}

fn lttng(args: &[&str]) -> Result<(), String> {
    let out = Command::new("lttng")
        .arg("--no-sessiond")
        .args(args)
        .output()
        .map_err(|e| format!("lttng {}: {e}", args.join(" ")))?;
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

fn set_ftrace(tracefs: &Path, name: &str, on: bool) -> Result<(), String> {
    let path = tracefs.join("events/user_events").join(name).join("enable");
    std::fs::write(&path, if on { "1" } else { "0" })
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Waits (at most 10 s) until both words satisfy `want` and the peers show the same state
/// (`lttng_on`, `kernel_on`).
fn wait_words(
    what: &str,
    peers: &Peers,
    (lttng_on, kernel_on): (bool, bool),
    want: impl Fn(WordSnapshot) -> bool,
) -> Result<(), String> {
    let facade = benchfacade::ev.event();
    let start = Instant::now();
    loop {
        let (f, d) = (facade.snapshot(), DIRECT_WORD.snapshot());
        let (pl, pk) = (peers.lttng_enabled(), peers.kernel_enabled());
        if want(f) && want(d) && pl == lttng_on && pk == kernel_on {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err(format!(
                "timed out waiting for {what}: facade word {:#010x} (kernel {}, lttng {}), \
                 direct word {:#010x} (kernel {}, lttng {}), C peers (kernel {pk}, lttng {pl})",
                f.raw(),
                f.kernel_enabled(),
                f.users(),
                d.raw(),
                d.kernel_enabled(),
                d.users()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Puts both events in the given state: LTTng session started or stopped (`session_active`
/// tracks it: `lttng` refuses to start a started session or stop a stopped one), ftrace on or off.
fn switch(
    tracefs: &Path,
    peers: &Peers,
    session_active: &mut bool,
    lttng_on: bool,
    kernel_on: bool,
) -> Result<(), String> {
    for name in [FACADE_KERNEL, DIRECT_KERNEL, PEERS_KERNEL] {
        set_ftrace(tracefs, name, kernel_on)?;
    }
    if *session_active != lttng_on {
        lttng(&[if lttng_on { "start" } else { "stop" }, SESSION])?;
        *session_active = lttng_on;
    }
    wait_words(
        &format!(
            "LTTng {}, kernel {}",
            if lttng_on { "on" } else { "off" },
            if kernel_on { "on" } else { "off" }
        ),
        peers,
        (lttng_on, kernel_on),
        |w| w.kernel_enabled() == kernel_on && w.users_enabled() == lttng_on,
    )
}

/// With both tracers on: fires each event once more and checks that ftrace and LTTng recorded
/// each, so the timings above are of calls that reached the tracers.
fn check_recorded(tracefs: &Path, direct: &Direct, peers: &Peers) -> Result<(), String> {
    let trace = tracefs.join("trace");
    std::fs::write(&trace, "").map_err(|e| format!("clear {}: {e}", trace.display()))?;
    facade_loop(1);
    direct_loop(direct, 1);
    peers_loop(peers, 1);
    let ftrace =
        std::fs::read_to_string(&trace).map_err(|e| format!("read {}: {e}", trace.display()))?;
    let dir = std::env::temp_dir().join(format!("cotrace-facade-bench-{}", std::process::id()));
    let url = format!("file://{}", dir.display());
    lttng(&["snapshot", "record", "-s", SESSION, &url])?;
    let out = Command::new("babeltrace2")
        .arg(&dir)
        .output()
        .map_err(|e| format!("babeltrace2: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    let ctf = String::from_utf8_lossy(&out.stdout);
    for (tracer, text, name) in [
        ("ftrace", &*ftrace, "benchfacade_ev:"),
        ("ftrace", &*ftrace, "benchdirect_ev:"),
        ("LTTng", &*ctf, "benchfacade:ev:"),
        ("LTTng", &*ctf, "benchdirect:ev:"),
        ("ftrace", &*ftrace, "benchc_ev:"),
        ("LTTng", &*ctf, "bench_c:ev:"),
    ] {
        if !text.contains(name) {
            return Err(format!("{tracer} did not record {name}"));
        }
    }
    Ok(())
}

fn report(row: &str, rounds: &[Round]) {
    let pick = |f: fn(&Round) -> f64| rounds.iter().map(f).collect::<Vec<_>>();
    let (f, d, p) = (pick(|r| r.facade), pick(|r| r.direct), pick(|r| r.peers));
    let (facade, direct, peers) = (median(f.clone()), median(d.clone()), median(p.clone()));
    println!(
        "{row:<22} {facade:>12.1} {direct:>12.1} {peers:>12.1} {:>12.3}x {:>12.3}x",
        facade / direct,
        facade / peers
    );
    // For scripts/bench.sh: `disabled`, `lttng`, `kernel`, `both`; medians and fastest rounds.
    let key = row.split(' ').next().unwrap_or(row).to_lowercase();
    let min = |v: &Vec<f64>| v.iter().copied().fold(f64::INFINITY, f64::min);
    for (side, median, samples) in [
        ("facade", facade, &f),
        ("direct", direct, &d),
        ("peers", peers, &p),
    ] {
        println!("@result facade.{key}.{side}_ns {median:.2}");
        println!("@result facade.{key}.{side}_min_ns {:.2}", min(samples));
    }
}

fn setup() -> Result<(PathBuf, Direct, Peers), String> {
    let status = cotrace::init();
    eprint!("{status}");
    if !status.kernel.available {
        return Err(format!(
            "kernel tracer unavailable: {}",
            status.kernel.detail
        ));
    }
    if !status.lttng.available {
        return Err(format!("LTTng unavailable: {}", status.lttng.detail));
    }
    for event in &status.events {
        if event.kernel != cotrace::Registration::Registered
            || event.lttng != cotrace::Registration::Registered
        {
            return Err(format!(
                "{} not registered with both tracers: kernel {:?}, lttng {:?}",
                event.lttng_name, event.kernel, event.lttng
            ));
        }
    }
    let tracefs = cotrace_kernel::availability()
        .map_err(|e| format!("user_events: {e}"))?
        .to_path_buf();
    let format = EventFormat::with_fields(
        DIRECT_KERNEL,
        &[
            ("n", FieldType::U64),
            ("k", FieldType::U32),
            ("msg", FieldType::Str),
        ],
    )
    .map_err(|e| e.to_string())?;
    let kernel = cotrace_kernel::register(&DIRECT_WORD, format)
        .map_err(|e| format!("register {DIRECT_KERNEL} with user_events: {e}"))?;
    let provider = cotrace_ust::register_provider("benchdirect", &[&DIRECT_SPEC])
        .map_err(|e| format!("register benchdirect with LTTng: {e}"))?;
    if !provider.is_registered_with_lttng() {
        return Err("benchdirect: liblttng-ust did not take the provider".into());
    }
    let handle = provider.events()[0];
    let peers = Peers::load(&tracefs)?;
    lttng(&["list"]).map_err(|e| format!("no session daemon reachable ({e})"))?;
    lttng(&["create", SESSION, "--snapshot"])?;
    lttng(&[
        "enable-event",
        "-u",
        "benchfacade:ev,benchdirect:ev,bench_c:ev",
        "-s",
        SESSION,
    ])?;
    Ok((
        tracefs,
        Direct {
            kernel,
            lttng: handle,
            _provider: provider,
        },
        peers,
    ))
}

fn run() -> Result<(), String> {
    let (tracefs, direct, peers) = setup()?;
    let iters = env_or("COTRACE_BENCH_ITERS", 20_000) as u64;
    let rounds = env_or("COTRACE_BENCH_ROUNDS", 7).max(1);

    // Measure every row first, print after: a failure prints no numbers.
    let mut rows = Vec::new();
    let mut active = false;
    switch(&tracefs, &peers, &mut active, false, false)?;
    rows.push(("disabled", measure(&direct, &peers, iters * 50, rounds)));
    // The enabled rows are interleaved: each round visits the three states (order rotated),
    // so a change in the machine's load hits all three alike and "both" can be compared with
    // "LTTng only" + "kernel only".
    let states = [
        ("LTTng only", true, false),
        ("kernel (ftrace) only", false, true),
        ("both", true, true),
    ];
    let mut samples: Vec<Vec<Round>> = vec![vec![]; states.len()];
    for round in 0..rounds {
        for k in 0..states.len() {
            let i = (k + round) % states.len();
            let (_, lttng_on, kernel_on) = states[i];
            switch(&tracefs, &peers, &mut active, lttng_on, kernel_on)?;
            samples[i].push(one_round(&direct, &peers, iters));
        }
    }
    for ((row, _, _), times) in states.iter().zip(samples) {
        rows.push((row, times));
    }
    switch(&tracefs, &peers, &mut active, true, true)?;
    check_recorded(&tracefs, &direct, &peers)?;
    switch(&tracefs, &peers, &mut active, false, false)?;
    lttng(&["destroy", SESSION])?;

    println!(
        "facade fire! vs direct adapter calls vs the C peers, u64 + u32 + 12-byte string; \
         median of {rounds} alternating rounds, {iters} calls per round ({} disabled)",
        iters * 50
    );
    println!(
        "{:<22} {:>12} {:>12} {:>12} {:>13} {:>13}",
        "enabled tracers", "facade ns", "direct ns", "C peers ns", "facade/direct", "facade/peers"
    );
    for (row, times) in &rows {
        report(row, times);
    }
    // Both tracers against the sum of each alone, by the medians: the facade, the direct calls
    // and the peers (what running the two tracers' code back to back costs without cotrace).
    let med = |row: usize, f: fn(&Round) -> f64| median(rows[row].1.iter().map(f).collect());
    for (side, f) in [
        ("facade", (|r: &Round| r.facade) as fn(&Round) -> f64),
        ("direct", |r| r.direct),
        ("C peers", |r| r.peers),
    ] {
        println!(
            "{side:<8} both / (LTTng only + kernel only) = {:.3}",
            med(3, f) / (med(1, f) + med(2, f))
        );
    }
    println!(
        "checked: ftrace and LTTng each recorded all three events (a last firing with both on)"
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("facade_enabled: {why}");
            let _ = lttng(&["destroy", SESSION]);
            ExitCode::FAILURE
        }
    }
}
