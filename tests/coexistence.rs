//! The coexistence matrix and the soak under faults: proof that the kernel (ftrace, perf) and
//! LTTng-UST share each event's enable word without losing or corrupting each other's state,
//! through cotrace's public API only.
//!
//! The traced app is `examples/coexist.rs` (one event, `cx:tick` / `cx_tick`, driven over
//! stdin). Everything runs against real tracers: a private `lttng-sessiond` (the harness of
//! cotrace-ust's tests, in a private mount namespace) and the kernel's user_events, which needs
//! the VM (`scripts/test.sh` runs this file there with `COTRACE_REQUIRE_USER_EVENTS=1`, where a
//! missing user_events fails). On a host without user_events the LTTng-only cells run and the
//! others are reported SKIP.
//!
//! # The matrix (`matrix`)
//!
//! Cells are chosen so that every value of every dimension, and every order, appears at least
//! once (not the full product): tracer state {none, kernel, LTTng, both}; orders (kernel then
//! LTTng, LTTng then kernel, one toggled while the other stays on, both off in either order,
//! two sessions, session plus trigger, ftrace plus perf); process shape (one thread, two
//! threads, forked child, exec'd child, child forked while a tracer is being enabled); when the
//! app registered (before the tracers were enabled, after). Bad input through the public API
//! is a second group of rows. Each cell asserts, after every change has settled, the word's
//! exact value (bit 31 and count, read through `cotrace::status()`), how many events each
//! tracer recorded per firing (tags tell the firings apart: a tracer that was off must have
//! recorded nothing), that each recorded payload is exactly what was fired, and that LTTng's
//! channel (discard mode, default size, a moderate rate) discarded nothing.
//!
//! The run prints the matrix as a markdown table between `<!-- coexistence-matrix: begin -->`
//! and `<!-- coexistence-matrix: end -->` and writes it to `target/coexistence-matrix.md` (in
//! the VM the tree is read-only: `scripts/test.sh` extracts it from the output).
//!
//! # The soak (`soak_under_faults`)
//!
//! See [`soak_under_faults`]; `COTRACE_SOAK_SECS` sets its length (default 60),
//! `COTRACE_SOAK_SEED` its random choices.

#[path = "../ust-side/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::{Lttng, isolated};

const TRACEFS: &str = "/sys/kernel/tracing";
const EVENT: &str = "cx_tick";
/// Events per firing: enough to see loss, few enough for TCG.
const N: u64 = 20;

fn app_path() -> PathBuf {
    let path = common::target_profile_dir().join("examples/coexist");
    assert!(
        path.exists(),
        "{} missing: run `cargo test` or `cargo build --example coexist`",
        path.display()
    );
    path
}

fn user_events_here() -> bool {
    kernel_available().is_ok()
}

/// `Err(why)` where user_events cannot be used here.
fn kernel_available() -> Result<(), String> {
    match cotrace::cotrace_kernel::availability() {
        Err(e) => Err(e.to_string()),
        Ok(_) if !Path::new(TRACEFS).join("user_events_data").exists() => {
            Err(format!("{TRACEFS}/user_events_data missing"))
        }
        Ok(_) => Ok(()),
    }
}

fn require_user_events() -> bool {
    std::env::var_os("COTRACE_REQUIRE_USER_EVENTS").is_some()
}

// ---------------------------------------------------------------------------------------------
// The app

/// The traced app, driven line by line; every reply is awaited with a timeout (a hang fails).
struct App {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<String>,
    pid: u32,
}

impl App {
    fn spawn(l: &Lttng) -> App {
        let mut child = Command::new(app_path())
            .env("LTTNG_HOME", l.home())
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start examples/coexist");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut app = App {
            pid: child.id(),
            child,
            stdin,
            rx,
        };
        let ready = app.read(Duration::from_secs(60));
        assert!(ready.starts_with("ready"), "app said {ready:?}");
        app
    }

    fn read(&mut self, timeout: Duration) -> String {
        match self.rx.recv_timeout(timeout) {
            Ok(line) => line,
            Err(e) => panic!(
                "the app (pid {}) did not answer within {timeout:?}: {e} (exit: {:?})",
                self.pid,
                self.child.try_wait()
            ),
        }
    }

    fn cmd(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").expect("write to the app");
        self.stdin.flush().unwrap();
        self.read(Duration::from_secs(120))
    }

    fn init(&mut self) -> String {
        let reply = self.cmd("init");
        assert!(reply.starts_with("init "), "{reply}");
        reply
    }

    /// The word's raw value as `status()` shows it.
    fn raw(&mut self) -> u32 {
        let reply = self.cmd("word");
        field(&reply, "raw")
    }

    /// Waits until the word is (kernel, users); returns the raw value then (or at the timeout).
    fn wait_word(&mut self, kernel: bool, users: u32) -> u32 {
        let reply = self.cmd(&format!("wait {} {users} 30000", u8::from(kernel)));
        field(&reply, "raw")
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    fn quit(mut self) -> bool {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `key=0x..` or `key=N` out of a reply line.
fn field(reply: &str, key: &str) -> u32 {
    let v = reply
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {reply:?}"));
    match v.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
        None => v.parse().unwrap(),
    }
}

fn raw_of(kernel: bool, users: u32) -> u32 {
    (u32::from(kernel) << 31) | users
}

// ---------------------------------------------------------------------------------------------
// Kernel-side tracers

fn enable_file() -> PathBuf {
    Path::new(TRACEFS).join(format!("events/user_events/{EVENT}/enable"))
}

fn set_ftrace(enable: bool) {
    let file = enable_file();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !file.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(&file, if enable { "1" } else { "0" }).unwrap();
}

fn clear_ftrace() {
    if user_events_here() {
        let _ = std::fs::write(Path::new(TRACEFS).join("trace"), "");
        if enable_file().exists() {
            let _ = std::fs::write(enable_file(), "0");
        }
    }
}

/// One fired event as a tracer should record it: (pid, thread, seq).
type Fired = (u32, u32, u64);

/// One recorded event: (tag, pid, thread, seq, ok).
type Record = (String, u32, u32, u64, bool);

/// `key=value` pairs of an ftrace/perf payload; ftrace prints integers as `k=0x5 (5)`.
fn kernel_payload(payload: &str) -> Option<Record> {
    let tokens: Vec<&str> = payload.split_whitespace().collect();
    let mut kv = BTreeMap::new();
    for (i, t) in tokens.iter().enumerate() {
        if let Some((k, v)) = t.split_once('=') {
            let v = match tokens.get(i + 1) {
                Some(next) if next.starts_with('(') => next.trim_matches(&['(', ')'][..]),
                _ => v,
            };
            // u8 shows as `ok=(1)` in the trace file.
            kv.insert(k.to_string(), v.trim_matches(&['(', ')'][..]).to_string());
        }
    }
    let num = |k: &str| -> Option<u64> {
        let v = kv.get(k)?;
        match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => v.parse().ok(),
        }
    };
    Some((
        kv.get("tag")?.clone(),
        num("pid")? as u32,
        num("thread")? as u32,
        num("seq")?,
        num("ok")? != 0,
    ))
}

fn ftrace_records() -> Vec<Record> {
    let trace = std::fs::read_to_string(Path::new(TRACEFS).join("trace")).unwrap_or_default();
    trace
        .lines()
        .filter_map(|l| l.split_once(&format!("{EVENT}: ")).map(|(_, p)| p))
        .filter_map(kernel_payload)
        .collect()
}

/// `perf record -e user_events:cx_tick -p PID`, attached until stopped.
struct Perf {
    child: Child,
    file: PathBuf,
}

/// How long perf may take to start and acknowledge that it records (TCG, a loaded host).
const PERF_READY_WITHIN: Duration = Duration::from_secs(60);

impl Perf {
    /// Starts perf with its events disabled (`-D -1`), enables them through its control fifo
    /// and returns once perf acknowledges (`ack` on the other fifo): from then on it records.
    /// Waiting for the bit or for `user_events_status` is not enough: both change when perf
    /// opens the event, before it maps its buffers and enables it (under load the matrix's
    /// "ftrace + perf" cell once lost all 20 firings of its first phase that way).
    fn attach(pid: u32, file: PathBuf) -> Perf {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::OpenOptionsExt;
        let log = std::fs::File::create(file.with_extension("log")).unwrap();
        let (ctl, ack) = (file.with_extension("ctl"), file.with_extension("ack"));
        for fifo in [&ctl, &ack] {
            let _ = std::fs::remove_file(fifo);
            let path = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
            // SAFETY: a valid C string; mkfifo only creates the file.
            let made = unsafe { libc::mkfifo(path.as_ptr(), 0o600) };
            assert_eq!(made, 0, "mkfifo {fifo:?}");
        }
        let child = Command::new("perf")
            .args(["record", "-q", "-D", "-1", "--control"])
            .arg(format!("fifo:{},{}", ctl.display(), ack.display()))
            .args(["-e", &format!("user_events:{EVENT}"), "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("run perf (package linux-perf)");
        let mut perf = Perf { child, file };
        let deadline = Instant::now() + PERF_READY_WITHIN;
        let alive = |perf: &mut Perf, what: &str| {
            let exited = perf.child.try_wait().ok().flatten();
            let log = std::fs::read_to_string(perf.file.with_extension("log")).unwrap_or_default();
            assert!(
                exited.is_none(),
                "perf exited ({exited:?}) before {what}:\n{log}"
            );
            assert!(
                Instant::now() < deadline,
                "perf: no {what} within {PERF_READY_WITHIN:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        // Non-blocking opens: the write end fails (ENXIO) until perf has opened the fifo.
        let mut control = loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&ctl)
            {
                Ok(f) => break f,
                Err(_) => alive(&mut perf, "control fifo opened"),
            }
        };
        let mut acks = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&ack)
            .unwrap();
        control.write_all(b"enable\n").unwrap();
        let mut reply = Vec::new();
        while !String::from_utf8_lossy(&reply).contains("ack") {
            let mut buf = [0u8; 16];
            match std::io::Read::read(&mut acks, &mut buf) {
                Ok(n) if n > 0 => reply.extend_from_slice(&buf[..n]),
                _ => alive(&mut perf, "ack of enable"),
            }
        }
        perf
    }

    /// SIGINT, then waits (bounded) for perf to write its file.
    fn detach(mut self) -> PathBuf {
        // SAFETY: SIGINT to the perf process this test started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.wait();
        self.file.clone()
    }
}

impl Drop for Perf {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits (bounded) until `user_events_status` lists perf among the event's users.
fn wait_perf_listed() {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = std::fs::read_to_string(Path::new(TRACEFS).join("user_events_status"))
            .unwrap_or_default();
        let line = status
            .lines()
            .find(|l| l.split_whitespace().next() == Some(EVENT))
            .unwrap_or("");
        if line.contains("perf") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "perf never attached; user_events_status:\n{status}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn perf_records(file: &Path) -> Vec<Record> {
    let out = Command::new("perf")
        .args(["script", "-i"])
        .arg(file)
        .output()
        .expect("run perf script");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(&format!("{EVENT}: ")).map(|(_, p)| p))
        .filter_map(kernel_payload)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// LTTng

fn lttng_records(l: &Lttng, session: &str) -> Vec<Record> {
    l.events(session)
        .iter()
        .filter(|e| e.name == "cx:tick")
        .map(|e| {
            let num = |k: &str| e.get(k).parse::<u64>().unwrap_or(u64::MAX);
            let ok = matches!(e.get("ok"), "1" | "true");
            (
                e.get("tag").trim_matches('"').to_string(),
                num("pid") as u32,
                num("thread") as u32,
                num("seq"),
                ok,
            )
        })
        .collect()
}

/// `Discarded events: N` of every channel of a session, summed.
fn discarded(l: &Lttng, session: &str) -> u64 {
    let out = l.try_lttng(&["list", session]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Discarded events:"))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------------------------
// A cell: a sequence of tracer changes and firings against one model of what is enabled

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail,
    Skip,
}

struct Row {
    group: &'static str,
    cell: &'static str,
    covers: &'static str,
    expected: String,
    seen: String,
    outcome: Outcome,
}

/// What a cell expects and sees, item by item (`key: value`), in order.
#[derive(Default)]
struct Items {
    expected: Vec<(String, String)>,
    seen: Vec<(String, String)>,
}

impl Items {
    fn push(&mut self, key: &str, expected: impl ToString, seen: impl ToString) {
        self.expected.push((key.into(), expected.to_string()));
        self.seen.push((key.into(), seen.to_string()));
    }

    /// Appends to a space-separated item (created on first use).
    fn append(&mut self, key: &str, expected: impl ToString, seen: impl ToString) {
        for (list, v) in [
            (&mut self.expected, expected.to_string()),
            (&mut self.seen, seen.to_string()),
        ] {
            match list.iter_mut().find(|(k, _)| k == key) {
                Some((_, old)) => {
                    old.push(' ');
                    old.push_str(&v);
                }
                None => list.push((key.into(), v)),
            }
        }
    }

    fn render(list: &[(String, String)]) -> String {
        list.iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One cell's run: the app, the tracers' state (the model), what each tracer should record.
struct Cell<'a> {
    l: &'a mut Lttng,
    app: App,
    ftrace: bool,
    perf: Option<Perf>,
    perf_used: bool,
    perf_files: Vec<PathBuf>,
    /// Session name -> started.
    sessions: BTreeMap<String, bool>,
    triggers: Vec<String>,
    /// Tracer -> tag -> the (pid, thread, seq) it must have recorded.
    want: BTreeMap<String, BTreeMap<String, Vec<Fired>>>,
    tags: Vec<String>,
    items: Items,
    children: Vec<(String, String)>,
    kernel: bool,
}

impl<'a> Cell<'a> {
    fn new(l: &'a mut Lttng, _what: &'static str) -> Cell<'a> {
        clear_ftrace();
        let app = App::spawn(l);
        Cell {
            l,
            app,
            ftrace: false,
            perf: None,
            perf_used: false,
            perf_files: vec![],
            sessions: BTreeMap::new(),
            triggers: vec![],
            want: BTreeMap::new(),
            tags: vec![],
            items: Items::default(),
            children: vec![],
            kernel: user_events_here(),
        }
    }

    fn init(&mut self) {
        let reply = self.app.init();
        let want_kernel = if self.kernel {
            "kernel=registered"
        } else {
            "kernel=failed:"
        };
        let label = if self.kernel {
            "registered with both"
        } else {
            "registered with LTTng (no user_events here)"
        };
        self.items.push(
            "init",
            label,
            if reply.contains(want_kernel) && reply.contains("lttng=registered") {
                label.to_string()
            } else {
                reply
            },
        );
    }

    fn model(&self) -> (bool, u32) {
        (
            self.ftrace || self.perf.is_some(),
            (self.sessions.values().filter(|&&s| s).count() + self.triggers.len()) as u32,
        )
    }

    /// Waits for the word to settle to the model; records both in the `word` item.
    fn settle(&mut self) {
        let (k, u) = self.model();
        let seen = self.app.wait_word(k, u);
        self.items
            .append("word", format!("{:#x}", raw_of(k, u)), format!("{seen:#x}"));
    }

    fn ftrace(&mut self, on: bool) {
        set_ftrace(on);
        self.ftrace = on;
    }

    fn perf(&mut self, on: bool) {
        if on {
            let file = self
                .l
                .dir
                .join(format!("perf-{}.data", self.perf_files.len()));
            self.perf = Some(Perf::attach(self.app.pid, file));
            self.perf_used = true;
            self.settle();
            // perf acknowledged that it records (`Perf::attach`); the kernel lists it as a
            // user of the event by then.
            wait_perf_listed();
        } else if let Some(p) = self.perf.take() {
            self.perf_files.push(p.detach());
        }
    }

    fn session(&mut self, name: &str) {
        self.l.create(name);
        self.l
            .lttng(&["enable-event", "--userspace", "cx:tick", "--session", name]);
        self.sessions.insert(name.into(), false);
    }

    fn start(&mut self, name: &str) {
        self.l.lttng(&["start", name]);
        self.sessions.insert(name.into(), true);
    }

    fn stop(&mut self, name: &str) {
        self.l.lttng(&["stop", name]);
        self.sessions.insert(name.into(), false);
    }

    fn add_trigger(&mut self) {
        let out = self.l.lttng(&[
            "add-trigger",
            "--condition=event-rule-matches",
            "--type=user",
            "--name=cx:tick",
            "--action=notify",
        ]);
        let name = out
            .split('`')
            .nth(1)
            .unwrap_or_else(|| panic!("add-trigger said {out:?}"))
            .to_string();
        self.triggers.push(name);
    }

    fn remove_trigger(&mut self) {
        let name = self.triggers.pop().unwrap();
        self.l.lttng(&["remove-trigger", &name]);
    }

    /// Records what each tracer must see of a firing by `pid` (threads `threads`).
    fn expect_fire(&mut self, tag: &str, pid: u32, threads: &[u32]) {
        if !self.tags.iter().any(|t| t == tag) {
            self.tags.push(tag.into());
        }
        let mut tracers: Vec<(String, bool)> = vec![];
        if self.kernel {
            tracers.push(("ftrace".into(), self.ftrace));
        }
        if self.perf_used {
            tracers.push(("perf".into(), self.perf.is_some()));
        }
        for (s, &on) in &self.sessions {
            tracers.push((s.clone(), on));
        }
        for (tracer, on) in tracers {
            let list = self
                .want
                .entry(tracer)
                .or_default()
                .entry(tag.into())
                .or_default();
            if on {
                for &t in threads {
                    let base = u64::from(t) * 1_000_000;
                    list.extend((0..N).map(|i| (pid, t, base + i)));
                }
            }
        }
    }

    /// Settles, then fires N events from `threads` threads (1 or 2) with `tag`.
    fn fire(&mut self, tag: &str, threads: u32) {
        self.settle();
        let reply = self.app.cmd(&format!("fire {N} {threads} {tag}"));
        assert!(reply.starts_with("fired"), "{reply}");
        let ids: Vec<u32> = if threads <= 1 { vec![0] } else { vec![1, 2] };
        let pid = self.app.pid;
        self.expect_fire(tag, pid, &ids);
    }

    /// Forks (or execs) a child that waits for the model's word and fires N with `tag`.
    fn child(&mut self, how: &str, tag: &str) -> u32 {
        self.child_then(how, tag, "")
    }

    fn child_then(&mut self, how: &str, tag: &str, extra: &str) -> u32 {
        let (k, u) = self.model();
        // A forked child registers with lttng-sessiond on its own and is given the started
        // sessions then (LTTng's fork hook waits for that at most 3 s): it fires only once it
        // is listed, so that its sessions record (see `Lttng::wait_registered`).
        let go = (how == "fork" && extra.is_empty() && u > 0)
            .then(|| self.l.dir.join(format!("go-{tag}")));
        let extra = match &go {
            Some(go) => format!(" {}", go.display()),
            None => extra.to_string(),
        };
        let reply = self
            .app
            .cmd(&format!("{how} {N} {} {u} {tag}{extra}", u8::from(k)));
        let pid = field(&reply, "pid");
        if let Some(go) = go {
            self.l.wait_registered(&[pid]);
            std::fs::write(go, "").unwrap();
        }
        self.expect_fire(tag, pid, &[0]);
        pid
    }

    fn reap(&mut self) {
        let reply = self.app.cmd("reap");
        for part in reply
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .chunks(2)
        {
            self.children
                .push(("exit=0".into(), part.get(1).copied().unwrap_or("?").into()));
        }
    }

    /// Reads every tracer, compares with what was fired, quits the app; returns the items.
    fn finish(mut self) -> Items {
        if let Some(p) = self.perf.take() {
            self.perf_files.push(p.detach());
        }
        let mut seen: BTreeMap<String, Vec<Record>> = BTreeMap::new();
        if self.kernel {
            // Read while the app (and so the event) still exists.
            seen.insert("ftrace".into(), ftrace_records());
        }
        if self.perf_used {
            let mut all = vec![];
            for f in &self.perf_files {
                all.extend(perf_records(f));
            }
            seen.insert("perf".into(), all);
        }
        if self.ftrace {
            set_ftrace(false);
        }
        let sessions: Vec<String> = self.sessions.keys().cloned().collect();
        let mut lost = vec![];
        for s in &sessions {
            if self.sessions[s] {
                self.l.lttng(&["stop", s]);
            }
            lost.push(discarded(self.l, s));
            seen.insert(s.clone(), lttng_records(self.l, s));
            self.l.lttng(&["destroy", s]);
        }
        for t in std::mem::take(&mut self.triggers) {
            self.l.lttng(&["remove-trigger", &t]);
        }
        for (tracer, tags) in &self.want {
            let got = seen.remove(tracer).unwrap_or_default();
            let count = |tag: &str, list: &[Record]| list.iter().filter(|r| r.0 == tag).count();
            let want_counts: Vec<String> = self
                .tags
                .iter()
                .map(|t| format!("{t}={}", tags.get(t).map_or(0, Vec::len)))
                .collect();
            let mut got_counts: Vec<String> = self
                .tags
                .iter()
                .map(|t| format!("{t}={}", count(t, &got)))
                .collect();
            let strays = got.iter().filter(|r| !self.tags.contains(&r.0)).count();
            if strays > 0 {
                got_counts.push(format!("other={strays}"));
            }
            self.items
                .push(tracer, want_counts.join(" "), got_counts.join(" "));
            // Payloads: exactly the fired (pid, thread, seq), each once, `ok` consistent.
            let mut want_all: Vec<(String, u32, u32, u64)> = tags
                .iter()
                .flat_map(|(t, l)| l.iter().map(move |&(p, th, s)| (t.clone(), p, th, s)))
                .collect();
            let mut got_all: Vec<(String, u32, u32, u64)> =
                got.iter().map(|r| (r.0.clone(), r.1, r.2, r.3)).collect();
            want_all.sort();
            got_all.sort();
            let bad_ok = got.iter().filter(|r| r.4 != (r.3 % 2 == 0)).count();
            let verdict = if want_all == got_all && bad_ok == 0 {
                "ok".to_string()
            } else {
                let missing = want_all.iter().find(|w| !got_all.contains(w));
                let extra = got_all.iter().find(|g| !want_all.contains(g));
                format!("differ (missing {missing:?}, unexpected {extra:?}, bad ok {bad_ok})")
            };
            self.items
                .push(&format!("{tracer} payloads"), "ok", verdict);
        }
        if !sessions.is_empty() {
            self.items
                .push("lttng discarded", 0, lost.iter().sum::<u64>());
        }
        if !self.children.is_empty() {
            let (want, got): (Vec<String>, Vec<String>) = self.children.drain(..).unzip();
            self.items.push("children", want.join(" "), got.join(" "));
        }
        let alive = self.app.alive();
        let clean = std::mem::replace(&mut self.app, App::dummy()).quit();
        self.items.push(
            "app",
            "ran and exited 0",
            if alive && clean {
                "ran and exited 0".to_string()
            } else {
                format!("alive={alive} clean_exit={clean}")
            },
        );
        std::mem::take(&mut self.items)
    }
}

impl App {
    /// A placeholder that is never talked to (an exited `true`).
    fn dummy() -> App {
        let mut child = Command::new("true")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let _ = child.wait();
        let (_tx, rx) = channel();
        App {
            pid: child.id(),
            child,
            stdin,
            rx,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The cells

/// Tracer state and order, one thread, registered before any tracer.
fn cell_none(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "none");
    c.init();
    c.session("s"); // created, enabled, never started: must record nothing
    c.fire("a", 1);
    c.finish()
}

fn cell_kernel_only(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "kernel only");
    c.init();
    c.session("s");
    c.ftrace(true);
    c.fire("a", 1);
    c.finish()
}

fn cell_lttng_only(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "lttng only");
    c.init();
    c.session("s");
    c.start("s");
    c.fire("a", 1);
    c.finish()
}

fn cell_kernel_then_lttng(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "kernel then lttng");
    c.init();
    c.session("s");
    c.ftrace(true);
    c.fire("a", 1);
    c.start("s");
    c.fire("b", 1);
    c.ftrace(false); // off: kernel first
    c.fire("c", 1);
    c.stop("s");
    c.fire("d", 1);
    c.finish()
}

fn cell_lttng_then_kernel(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "lttng then kernel");
    c.init();
    c.session("s");
    c.start("s");
    c.fire("a", 1);
    c.ftrace(true);
    c.fire("b", 1);
    c.stop("s"); // off: LTTng first
    c.fire("c", 1);
    c.ftrace(false);
    c.fire("d", 1);
    c.finish()
}

fn cell_toggle_kernel(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "kernel toggled, lttng on");
    c.init();
    c.session("s");
    c.start("s");
    for (on, off) in [("a", "b"), ("c", "d"), ("e", "f")] {
        c.ftrace(true);
        c.fire(on, 1);
        c.ftrace(false);
        c.fire(off, 1);
    }
    c.finish()
}

fn cell_toggle_lttng(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "lttng toggled, kernel on");
    c.init();
    c.session("s");
    c.ftrace(true);
    for (on, off) in [("a", "b"), ("c", "d"), ("e", "f")] {
        c.start("s");
        c.fire(on, 1);
        c.stop("s");
        c.fire(off, 1);
    }
    c.finish()
}

fn cell_two_sessions(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "two sessions");
    c.init();
    c.session("s1");
    c.session("s2");
    c.ftrace(true);
    c.start("s1");
    c.start("s2");
    c.fire("a", 1); // 0x80000002
    c.stop("s1");
    c.fire("b", 1);
    c.stop("s2");
    c.fire("c", 1);
    c.finish()
}

fn cell_session_trigger(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "session + trigger");
    c.init();
    c.session("s");
    c.start("s");
    c.add_trigger();
    c.fire("a", 1); // count 2: the trigger's notifier records nothing in the session
    c.remove_trigger();
    c.fire("b", 1);
    c.add_trigger();
    c.stop("s");
    c.fire("c", 1); // trigger only
    c.remove_trigger();
    c.fire("d", 1);
    c.finish()
}

fn cell_ftrace_perf(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "ftrace + perf");
    c.init();
    c.ftrace(true);
    c.perf(true);
    c.fire("a", 1);
    c.ftrace(false); // perf alone keeps bit 31
    c.fire("b", 1);
    c.perf(false);
    c.fire("c", 1);
    c.perf(true);
    c.ftrace(true);
    c.perf(false); // ftrace alone keeps it
    c.fire("d", 1);
    c.finish()
}

fn cell_two_threads(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "two threads");
    c.init();
    c.session("s");
    c.ftrace(true);
    c.start("s");
    c.fire("a", 2);
    c.stop("s");
    c.fire("b", 2);
    c.finish()
}

fn cell_forked_child(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "forked child");
    c.init();
    c.session("s");
    c.ftrace(true);
    c.start("s");
    c.settle();
    c.child("fork", "child");
    c.reap();
    c.fire("parent", 1);
    c.finish()
}

fn cell_exec_child(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "exec'd child");
    c.init();
    c.session("s");
    c.ftrace(true);
    c.start("s");
    c.settle();
    // The new image's word is 0 before its own init (exit 4 otherwise), then (1, 1).
    c.child("exec", "exec");
    c.reap();
    c.fire("parent", 1);
    c.finish()
}

fn cell_fork_while_enabling(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "fork while enabling");
    c.init();
    c.session("s");
    c.settle();
    // Start the session in the background and fork while it is being enabled; then ftrace.
    let home = c.l.home();
    let mut start = Command::new("lttng")
        .args(["--no-sessiond", "start", "s"])
        .env("LTTNG_HOME", home)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    c.ftrace = true;
    c.sessions.insert("s".into(), true);
    let go = c.l.dir.join("go");
    let child = c.child_then("fork", "child", &format!(" {}", go.display()));
    set_ftrace(true);
    assert!(start.wait().unwrap().success(), "lttng start failed");
    // The child's word must settle on its own; it fires once the session records in it: LTTng
    // counts a session in a round trip before it records, and the child registers on its own
    // schedule (see `Lttng::wait_registered`).
    c.l.wait_registered(&[child]);
    std::fs::write(&go, "").unwrap();
    c.reap();
    c.fire("parent", 1);
    c.finish()
}

fn cell_registered_after(l: &mut Lttng) -> Items {
    // A holder process keeps the kernel event in existence so ftrace can enable it before our
    // app registers; the session (a pending enabler in LTTng) is started before it, too.
    let mut holder = App::spawn(l);
    holder.init();
    let mut c = Cell::new(l, "registered after enabling");
    if c.kernel {
        c.ftrace(true);
    }
    c.session("s");
    c.start("s");
    let before = c.app.raw();
    c.items
        .push("word before init", "0x0", format!("{before:#x}"));
    c.init();
    c.fire("a", 1);
    let items = c.finish();
    let _ = holder.quit();
    items
}

// Bad input through the public API -------------------------------------------------------------

fn cell_lttng_no_match(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "lttng name matching nothing");
    c.init();
    c.l.create("s");
    // Accepted by LTTng (a pending rule); no event of ours matches: the word stays 0.
    c.l.lttng(&["enable-event", "--userspace", "cx:nosuch", "--session", "s"]);
    c.l.lttng(&["start", "s"]);
    c.sessions.insert("s".into(), false); // started, but wants nothing of ours
    c.fire("a", 1);
    c.l.lttng(&["enable-event", "--userspace", "cx:tick", "--session", "s"]);
    c.sessions.insert("s".into(), true);
    c.fire("b", 1);
    c.finish()
}

fn cell_kernel_enable_after_exit(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "kernel enable after the process exited");
    c.init();
    c.ftrace(true);
    c.fire("a", 1);
    c.ftrace(false);
    let mut items = c.finish(); // reads ftrace (a=N) before the app exits
    // The event goes with its last registration (asynchronously: poll).
    let file = enable_file();
    let deadline = Instant::now() + Duration::from_secs(10);
    while file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let enable = match std::fs::write(&file, "1") {
        Ok(()) => "accepted".to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "ENOENT".to_string(),
        Err(e) => e.to_string(),
    };
    items.push("enable after exit", "ENOENT", enable);
    let delete = match cotrace::cotrace_kernel::delete(EVENT) {
        Ok(()) => "Ok".to_string(),
        Err(e @ cotrace::cotrace_kernel::Error::NotFound { .. }) => format!("NotFound ({e})"),
        Err(e) => format!("other: {e}"),
    };
    items.push(
        "cotrace_kernel::delete",
        format!("NotFound (ENOENT: no user_events event named {EVENT:?})"),
        delete,
    );
    items
}

fn cell_tracefs_unmounted(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "tracefs unmounted after init");
    c.init();
    c.session("s");
    c.start("s");
    c.ftrace(true);
    c.settle();
    // Only in this test's private mount namespace (see `isolated`).
    let umount = Command::new("umount")
        .args(["-l", TRACEFS])
        .status()
        .unwrap();
    assert!(umount.success(), "umount -l {TRACEFS}");
    // Fire without tracefs: the registration keeps its descriptor, nothing is lost.
    c.fire("a", 1);
    let status = c.app.cmd("status");
    let mount = Command::new("mount")
        .args(["-t", "tracefs", "nodev", TRACEFS])
        .status()
        .unwrap();
    assert!(mount.success(), "remount tracefs");
    c.items.push(
        "status after umount",
        "kernel registered",
        if status.contains("kernel registered") {
            "kernel registered".into()
        } else {
            status
        },
    );
    c.fire("b", 1);
    c.finish()
}

fn cell_sessiond_killed(l: &mut Lttng) -> Items {
    let mut c = Cell::new(l, "sessiond killed after init");
    c.init();
    c.session("s");
    c.start("s");
    if c.kernel {
        c.ftrace(true);
    }
    c.settle();
    c.l.kill_sessiond();
    // The dead daemon's session is gone with it: LTTng's count must drop to 0.
    c.sessions.clear();
    c.fire("a", 1); // the kernel keeps tracing; the app runs on
    // Drop the dead daemon's environment before starting the new one in the same place.
    drop(std::mem::replace(
        c.l,
        Lttng::without_sessiond("matrix-dead"),
    ));
    *c.l = Lttng::start("matrix");
    c.session("s2");
    c.start("s2");
    // The app re-registers with the new daemon on its own schedule, maybe after `start`
    // returned: its word counts s2 in one round trip to the daemon before s2 records. Wait for
    // what a user sees, the app listed (then s2 is active in it; see `wait_registered`).
    let pid = c.app.pid;
    c.l.wait_registered(&[pid]);
    c.fire("b", 1); // traced again once the app re-registered with the new daemon
    c.finish()
}

fn cell_relayd_live(l: &mut Lttng) -> Items {
    relay::cell(l)
}

mod relay {
    use super::*;

    /// Streams through `lttng-relayd` on loopback, read live with babeltrace2.
    pub fn cell(l: &mut Lttng) -> Items {
        let mut items = Items::default();
        let base = 45000 + (std::process::id() % 1000) as u16 * 3;
        let (ctl, data, live) = (base, base + 1, base + 2);
        let out_dir = l.dir.join("relayd");
        std::fs::create_dir_all(&out_dir).unwrap();
        let log = std::fs::File::create(l.dir.join("relayd.log")).unwrap();
        let mut relayd = Command::new("lttng-relayd")
            .arg(format!("--control-port=tcp://127.0.0.1:{ctl}"))
            .arg(format!("--data-port=tcp://127.0.0.1:{data}"))
            .arg(format!("--live-port=tcp://127.0.0.1:{live}"))
            .arg(format!("--output={}", out_dir.display()))
            .env("LTTNG_HOME", l.home())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("run lttng-relayd");
        std::thread::sleep(Duration::from_millis(500));
        let url = format!("--set-url=net://127.0.0.1:{ctl}:{data}");
        l.lttng(&["create", "live", "--live=1000000", &url]);
        l.lttng(&[
            "enable-event",
            "--userspace",
            "cx:tick",
            "--session",
            "live",
        ]);
        l.lttng(&["start", "live"]);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
            .to_string();
        let viewer_url = format!("net://127.0.0.1:{live}/host/{host}/live");
        let bt_out = l.dir.join("live.txt");
        let mut viewer = Command::new("babeltrace2")
            .args(["--input-format=lttng-live", &viewer_url])
            .stdout(std::fs::File::create(&bt_out).unwrap())
            .stderr(std::fs::File::create(l.dir.join("live.err")).unwrap())
            .spawn()
            .expect("run babeltrace2");
        let mut app = App::spawn(l);
        app.init();
        let seen = app.wait_word(false, 1);
        items.push("word", "0x1", format!("{seen:#x}"));
        let r = app.cmd(&format!("fire {N} 1 parent"));
        assert!(r.starts_with("fired"), "{r}");
        let r = app.cmd(&format!("fork {N} 0 1 child"));
        let _child = field(&r, "pid");
        let r = app.cmd("reap");
        items.push(
            "children",
            "exit=0",
            r.split_whitespace().nth(2).unwrap_or("?"),
        );
        // Live: the viewer sees both within a few live timer periods.
        let want = format!("parent={N} child={N}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut got = String::new();
        while Instant::now() < deadline {
            let text = std::fs::read_to_string(&bt_out).unwrap_or_default();
            let count = |tag: &str| {
                text.lines()
                    .filter(|l| l.contains(&format!("tag = \"{tag}\"")))
                    .count()
            };
            got = format!("parent={} child={}", count("parent"), count("child"));
            if got == want {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        items.push("live (babeltrace2 lttng-live)", &want, &got);
        let _ = app.quit();
        l.lttng(&["stop", "live"]);
        l.lttng(&["destroy", "live"]);
        let _ = viewer.kill();
        let _ = viewer.wait();
        // Streamed: the relay daemon's copy on disk.
        let text = Command::new("babeltrace2")
            .arg(&out_dir)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let count = |tag: &str| {
            text.lines()
                .filter(|l| l.contains(&format!("tag = \"{tag}\"")))
                .count()
        };
        items.push(
            "streamed (relayd output)",
            &want,
            format!("parent={} child={}", count("parent"), count("child")),
        );
        // SAFETY: SIGTERM to the relay daemon this test started (after sessiond let go of it).
        unsafe { libc::kill(relayd.id() as i32, libc::SIGTERM) };
        let _ = relayd.wait();
        items
    }
}

// ---------------------------------------------------------------------------------------------
// The matrix

type CellFn = fn(&mut Lttng) -> Items;

/// (group, cell, what it covers, needs the kernel, body).
const CELLS: &[(&str, &str, &str, bool, CellFn)] = &[
    (
        "state",
        "none",
        "no tracer; a created, unstarted session records nothing",
        false,
        cell_none,
    ),
    (
        "state",
        "kernel only",
        "ftrace; unstarted session records nothing",
        true,
        cell_kernel_only,
    ),
    (
        "state",
        "lttng only",
        "one session; ftrace off records nothing",
        false,
        cell_lttng_only,
    ),
    (
        "order",
        "kernel then lttng",
        "K, K+L, off K first, then L",
        true,
        cell_kernel_then_lttng,
    ),
    (
        "order",
        "lttng then kernel",
        "L, K+L, off L first, then K",
        true,
        cell_lttng_then_kernel,
    ),
    (
        "order",
        "kernel toggled",
        "ftrace on/off x3 while a session stays on",
        true,
        cell_toggle_kernel,
    ),
    (
        "order",
        "lttng toggled",
        "session start/stop x3 while ftrace stays on",
        true,
        cell_toggle_lttng,
    ),
    (
        "order",
        "two sessions",
        "count 2 with the kernel bit, then 1, then 0",
        true,
        cell_two_sessions,
    ),
    (
        "order",
        "session + trigger",
        "session and trigger: count 2; trigger alone: 1",
        false,
        cell_session_trigger,
    ),
    (
        "order",
        "ftrace + perf",
        "both on; perf alone; ftrace alone keep bit 31",
        true,
        cell_ftrace_perf,
    ),
    (
        "shape",
        "two threads",
        "both tracers, 2 emitting threads",
        true,
        cell_two_threads,
    ),
    (
        "shape",
        "forked child",
        "child traced by both without re-registration or preload",
        true,
        cell_forked_child,
    ),
    (
        "shape",
        "exec'd child",
        "word 0 after exec until the new image registers",
        true,
        cell_exec_child,
    ),
    (
        "shape",
        "fork while enabling",
        "fork during `lttng start`, then ftrace on",
        true,
        cell_fork_while_enabling,
    ),
    (
        "registration",
        "registered after enabling",
        "ftrace on and session started before init",
        true,
        cell_registered_after,
    ),
    (
        "bad input",
        "lttng name matching nothing",
        "enable-event cx:nosuch: word stays 0",
        false,
        cell_lttng_no_match,
    ),
    (
        "bad input",
        "kernel enable after exit",
        "event gone with its process",
        true,
        cell_kernel_enable_after_exit,
    ),
    (
        "bad input",
        "tracefs unmounted after init",
        "umount -l, fire, remount",
        true,
        cell_tracefs_unmounted,
    ),
    (
        "bad input",
        "sessiond killed after init",
        "SIGKILL, fire, restart, traced again",
        false,
        cell_sessiond_killed,
    ),
    (
        "remote",
        "relayd live",
        "--set-url + --live on loopback, per-UID, forked child",
        false,
        cell_relayd_live,
    ),
];

fn table(rows: &[Row], title: &str, marker: &str) -> String {
    let mut s = format!("<!-- {marker}: begin -->\n{title}\n\n");
    s.push_str("| group | cell | covers | expected | seen | result |\n");
    s.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for r in rows {
        let result = match r.outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail => "**FAIL**",
            Outcome::Skip => "SKIP",
        };
        let seen = if r.outcome == Outcome::Pass {
            "as expected".to_string()
        } else {
            r.seen.replace('|', "\\|")
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.group,
            r.cell,
            r.covers,
            r.expected.replace('|', "\\|"),
            seen,
            result
        ));
    }
    s.push_str(&format!("<!-- {marker}: end -->\n"));
    s
}

/// Writes a table to `target/FILE` (when writable; the VM's tree is not) and to the temporary
/// directory, where [`show_published`] finds it.
fn publish(text: &str, file: &str) {
    let target = common::target_profile_dir().parent().unwrap().to_path_buf();
    let path = target.join(file);
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("(not written to {}: {e})", path.display());
    }
    std::fs::write(std::env::temp_dir().join(file), text).unwrap();
}

/// Runs `body` isolated (see `common::isolated`), then prints the table it published straight
/// to stdout, past the test harness's capture, so `scripts/test.sh` can keep it even when the
/// test passes.
fn isolated_with_table(name: &str, file: &str, body: impl FnOnce()) {
    let inside = std::env::var_os("COTRACE_UST_TEST_ISOLATED").is_some();
    let tmp = std::env::temp_dir().join(file);
    if !inside {
        let _ = std::fs::remove_file(&tmp);
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| isolated(name, body)));
    if !inside {
        if let Ok(text) = std::fs::read_to_string(&tmp) {
            let mut out = std::io::stdout().lock();
            // A newline first: the harness may have printed `test NAME ... ` on this line.
            let _ = writeln!(out, "\n{text}");
            let _ = out.flush();
        }
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn run_cell(l: &mut Lttng, f: CellFn) -> Result<Items, String> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(l)));
    // Leave nothing behind for the next cell, whatever happened.
    let _ = l.try_lttng(&["destroy", "--all"]);
    clear_ftrace();
    result.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into())
    })
}

#[test]
fn matrix() {
    isolated_with_table("matrix", "coexistence-matrix.md", || {
        let started = Instant::now();
        let mut l = Lttng::start("matrix");
        let kernel = user_events_here();
        let only: Option<String> = std::env::var("COTRACE_MATRIX_ONLY").ok();
        let mut rows = vec![];
        for &(group, cell, covers, needs_kernel, f) in CELLS {
            if only.as_deref().is_some_and(|o| !cell.contains(o)) {
                continue;
            }
            let t = Instant::now();
            let (expected, seen, outcome) = if needs_kernel && !kernel {
                assert!(
                    !require_user_events(),
                    "{cell}: user_events required here but unavailable"
                );
                // A cell, not a test: the test itself ran its other cells (libtest captures
                // this line, so the closing line does not count it as a skipped test).
                eprintln!("cell {cell} left to the VM: no user_events in this kernel");
                ("needs user_events".into(), "-".into(), Outcome::Skip)
            } else {
                match run_cell(&mut l, f) {
                    Ok(items) => {
                        let pass = items.expected == items.seen;
                        (
                            Items::render(&items.expected),
                            Items::render(&items.seen),
                            if pass { Outcome::Pass } else { Outcome::Fail },
                        )
                    }
                    Err(why) => ("(cell did not finish)".into(), why, Outcome::Fail),
                }
            };
            eprintln!(
                "cell {cell}: {} in {:.1}s",
                match outcome {
                    Outcome::Pass => "PASS",
                    Outcome::Fail => "FAIL",
                    Outcome::Skip => "SKIP",
                },
                t.elapsed().as_secs_f64()
            );
            rows.push(Row {
                group,
                cell,
                covers,
                expected,
                seen,
                outcome,
            });
        }
        let title = format!(
            "Coexistence matrix, {} ({}), {:.0} s",
            if kernel {
                "kernel user_events + lttng-sessiond"
            } else {
                "no user_events: LTTng cells only"
            },
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim(),
            started.elapsed().as_secs_f64()
        );
        publish(
            &table(&rows, &title, "coexistence-matrix"),
            "coexistence-matrix.md",
        );
        let failed: Vec<&str> = rows
            .iter()
            .filter(|r| r.outcome == Outcome::Fail)
            .map(|r| r.cell)
            .collect();
        assert!(failed.is_empty(), "cells failed: {failed:?}");
    });
}

// ---------------------------------------------------------------------------------------------
// The soak

/// The soak under faults: two threads and a forked child of the app fire `cx:tick` without a
/// pause while, at random intervals, ftrace toggles the event, perf attaches and detaches, LTTng
/// sessions are created, started, stopped and destroyed, and `lttng-sessiond` is killed with
/// SIGKILL once (mid-run) and restarted.
///
/// Checked: the app answers throughout and exits cleanly (no crash, no hang: every reply is
/// awaited with a timeout); every word the emitters read decodes to a valid state (no bit
/// outside bit 31 and the count); after each change, both the parent's and the child's words
/// settle to what the tracers have enabled (bit 31 = ftrace or perf on; count = started
/// sessions); for every session that ended normally, events recorded + discarded == events the
/// app fired while LTTng wanted them (LTTng changes happen with the emitters paused so each
/// running window has one set of started sessions; kernel changes happen while they run); after
/// the daemon's restart the app is traced again.
///
/// `COTRACE_SOAK_SECS` (default 60), `COTRACE_SOAK_SEED`, `COTRACE_SOAK_INTERVAL_US` (per
/// emitter, default 5000).
#[test]
fn soak_under_faults() {
    if !common::user_events_or_skip("soak_under_faults", kernel_available()) {
        return;
    }
    isolated_with_table("soak_under_faults", "coexistence-soak.md", soak::run);
}

mod soak {
    use super::*;

    fn env_u64(name: &str, default: u64) -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// xorshift64*: enough randomness for choosing actions, reproducible from the seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    struct Session {
        name: String,
        started: bool,
        /// Events the app fired while this session was started (LTTng wanted them).
        expected: u64,
    }

    struct Soak {
        l: Lttng,
        app: App,
        ftrace: bool,
        perf: Option<Perf>,
        perf_n: usize,
        sessions: Vec<Session>,
        next: usize,
        /// `enabled_fired` at the last pause.
        last_enabled: u64,
        failures: Vec<String>,
        settles: u64,
        accounted: Vec<String>,
        actions: BTreeMap<&'static str, u64>,
        restarted: bool,
        traced_after_restart: bool,
        /// The app's forked emitter.
        child: u32,
    }

    fn counter(reply: &str, key: &str) -> u64 {
        reply
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key}= in {reply:?}"))
    }

    impl Soak {
        fn model(&self) -> (bool, u32) {
            (
                self.ftrace || self.perf.is_some(),
                self.sessions.iter().filter(|s| s.started).count() as u32,
            )
        }

        /// Both words (parent, child) must reach the model.
        fn settle(&mut self, what: &str) {
            self.settles += 1;
            let (k, u) = self.model();
            let want = raw_of(k, u);
            let parent = self.app.wait_word(k, u);
            let deadline = Instant::now() + Duration::from_secs(30);
            let child = loop {
                let r = self.app.cmd("soak word");
                let child = r
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("child=0x"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .unwrap_or(u32::MAX);
                if child == want || Instant::now() > deadline {
                    break child;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            if parent != want || child != want {
                self.failures.push(format!(
                    "after {what}: word want {want:#x}, parent {parent:#x}, child {child:#x}"
                ));
            }
        }

        /// Pauses the emitters and credits the window that just ended to the started sessions.
        fn pause(&mut self) {
            let r = self.app.cmd("soak pause");
            assert!(r.starts_with("paused"), "soak pause: {r}");
            let enabled = counter(&r, "enabled_fired");
            let delta = enabled - self.last_enabled;
            self.last_enabled = enabled;
            let started = self.sessions.iter().filter(|s| s.started).count();
            if started == 0 && delta > 0 {
                self.failures.push(format!(
                    "{delta} events fired with LTTng counted in while no session was started"
                ));
            }
            for s in self.sessions.iter_mut().filter(|s| s.started) {
                s.expected += delta;
            }
        }

        fn resume(&mut self) {
            let r = self.app.cmd("soak resume");
            assert_eq!(r, "resumed");
        }

        fn lttng_action(&mut self, what: &'static str, f: impl FnOnce(&mut Self)) {
            self.pause();
            f(self);
            self.settle(what);
            self.resume();
            *self.actions.entry(what).or_default() += 1;
        }

        fn create(&mut self) {
            let name = format!("k{}", self.next);
            self.next += 1;
            self.l.create(&name);
            self.l
                .lttng(&["enable-event", "--userspace", "cx:tick", "--session", &name]);
            self.l.lttng(&["start", &name]);
            self.sessions.push(Session {
                name,
                started: true,
                expected: 0,
            });
        }

        /// Stops (if needed), reads and destroys session `i`; checks its accounting.
        fn destroy(&mut self, i: usize) {
            let s = self.sessions.remove(i);
            if s.started {
                self.l.lttng(&["stop", &s.name]);
            }
            let lost = discarded(&self.l, &s.name);
            let recorded = lttng_records(&self.l, &s.name)
                .iter()
                .filter(|r| r.0 == "soak")
                .count() as u64;
            self.l.lttng(&["destroy", &s.name]);
            self.accounted
                .push(format!("{}: {recorded}+{lost}/{}", s.name, s.expected));
            if recorded + lost != s.expected {
                self.failures.push(format!(
                    "session {}: recorded {recorded} + discarded {lost} != fired while enabled {}",
                    s.name, s.expected
                ));
            }
            if self.restarted && recorded > 0 {
                self.traced_after_restart = true;
            }
        }

        fn kill_and_restart(&mut self) {
            // Kill it while LTTng has the event on, so the count must fall.
            if !self.sessions.iter().any(|s| s.started) {
                self.lttng_action("session create+start", Soak::create);
            }
            // Account for the window so far; the killed daemon's sessions are lost with it.
            self.pause();
            self.resume();
            self.l.kill_sessiond();
            let lost: Vec<String> = self.sessions.drain(..).map(|s| s.name).collect();
            self.accounted
                .push(format!("killed with sessiond: {}", lost.join(" ")));
            // The app keeps running and LTTng's count drops to 0 (parent and child).
            self.settle("sessiond SIGKILL");
            // Events fired between the kill and the app noticing it went to the dead sessions:
            // not accounted for.
            let r = self.app.cmd("soak pause");
            assert!(r.starts_with("paused"), "soak pause: {r}");
            self.last_enabled = counter(&r, "enabled_fired");
            self.resume();
            if !self.app.alive() {
                self.failures.push("the app died with sessiond".into());
            }
            drop(std::mem::replace(
                &mut self.l,
                Lttng::without_sessiond("soak-dead"),
            ));
            self.l = Lttng::start("soak");
            self.restarted = true;
            // Traced again: a new session's count must reach both processes, which re-register
            // on their own schedule: wait until both are listed, so that the session records in
            // both before the emitters resume (see `Lttng::wait_registered`).
            let pids = [self.app.pid, self.child];
            self.lttng_action("create after restart", |s| {
                Soak::create(s);
                s.l.wait_registered(&pids);
            });
        }

        fn step(&mut self, rng: &mut Rng) {
            match rng.below(6) {
                0 | 1 => {
                    set_ftrace(!self.ftrace);
                    self.ftrace = !self.ftrace;
                    self.settle("ftrace toggle");
                    *self.actions.entry("ftrace toggle").or_default() += 1;
                }
                2 => {
                    if let Some(p) = self.perf.take() {
                        p.detach();
                        self.settle("perf detach");
                        *self.actions.entry("perf detach").or_default() += 1;
                    } else {
                        let file = self.l.dir.join(format!("perf-{}.data", self.perf_n));
                        self.perf_n += 1;
                        self.perf = Some(Perf::attach(self.app.pid, file));
                        self.settle("perf attach");
                        *self.actions.entry("perf attach").or_default() += 1;
                    }
                }
                3 if self.sessions.len() < 3 => {
                    self.lttng_action("session create+start", Soak::create)
                }
                3 | 4 => {
                    if self.sessions.is_empty() {
                        return;
                    }
                    let i = rng.below(self.sessions.len() as u64) as usize;
                    let name = self.sessions[i].name.clone();
                    if self.sessions[i].started {
                        self.lttng_action("session stop", |s| {
                            s.l.lttng(&["stop", &name]);
                            s.sessions[i].started = false;
                        });
                    } else {
                        self.lttng_action("session start", |s| {
                            s.l.lttng(&["start", &name]);
                            s.sessions[i].started = true;
                        });
                    }
                }
                _ => {
                    if self.sessions.is_empty() {
                        return;
                    }
                    let i = rng.below(self.sessions.len() as u64) as usize;
                    self.lttng_action("session destroy", |s| s.destroy(i));
                }
            }
        }
    }

    pub fn run() {
        let secs = env_u64("COTRACE_SOAK_SECS", 60);
        let interval = env_u64("COTRACE_SOAK_INTERVAL_US", 5000);
        let seed = env_u64(
            "COTRACE_SOAK_SEED",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        ) | 1;
        println!("soak: {secs} s, seed {seed} (COTRACE_SOAK_SEED), emitters every {interval} us");
        let mut rng = Rng(seed);
        let started = Instant::now();
        clear_ftrace();
        let l = Lttng::start("soak");
        let mut app = App::spawn(&l);
        app.init();
        let r = app.cmd(&format!("soak start {interval}"));
        assert!(r.starts_with("soak started child="), "soak start: {r}");
        let child = field(&r, "child");
        let mut s = Soak {
            l,
            app,
            ftrace: false,
            perf: None,
            perf_n: 0,
            sessions: vec![],
            next: 0,
            last_enabled: 0,
            failures: vec![],
            settles: 0,
            accounted: vec![],
            actions: BTreeMap::new(),
            restarted: false,
            traced_after_restart: false,
            child,
        };
        let deadline = started + Duration::from_secs(secs);
        let kill_at = started + Duration::from_secs(secs / 2);
        while Instant::now() < deadline {
            if !s.restarted && Instant::now() >= kill_at {
                s.kill_and_restart();
            }
            s.step(&mut rng);
            std::thread::sleep(Duration::from_millis(50 + rng.below(450)));
        }
        if !s.restarted {
            s.kill_and_restart();
        }
        // A restart late in the run (a short COTRACE_SOAK_SECS, a loaded machine) can leave the
        // emitters no time with the session created after it before the wind-down: let them
        // fire, bounded, until a started session has counted events fired while enabled.
        let deadline = Instant::now() + Duration::from_secs(30);
        while s.sessions.iter().any(|x| x.started)
            && s.sessions.iter().all(|x| x.expected == 0)
            && Instant::now() < deadline
        {
            s.pause();
            s.resume();
            std::thread::sleep(Duration::from_millis(20));
        }
        // Wind down: every remaining session is accounted for.
        s.pause();
        while !s.sessions.is_empty() {
            s.destroy(0);
        }
        if let Some(p) = s.perf.take() {
            p.detach();
        }
        if s.ftrace {
            set_ftrace(false);
            s.ftrace = false;
        }
        s.settle("wind-down");
        let stop = s.app.cmd("soak stop");
        let invalid = counter(&stop, "invalid");
        let child_exit = counter(&stop, "child_exit");
        let fired = counter(&stop, "fired");
        // At most 3 sessions are started at once: a larger count is a corrupted word.
        let max_users = counter(&stop, "max_users");
        if max_users > 3 {
            s.failures.push(format!(
                "an emitter read an LTTng count of {max_users} with at most 3 sessions started"
            ));
        }
        if invalid != 0 {
            s.failures.push(format!(
                "{invalid} word reads had bits outside bit 31 and the count"
            ));
        }
        if child_exit != 0 {
            s.failures
                .push(format!("the forked emitter exited with {child_exit}"));
        }
        if !s.traced_after_restart {
            s.failures
                .push("no session recorded anything after sessiond's restart".into());
        }
        let app = std::mem::replace(&mut s.app, App::dummy());
        if !app.quit() {
            s.failures.push("the app did not exit cleanly".into());
        }
        let actions: Vec<String> = s.actions.iter().map(|(k, v)| format!("{k} x{v}")).collect();
        let rows = [
            (
                "length",
                format!(
                    "{:.0} s (COTRACE_SOAK_SECS={secs}), seed {seed}",
                    started.elapsed().as_secs_f64()
                ),
            ),
            (
                "emitters",
                format!("2 threads + 1 forked child, every {interval} us: {fired} events fired"),
            ),
            (
                "faults",
                format!("{}; sessiond SIGKILL + restart x1", actions.join(", ")),
            ),
            (
                "word",
                format!(
                    "{} settles checked (parent and child); {invalid} invalid reads; largest count read {max_users}",
                    s.settles
                ),
            ),
            (
                "LTTng accounting (recorded+discarded/fired while enabled)",
                s.accounted.join("; "),
            ),
            (
                "after restart",
                if s.traced_after_restart {
                    "traced again".into()
                } else {
                    "NOT traced".to_string()
                },
            ),
            (
                "result",
                if s.failures.is_empty() {
                    "PASS".into()
                } else {
                    format!("**FAIL**: {}", s.failures.join("; "))
                },
            ),
        ];
        let mut text = String::from(
            "<!-- coexistence-soak: begin -->\nSoak under faults\n\n| what | seen |\n| --- | --- |\n",
        );
        for (k, v) in rows {
            text.push_str(&format!("| {k} | {} |\n", v.replace('|', "\\|")));
        }
        text.push_str("<!-- coexistence-soak: end -->\n");
        publish(&text, "coexistence-soak.md");
        assert!(s.failures.is_empty(), "soak failures: {:#?}", s.failures);
    }
}

// ---------------------------------------------------------------------------------------------
// The shop example with both tracers: richer field types (u16, &[u8]) compared across tracers,
// and the status report's text.

mod shop {
    use super::*;
    use std::io::BufRead;
    use std::sync::Mutex;

    const EVENTS: [&str; 4] = ["request_start", "request_done", "cache_miss", "job_done"];

    /// Rows share the kernel's event names and trace buffer: run them one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn shop_path() -> PathBuf {
        // cargo test builds the examples next to the test binaries' directory.
        let path = common::target_profile_dir().join("examples/shop");
        assert!(
            path.exists(),
            "{} missing: run `cargo test` (it builds examples)",
            path.display()
        );
        path
    }

    /// False (with the reason printed) when a kernel row cannot run here; panics where user_events
    /// is required (inside the VM).
    fn kernel_rows_can_run(row: &str) -> bool {
        common::user_events_or_skip(row, kernel_available())
    }

    fn set_shop_ftrace(enable: bool) {
        for ev in EVENTS {
            let file = Path::new(TRACEFS).join(format!("events/user_events/shop_{ev}/enable"));
            let deadline = Instant::now() + Duration::from_secs(30);
            while !file.exists() {
                assert!(
                    Instant::now() < deadline,
                    "{} never appeared",
                    file.display()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            std::fs::write(&file, if enable { "1" } else { "0" }).unwrap();
        }
    }

    /// What one run produced.
    struct Run {
        expected: BTreeMap<String, usize>,
        app_output: String,
        /// `event -> [payload line]` from ftrace, lines like `worker=0x0 (0) id=... path=/item/0`.
        kernel: BTreeMap<String, Vec<String>>,
        lttng: Vec<common::Event>,
    }

    /// Runs the shop with the given tracers enabling its events; returns what each recorded.
    fn run_shop(row: &str, kernel: bool, lttng: bool) -> Run {
        let mut l = if lttng {
            Lttng::start(row)
        } else {
            Lttng::without_sessiond(row)
        };
        if lttng {
            l.create("s");
            l.lttng(&["enable-event", "--userspace", "shop:*", "--session=s"]);
            l.lttng(&["start", "s"]);
        }
        if user_events_here() {
            std::fs::write(Path::new(TRACEFS).join("trace"), "").unwrap();
        }
        let hold = l.dir.join("hold");
        let tracers = match (kernel, lttng) {
            (true, true) => "both",
            (true, false) => "kernel",
            (false, true) => "lttng",
            (false, false) => "none",
        };
        let mut child = Command::new(shop_path())
            .args([
                "--requests",
                "6",
                "--tracers",
                tracers,
                "--wait-enabled",
                "60",
                "--hold",
            ])
            .arg(&hold)
            .env("LTTNG_HOME", l.home())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        if kernel && lttng {
            // The app waits for both tracers before firing anything, and ftrace is not on yet: the
            // events must already be listed by both, from `cotrace::init()` alone.
            listed_before_firing(row, &mut l);
        }
        if kernel {
            set_shop_ftrace(true);
        }
        let mut app_output = String::new();
        let mut expected = BTreeMap::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while expected.len() < EVENTS.len() {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                break;
            }
            app_output.push_str(&line);
            if let Some(rest) = line.trim().strip_prefix("expected ") {
                let (ev, n) = rest.split_once(' ').unwrap();
                expected.insert(ev.to_string(), n.parse().unwrap());
            }
        }
        assert_eq!(
            expected.len(),
            EVENTS.len(),
            "{row}: the app did not finish:\n{app_output}"
        );
        let mut kernel_lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if user_events_here() {
            let trace = std::fs::read_to_string(Path::new(TRACEFS).join("trace")).unwrap();
            for line in trace.lines() {
                if let Some((_, rest)) = line.split_once(": shop_") {
                    let (ev, payload) = rest.split_once(": ").unwrap_or((rest, ""));
                    kernel_lines
                        .entry(ev.to_string())
                        .or_default()
                        .push(payload.to_string());
                }
            }
            if kernel {
                set_shop_ftrace(false);
            }
        }
        std::fs::write(&hold, "").unwrap();
        assert!(
            child.wait().unwrap().success(),
            "{row}: shop failed:\n{app_output}"
        );
        let lttng_events = if lttng {
            l.lttng(&["stop", "s"]);
            let events = l.events("s");
            l.lttng(&["destroy", "s"]);
            events
        } else {
            vec![]
        };
        Run {
            expected,
            app_output,
            kernel: kernel_lines,
            lttng: lttng_events,
        }
    }

    /// Asserts that `lttng list -u` and `user_events_status` list every shop event (bounded wait
    /// for the app to start and register).
    fn listed_before_firing(row: &str, l: &mut Lttng) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Through `lttng --mi xml` (2.15's human output quotes the names).
            let listed: Vec<String> = l.app_events().into_iter().map(|e| e.name).collect();
            let status = std::fs::read_to_string(Path::new(TRACEFS).join("user_events_status"))
                .unwrap_or_default();
            let missing: Vec<&str> = EVENTS
                .iter()
                .copied()
                .filter(|ev| {
                    !listed.contains(&format!("shop:{ev}"))
                        || !status.lines().any(|line| {
                            line.split_whitespace().next() == Some(&format!("shop_{ev}"))
                        })
                })
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{row}: not listed before firing: {missing:?}\nlttng --mi xml list -u: {listed:?}\nuser_events_status:\n{status}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Checks one row's counts: each enabling tracer saw exactly the fired events, others none.
    fn check_counts(row: &str, run: &Run, kernel: bool, lttng: bool) {
        for ev in EVENTS {
            let want = run.expected[ev];
            assert!(want > 0, "{row}: the app fires {ev}");
            let lttng_seen = run
                .lttng
                .iter()
                .filter(|e| e.name == format!("shop:{ev}"))
                .count();
            let kernel_seen = run.kernel.get(ev).map_or(0, Vec::len);
            assert_eq!(
                lttng_seen,
                if lttng { want } else { 0 },
                "{row}: LTTng {ev}\n{}",
                run.app_output
            );
            assert_eq!(
                kernel_seen,
                if kernel { want } else { 0 },
                "{row}: kernel {ev}\n{}",
                run.app_output
            );
        }
    }

    /// `request_done` as (worker, id, status, path) tuples, from LTTng and from ftrace.
    fn request_done_values(run: &Run) -> (Vec<String>, Vec<String>) {
        let mut from_lttng: Vec<String> = run
            .lttng
            .iter()
            .filter(|e| e.name == "shop:request_done")
            .map(|e| {
                let path = e.get("path").trim_matches('"');
                format!(
                    "{} {} {} {path}",
                    e.get("worker"),
                    e.get("id"),
                    e.get("status")
                )
            })
            .collect();
        // ftrace prints integers as `key=0x1 (1)`: keep the decimal in parentheses.
        let decimal = |payload: &str, key: &str| -> String {
            let tokens: Vec<&str> = payload.split(' ').collect();
            let Some(i) = tokens
                .iter()
                .position(|t| t.starts_with(&format!("{key}=")))
            else {
                return String::new();
            };
            match tokens.get(i + 1) {
                Some(next) if next.starts_with('(') => {
                    next.trim_matches(&['(', ')'][..]).to_string()
                }
                _ => tokens[i][key.len() + 1..].to_string(),
            }
        };
        let mut from_kernel: Vec<String> = run
            .kernel
            .get("request_done")
            .into_iter()
            .flatten()
            .map(|p| {
                format!(
                    "{} {} {} {}",
                    decimal(p, "worker"),
                    decimal(p, "id"),
                    decimal(p, "status"),
                    decimal(p, "path")
                )
            })
            .collect();
        from_lttng.sort();
        from_kernel.sort();
        (from_lttng, from_kernel)
    }

    #[test]
    fn shop_both_tracers_same_values() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        if !kernel_rows_can_run("shop::shop_both_tracers_same_values") {
            return;
        }
        isolated("shop::shop_both_tracers_same_values", || {
            let run = run_shop("both", true, true);
            check_counts("both", &run, true, true);
            let (from_lttng, from_kernel) = request_done_values(&run);
            assert_eq!(from_lttng.len(), run.expected["request_done"]);
            assert_eq!(
                from_lttng, from_kernel,
                "the two tracers recorded different values"
            );
        });
    }

    #[test]
    fn shop_status_names_each_tracer_and_event() {
        let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        // The shop's own status print, from a run with no tracer: every event listed with both
        // names, and each tracer's availability explained.
        isolated("shop::shop_status_names_each_tracer_and_event", || {
            let run = run_shop("status", false, false);
            for ev in EVENTS {
                assert!(
                    run.app_output.contains(&format!("shop:{ev} (shop_{ev})")),
                    "{}",
                    run.app_output
                );
            }
            assert!(
                run.app_output.contains("lttng: available"),
                "{}",
                run.app_output
            );
            if user_events_here() {
                assert!(
                    run.app_output.contains("kernel: available: user_events at"),
                    "{}",
                    run.app_output
                );
                assert!(
                    run.app_output
                        .contains("kernel registered; lttng registered"),
                    "{}",
                    run.app_output
                );
            } else {
                assert!(
                    run.app_output.contains("kernel: unavailable: "),
                    "{}",
                    run.app_output
                );
            }
        });
    }
}
