//! The traced application of cotrace-ust's tests (binary `cotrace-ust-test-app`, built by cargo
//! for the integration tests): registers the test provider and obeys commands read line by line
//! from stdin, answering on stdout. Run by `tests/lttng.rs`; not meant for anything else.
//!
//! Commands: `status`, `count EVENT`, `wait_count EVENT N TIMEOUT_MS`, `fire_table`,
//! `fire_counted FROM TO` (s = "keep" for even n, "drop" for odd), `fire_levels N`,
//! `fire_trigger CODE`, `flip on|off`, `fire_bg on|off` (two threads firing `counted`),
//! `fork N`, `fork_bg N [GO]` (the same child, not waited for; with GO, the child also waits
//! until the file GO exists before firing), `reap` (waits for it, then fires `counted` once with
//! s = "parent", as `fork` does), `quit`.

#[path = "../common/cases.rs"]
mod cases;

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cotrace_ust::{EventHandle, Provider, Value, register_provider};

fn event(p: &Provider, name: &str) -> EventHandle {
    p.event(name).expect("test event exists")
}

fn main() {
    let provider = register_provider(cases::PROVIDER, &cases::EVENTS).expect("register");
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    let flipping = Arc::new(AtomicBool::new(false));
    let lost = Arc::new(AtomicU64::new(0));
    let flips = Arc::new(AtomicU64::new(0));
    let mut flipper: Option<std::thread::JoinHandle<()>> = None;
    let firing = Arc::new(AtomicBool::new(false));
    let fired = Arc::new(AtomicU64::new(0));
    let mut firers: Vec<std::thread::JoinHandle<()>> = vec![];
    let mut background: Option<libc::pid_t> = None;
    writeln!(out, "ready {}", std::process::id()).unwrap();
    out.flush().unwrap();
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["status"] => cotrace_ust::status().to_string(),
            ["count", name] => {
                let e = event(&provider, name);
                let s = e.spec().word.snapshot();
                format!(
                    "users={} kernel={} raw={:#x} attached={}",
                    s.users(),
                    u8::from(s.kernel_enabled()),
                    s.raw(),
                    e.attached()
                )
            }
            ["wait_count", name, n, timeout] => {
                let e = event(&provider, name);
                let want: u32 = n.parse().unwrap();
                let deadline = Instant::now() + Duration::from_millis(timeout.parse().unwrap());
                let start = Instant::now();
                loop {
                    let users = e.spec().word.snapshot().users();
                    if users == want {
                        break format!("ok users={users} after_ms={}", start.elapsed().as_millis());
                    }
                    if Instant::now() > deadline {
                        break format!("timeout users={users}");
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            ["fire_table"] => {
                let e = event(&provider, "all_types");
                let mut errors = 0;
                for row in cases::rows() {
                    if e.fire(&row.values).is_err() {
                        errors += 1;
                    }
                }
                format!("fired errors={errors} enabled={}", e.is_enabled())
            }
            ["fire_counted", from, to] => {
                let e = event(&provider, "counted");
                let (from, to): (u32, u32) = (from.parse().unwrap(), to.parse().unwrap());
                for n in from..to {
                    let s = if n % 2 == 0 { "keep" } else { "drop" };
                    e.fire(&[Value::U32(n), Value::Str(s)]).unwrap();
                }
                format!("fired enabled={}", e.is_enabled())
            }
            ["fire_levels", n] => {
                let n: u32 = n.parse().unwrap();
                event(&provider, "lvl_info").fire(&[Value::U32(n)]).unwrap();
                event(&provider, "lvl_debug")
                    .fire(&[Value::U32(n)])
                    .unwrap();
                "fired".to_string()
            }
            ["fire_trigger", code] => {
                let e = event(&provider, "trigger_ev");
                e.fire(&[Value::I32(code.parse().unwrap())]).unwrap();
                format!("fired enabled={}", e.is_enabled())
            }
            ["flip", "on"] => {
                flipping.store(true, Ordering::SeqCst);
                let (flipping, lost, flips) = (flipping.clone(), lost.clone(), flips.clone());
                flipper = Some(std::thread::spawn(move || {
                    let word = &cases::COUNTED_WORD;
                    // Plays the kernel: atomic set_bit/clear_bit of bit 31 at the address the
                    // kernel would be given, concurrently with LTTng changing the count.
                    // SAFETY: the word is a static, aligned u32 that is only ever accessed
                    // atomically; this is the access the kernel makes.
                    let kernel = unsafe { AtomicU32::from_ptr(word.kernel_address()) };
                    let bit = 1u32 << cotrace_word::layout::KERNEL_BIT;
                    while flipping.load(Ordering::SeqCst) {
                        kernel.fetch_or(bit, Ordering::SeqCst);
                        if !word.snapshot().kernel_enabled() {
                            lost.fetch_add(1, Ordering::SeqCst);
                        }
                        kernel.fetch_and(!bit, Ordering::SeqCst);
                        if word.snapshot().kernel_enabled() {
                            lost.fetch_add(1, Ordering::SeqCst);
                        }
                        flips.fetch_add(1, Ordering::SeqCst);
                    }
                }));
                "flipping".to_string()
            }
            ["flip", "off"] => {
                flipping.store(false, Ordering::SeqCst);
                if let Some(h) = flipper.take() {
                    h.join().unwrap();
                }
                format!(
                    "flips={} lost={}",
                    flips.load(Ordering::SeqCst),
                    lost.load(Ordering::SeqCst)
                )
            }
            ["fire_bg", "on"] => {
                firing.store(true, Ordering::SeqCst);
                for t in 0..2u32 {
                    let (firing, fired) = (firing.clone(), fired.clone());
                    let e = event(&provider, "counted");
                    firers.push(std::thread::spawn(move || {
                        let mut n = t;
                        while firing.load(Ordering::SeqCst) {
                            if e.fire(&[Value::U32(n), Value::Str("bg")]).is_ok() {
                                fired.fetch_add(1, Ordering::Relaxed);
                            }
                            n = n.wrapping_add(2);
                        }
                    }));
                }
                "firing".to_string()
            }
            ["fire_bg", "off"] => {
                firing.store(false, Ordering::SeqCst);
                for h in firers.drain(..) {
                    h.join().unwrap();
                }
                format!("fired={}", fired.load(Ordering::SeqCst))
            }
            ["fork", n] => {
                let n: u32 = n.parse().unwrap();
                let e = event(&provider, "counted");
                // SAFETY: the child only fires events and exits; fork hooks run inside fork.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    // Child: wait (bounded) until LTTng attached the child's session, then fire.
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while !e.is_enabled() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    for i in 0..n {
                        e.fire(&[Value::U32(1000 + i), Value::Str("child")])
                            .unwrap();
                    }
                    // SAFETY: ends the child without running the parent's exit handlers twice.
                    unsafe { libc::_exit(if e.is_enabled() { 0 } else { 3 }) };
                }
                let mut status = 0;
                // SAFETY: waits for the child just forked.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                e.fire(&[Value::U32(1), Value::Str("parent")]).unwrap();
                format!("child pid={pid} exit={}", libc::WEXITSTATUS(status))
            }
            ["fork_bg", n, go @ ..] => {
                let n: u32 = n.parse().unwrap();
                let go = go.first().map(std::path::PathBuf::from);
                let e = event(&provider, "counted");
                // SAFETY: as for `fork`.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while !e.is_enabled() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    // LTTng counts a session in (our word goes up) one session daemon round
                    // trip before the session records in this process (lttng_session_enable),
                    // and a forked child registers on its own schedule: with GO, fire only once
                    // the test saw this child listed by the daemon (`Lttng::wait_registered`).
                    if let Some(go) = go {
                        while !go.exists() && Instant::now() < deadline {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                    for i in 0..n {
                        e.fire(&[Value::U32(1000 + i), Value::Str("child")])
                            .unwrap();
                    }
                    // SAFETY: as for `fork`.
                    unsafe { libc::_exit(if e.is_enabled() { 0 } else { 3 }) };
                }
                background = Some(pid);
                format!("child pid={pid}")
            }
            ["reap"] => {
                let pid = background.take().expect("fork_bg first");
                let mut status = 0;
                // SAFETY: waits for the child `fork_bg` forked.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                event(&provider, "counted")
                    .fire(&[Value::U32(1), Value::Str("parent")])
                    .unwrap();
                format!("child pid={pid} exit={}", libc::WEXITSTATUS(status))
            }
            ["quit"] => break,
            _ => format!("error unknown command {line:?}"),
        };
        writeln!(out, "{reply}").unwrap();
        out.flush().unwrap();
    }
    drop(provider);
}
