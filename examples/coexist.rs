//! The traced app of the coexistence matrix and soak (`tests/coexistence.rs`): one event,
//! `cx:tick` (`cx_tick` for the kernel), fired on command. It uses only cotrace's public API and
//! obeys commands read line by line from stdin, answering each with one line on stdout:
//!
//! | command | reply |
//! | --- | --- |
//! | `init` | calls `cotrace::init()`: `init kernel=<registration> lttng=<registration>` |
//! | `word` | the word as `cotrace::status()` shows it: `word raw=0x.. kernel=0/1 users=N reserved=0` |
//! | `wait K U MS` | waits (up to MS ms) until the kernel bit is K and the user count U: `ok raw=..` or `timeout raw=..` |
//! | `fire N T TAG` | fires N events with tag TAG from T threads (1: this thread; 2: two new threads, N each): `fired N` |
//! | `fork N K U TAG [GO]` | forks a child that (if GO is given, waits for file GO to exist, then) waits for its own word to be (K, U), then fires N: `forked pid=P` |
//! | `exec N K U TAG` | forks and execs this program as a new image that registers its own events, waits for (K, U), fires N |
//! | `reap` | waits for every child: `reaped pid=P exit=E ...` (exit 0: fired; 3: word never settled; 4: word not 0 before init) |
//! | `soak start US` | forks a child emitter, then starts two emitter threads, each firing every US µs: `soak started child=P` |
//! | `soak pause` / `soak resume` | pauses (every emitter acknowledged) or resumes them; pause replies with the counters |
//! | `soak word` | the parent's and the child's words: `soak parent=0x.. child=0x..` |
//! | `soak stop` | stops the emitters and reaps the child: `stopped child_exit=E` plus the counters |
//! | `status` | `cotrace::status()` on one line |
//! | `quit` | exits |
//!
//! Payload: `seq` counts up per emitter from `thread * 1_000_000`, `pid` is the emitting
//! process, `thread` the emitter (0 for the main thread, 1 and 2 for the fire threads), `ok` is
//! `seq % 2 == 0`, `tag` the command's tag.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

cotrace::provider! {
    /// The coexistence matrix's app.
    pub mod cx {
        /// One firing.
        #[level(info)]
        fn tick(seq: u64, pid: u32, thread: u32, ok: bool, tag: &str);
    }
}

fn word() -> cotrace::WordSnapshot {
    cotrace::status()
        .events
        .iter()
        .find(|e| e.lttng_name == "cx:tick")
        .map(|e| e.word)
        .unwrap_or_default()
}

fn describe(w: cotrace::WordSnapshot) -> String {
    format!(
        "raw={:#x} kernel={} users={} reserved={}",
        w.raw(),
        u8::from(w.kernel_enabled()),
        w.users(),
        w.reserved()
    )
}

fn settled(w: cotrace::WordSnapshot, kernel: bool, users: u32) -> bool {
    w.kernel_enabled() == kernel && w.users() == users && w.reserved() == 0
}

/// Waits (bounded) until the word is (kernel, users).
fn wait_word(kernel: bool, users: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if settled(cx::tick.event().snapshot(), kernel, users) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn fire(n: u64, thread: u32, tag: &str) {
    let pid = std::process::id();
    let base = u64::from(thread) * 1_000_000;
    for i in 0..n {
        let seq = base + i;
        cotrace::fire!(cx::tick(seq, pid, thread, seq % 2 == 0, tag));
    }
}

/// The forked or exec'd child: wait for the word, fire, exit with a code that says how it went.
fn child_body(n: u64, kernel: bool, users: u32, tag: &str) -> i32 {
    if !wait_word(kernel, users, Duration::from_secs(60)) {
        eprintln!(
            "coexist child {}: word never became kernel={} users={users}: {}",
            std::process::id(),
            u8::from(kernel),
            describe(cx::tick.event().snapshot())
        );
        return 3;
    }
    fire(n, 0, tag);
    0
}

fn parse<T: std::str::FromStr>(s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| panic!("coexist: bad number {s:?}"))
}

/// Shared (MAP_SHARED) counters of the soak's emitters: the parent's two threads and the child.
struct Soak {
    shm: &'static [AtomicU64; SHM_SLOTS],
    threads: Vec<std::thread::JoinHandle<()>>,
    child: libc::pid_t,
}

const SHM_SLOTS: usize = 32;
const CTL: usize = 0; // 0 run, 1 pause, 2 stop
const EPOCH: usize = 1;
const ACK: usize = 2; // + emitter (0, 1: threads; 2: child)
const FIRED: usize = 5; // + emitter
const ENABLED: usize = 8; // + emitter: fired while an LTTng session or trigger wanted the event
const INVALID: usize = 11; // + emitter: word had bits outside bit 31 and the count
const CHILD_WORD: usize = 14;
const MAX_USERS: usize = 15; // the largest LTTng count any emitter read
const EMITTERS: usize = 3;

fn shared_counters() -> &'static [AtomicU64; SHM_SLOTS] {
    // SAFETY: an anonymous shared mapping of one page, never unmapped, so the reference lives
    // for the process (and its forked child, which shares the page); zeroed memory is a valid
    // array of AtomicU64, page-aligned.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert!(p != libc::MAP_FAILED, "mmap failed");
        &*(p as *const [AtomicU64; SHM_SLOTS])
    }
}

fn emitter(shm: &'static [AtomicU64; SHM_SLOTS], me: usize, interval: Duration) {
    let pid = std::process::id();
    let mut seq = me as u64 * 1_000_000;
    let ev = cx::tick.event();
    loop {
        if me == 2 {
            shm[CHILD_WORD].store(u64::from(ev.snapshot().raw()), Ordering::SeqCst);
        }
        match shm[CTL].load(Ordering::SeqCst) {
            2 => return,
            1 => {
                shm[ACK + me].store(shm[EPOCH].load(Ordering::SeqCst), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            _ => {}
        }
        let s = ev.snapshot();
        if s.reserved() != 0 {
            shm[INVALID + me].fetch_add(1, Ordering::SeqCst);
        }
        if s.users_enabled() {
            shm[ENABLED + me].fetch_add(1, Ordering::SeqCst);
        }
        shm[MAX_USERS].fetch_max(u64::from(s.users()), Ordering::SeqCst);
        cotrace::fire!(cx::tick(seq, pid, me as u32, seq.is_multiple_of(2), "soak"));
        shm[FIRED + me].fetch_add(1, Ordering::SeqCst);
        seq += 1;
        std::thread::sleep(interval);
    }
}

impl Soak {
    fn start(interval: Duration) -> Soak {
        let shm = shared_counters();
        // Fork first, while this process has one thread.
        // SAFETY: the child runs the emitter loop (atomics, sleeps, cotrace::fire!) and exits
        // with _exit; LTTng's fork hooks are cotrace's business.
        let child = unsafe { libc::fork() };
        if child == 0 {
            emitter(shm, 2, interval);
            // SAFETY: ends the child without the parent's exit handlers.
            unsafe { libc::_exit(0) };
        }
        let threads = (0..2)
            .map(|me| std::thread::spawn(move || emitter(shm, me, interval)))
            .collect();
        Soak {
            shm,
            threads,
            child,
        }
    }

    fn counters(&self) -> String {
        let sum = |base: usize| -> u64 {
            (0..EMITTERS)
                .map(|i| self.shm[base + i].load(Ordering::SeqCst))
                .sum()
        };
        format!(
            "fired={} enabled_fired={} invalid={} max_users={}",
            sum(FIRED),
            sum(ENABLED),
            sum(INVALID),
            self.shm[MAX_USERS].load(Ordering::SeqCst)
        )
    }

    fn pause(&self) -> String {
        let epoch = self.shm[EPOCH].fetch_add(1, Ordering::SeqCst) + 1;
        self.shm[CTL].store(1, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(30);
        while (0..EMITTERS).any(|i| self.shm[ACK + i].load(Ordering::SeqCst) != epoch) {
            if Instant::now() > deadline {
                return "pause timeout".into();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        format!("paused {}", self.counters())
    }

    fn stop(mut self) -> String {
        self.shm[CTL].store(2, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let mut status = 0;
        // SAFETY: waits for the child this object forked; `status` is a valid out-pointer.
        unsafe { libc::waitpid(self.child, &mut status, 0) };
        let exit = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        };
        format!("stopped child_exit={exit} {}", self.counters())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 6 && args[1] == "--exec-child" {
        // The new image after exec: nothing of the parent's registrations survives, so the word
        // is 0 until this image registers its own events.
        if cx::tick.event().snapshot().raw() != 0 {
            eprintln!("coexist exec child: word not 0 before init");
            std::process::exit(4);
        }
        cotrace::init();
        let code = child_body(parse(&args[2]), &args[3] == "1", parse(&args[4]), &args[5]);
        std::process::exit(code);
    }

    let mut out = std::io::stdout();
    let mut children: Vec<libc::pid_t> = vec![];
    let mut soak: Option<Soak> = None;
    writeln!(out, "ready {}", std::process::id()).unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["init"] => {
                let s = cotrace::init();
                let e = s.events.iter().find(|e| e.lttng_name == "cx:tick").unwrap();
                format!("init kernel={} lttng={}", e.kernel, e.lttng)
            }
            ["word"] => format!("word {}", describe(word())),
            ["wait", k, u, ms] => {
                let (k, u): (bool, u32) = (*k == "1", parse(u));
                if wait_word(k, u, Duration::from_millis(parse(ms))) {
                    format!("ok {}", describe(word()))
                } else {
                    format!("timeout {}", describe(word()))
                }
            }
            ["fire", n, t, tag] => {
                let (n, t): (u64, u32) = (parse(n), parse(t));
                if t <= 1 {
                    fire(n, 0, tag);
                } else {
                    std::thread::scope(|s| {
                        for thread in 1..=t {
                            s.spawn(move || fire(n, thread, tag));
                        }
                    });
                }
                format!("fired {}", n * u64::from(t.max(1)))
            }
            ["fork", n, k, u, tag, go @ ..] => {
                let go = go.first().map(std::path::PathBuf::from);
                // SAFETY: the child only waits, fires and leaves with _exit.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    if let Some(go) = go {
                        // Fire only once the test says the session records here: LTTng counts
                        // a session in (probe attached) one sessiond round trip before it
                        // records (lttng_session_enable); the test waits for this child to be
                        // listed by the daemon, which implies the latter.
                        let deadline = Instant::now() + Duration::from_secs(60);
                        while !go.exists() && Instant::now() < deadline {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                    let code = child_body(parse(n), *k == "1", parse(u), tag);
                    // SAFETY: ends the child without the parent's exit handlers.
                    unsafe { libc::_exit(code) };
                }
                children.push(pid);
                format!("forked pid={pid}")
            }
            ["exec", n, k, u, tag] => {
                // fork, then exec: the forked copy holds the parent's registrations until exec
                // drops them; the new image registers its own.
                let exe = std::ffi::CString::new(
                    std::env::current_exe()
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                )
                .unwrap();
                let argv: Vec<std::ffi::CString> = [&args[0][..], "--exec-child", n, k, u, tag]
                    .iter()
                    .map(|a| std::ffi::CString::new(*a).unwrap())
                    .collect();
                let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
                ptrs.push(std::ptr::null());
                // SAFETY: the child only calls execv with the prepared, NUL-terminated argument
                // vector (allocated before fork) and _exit if that fails.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    // SAFETY: see above; both pointers are valid for the call.
                    unsafe {
                        libc::execv(exe.as_ptr(), ptrs.as_ptr());
                        libc::_exit(127);
                    }
                }
                children.push(pid);
                format!("forked pid={pid}")
            }
            ["reap"] => {
                let mut parts = vec!["reaped".to_string()];
                for pid in children.drain(..) {
                    let mut status = 0;
                    // SAFETY: waits for a child this process created; valid out-pointer.
                    unsafe { libc::waitpid(pid, &mut status, 0) };
                    let exit = if libc::WIFEXITED(status) {
                        libc::WEXITSTATUS(status)
                    } else {
                        128 + libc::WTERMSIG(status)
                    };
                    parts.push(format!("pid={pid} exit={exit}"));
                }
                parts.join(" ")
            }
            ["soak", "start", us] => {
                let s = Soak::start(Duration::from_micros(parse(us)));
                let reply = format!("soak started child={}", s.child);
                soak = Some(s);
                reply
            }
            ["soak", "pause"] => soak.as_ref().map_or("error no soak".into(), Soak::pause),
            ["soak", "resume"] => match &soak {
                Some(s) => {
                    s.shm[CTL].store(0, Ordering::SeqCst);
                    "resumed".into()
                }
                None => "error no soak".into(),
            },
            ["soak", "word"] => match &soak {
                Some(s) => format!(
                    "soak parent={:#x} child={:#x}",
                    cx::tick.event().snapshot().raw(),
                    s.shm[CHILD_WORD].load(Ordering::SeqCst)
                ),
                None => "error no soak".into(),
            },
            ["soak", "stop"] => soak.take().map_or("error no soak".into(), Soak::stop),
            ["status"] => cotrace::status().to_string().replace('\n', " | "),
            ["quit"] => break,
            _ => format!("error unknown command {line:?}"),
        };
        writeln!(out, "{reply}").unwrap();
        out.flush().unwrap();
    }
    if let Some(s) = soak.take() {
        s.stop();
    }
}
