//! Test harness: a private `lttng-sessiond` per test, the traced test application, and a
//! reader for babeltrace2's text output.
//!
//! # Isolation
//!
//! A root session daemon uses fixed paths (`/run/lttng`, `/dev/shm/lttng-ust-wait-*`), and
//! every application on the machine registers with it. So each test re-runs itself (the test
//! binary, filtered to that one test) under `unshare --mount`, with fresh tmpfs mounts on `/run`
//! and `/dev/shm`, and its own `LTTNG_HOME`: tests can run in parallel, and never see a session
//! daemon of the machine or of another test. Commands run with `lttng --no-sessiond`, so a dead
//! daemon is an error rather than silently replaced.
#![allow(dead_code)]

pub mod cases;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

const INSIDE: &str = "COTRACE_UST_TEST_ISOLATED";

/// Whether a test that needs user_events can run here (`available` is `Err(why)` when not).
/// Where it cannot, the test fails if `COTRACE_REQUIRE_USER_EVENTS` is set (the VM runs), and
/// is otherwise skipped: `SKIPPED <test>: <why>` goes straight to stderr, past libtest's
/// capture, so CI's closing line counts it as a skip, not a pass.
pub fn user_events_or_skip(test: &str, available: Result<(), String>) -> bool {
    let Err(why) = available else {
        return true;
    };
    assert!(
        std::env::var_os("COTRACE_REQUIRE_USER_EVENTS").is_none(),
        "{test}: user_events required here but unavailable: {why}"
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {why} (scripts/test.sh runs it in the VM)"
    );
    false
}

/// Runs `body` in a private mount namespace (see the module docs). `name` is the test's name.
pub fn isolated(name: &str, body: impl FnOnce()) {
    isolated_within(name, Duration::from_secs(600), body);
}

/// [`isolated`], and the isolated run (with every process it started, as one process group) is
/// killed and the test fails if it takes longer than `limit`: for tests whose failure mode is a
/// hang.
pub fn isolated_within(name: &str, limit: Duration, body: impl FnOnce()) {
    use std::os::unix::process::CommandExt;
    if std::env::var_os(INSIDE).is_some() {
        body();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("cotrace-ust-iso-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount -t tmpfs cotrace-run /run && mount -t tmpfs cotrace-shm /dev/shm && exec \"$0\" \"$@\"")
        .arg(&exe)
        // `--include-ignored`: an #[ignore]d test run on purpose runs its body here too.
        .args([name, "--exact", "--include-ignored", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .process_group(0)
        .spawn()
        .expect("run unshare (util-linux) to isolate the test; needs root");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            // SAFETY: kill(2) of the process group this test just created (the isolated run and
            // everything it forked).
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    print!("{stdout}");
    eprint!("{stderr}");
    let status =
        status.unwrap_or_else(|| panic!("isolated test {name} hung: killed after {limit:?}"));
    assert!(status.success(), "isolated test {name} failed: {status}");
    assert!(
        stdout.contains("1 passed"),
        "isolated run of {name} did not run exactly that test"
    );
}

/// Forks `n` times; each child calls `in_child` and `_exit`s with its result. Panics (in the
/// isolated run) if a child fails or does not exit within 10 s.
pub fn fork_n(
    n: u32,
    mut before: impl FnMut(),
    mut after_parent: impl FnMut(),
    in_child: fn() -> i32,
) {
    for i in 0..n {
        before();
        // SAFETY: the child only calls `in_child` (status reads) and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
        if pid == 0 {
            let code = in_child();
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        after_parent();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut status = 0;
        loop {
            // SAFETY: waits for the child just forked, without blocking.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break;
            }
            if Instant::now() > deadline {
                // Slow or hung? What its threads are doing at 10 s, then whether it ends within
                // 30 s more.
                let at_limit = describe_threads(pid);
                let late = Instant::now() + Duration::from_secs(30);
                let ended = loop {
                    // SAFETY: as above.
                    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                    if r == pid {
                        break Some(deadline.elapsed());
                    }
                    if Instant::now() > late {
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                };
                if ended.is_none() {
                    // SAFETY: our own child.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                panic!(
                    "fork {i}: the child did not exit within 10 s ({}); its threads at 10 s:\n{at_limit}",
                    match ended {
                        Some(t) => format!("it exited {t:?} later, status {status:#x}"),
                        None => "nor 30 s later: killed".to_string(),
                    }
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "fork {i}: child status {status:#x}"
        );
    }
}

/// Each thread of `pid`: name, state, kernel wait channel, current system call and kernel stack
/// (`/proc/PID/task/*`; the stack needs root).
pub fn describe_threads(pid: libc::pid_t) -> String {
    let read = |p: PathBuf| {
        std::fs::read_to_string(p)
            .map(|s| s.trim_end().to_string())
            .unwrap_or_else(|e| format!("({e})"))
    };
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return format!("  (no /proc/{pid}/task)");
    };
    let mut out = String::new();
    for task in tasks.flatten() {
        let t = task.path();
        let stat = read(t.join("stat"));
        let state = stat
            .rsplit_once(") ")
            .map_or("?", |(_, rest)| rest.split(' ').next().unwrap_or("?"));
        let syscall = read(t.join("syscall"));
        out += &format!(
            "  tid {} {:?} state {state} wchan {} syscall {syscall}\n{}\n{}",
            task.file_name().to_string_lossy(),
            read(t.join("comm")),
            read(t.join("wchan")),
            read(t.join("stack"))
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
            user_stack_code_addresses(pid, &syscall)
        );
    }
    out
}

/// For a thread blocked in a system call (`/proc/PID/task/TID/syscall`: number, 6 arguments,
/// stack pointer, program counter): the words of the first 8 KiB of its user stack that point
/// into executable code of a file, as `file+vaddr` (the address less the file's load base),
/// with `addr2line -f -C` run on them where it is installed: the return addresses among them
/// tell who called the system call (a hang's lock, say); other words are stale values (and a
/// stripped library's names are only its nearest exported symbol). Empty when nothing is read.
fn user_stack_code_addresses(pid: libc::pid_t, syscall: &str) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let words: Vec<&str> = syscall.split_whitespace().collect();
    let Some(sp) = words
        .get(7)
        .and_then(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).ok())
    else {
        return String::new();
    };
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return String::new();
    };
    // (start, end, executable, file offset, file)
    let mut regions = Vec::new();
    for line in maps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(range), Some(perms), Some(offset), Some(file)) =
            (f.first(), f.get(1), f.get(2), f.get(5))
        else {
            continue;
        };
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let hex = |x: &str| u64::from_str_radix(x, 16).unwrap_or(0);
        regions.push((hex(a), hex(b), perms.contains('x'), hex(offset), *file));
    }
    let base = |file: &str| {
        regions
            .iter()
            .filter(|r| r.4 == file && r.3 == 0)
            .map(|r| r.0)
            .min()
    };
    let mut stack = vec![0u8; 8192];
    let read = std::fs::File::open(format!("/proc/{pid}/mem")).and_then(|mut mem| {
        mem.seek(SeekFrom::Start(sp))?;
        mem.read(&mut stack)
    });
    let Ok(n) = read else {
        return String::new();
    };
    let mut by_file: Vec<(&str, Vec<u64>)> = Vec::new();
    for word in stack[..n - n % 8].chunks_exact(8) {
        let addr = u64::from_ne_bytes(word.try_into().unwrap());
        let Some(r) = regions
            .iter()
            .find(|r| r.2 && r.4.starts_with('/') && (r.0..r.1).contains(&addr))
        else {
            continue;
        };
        let Some(b) = base(r.4) else { continue };
        match by_file.iter_mut().find(|(f, _)| *f == r.4) {
            Some((_, v)) => v.push(addr - b),
            None => by_file.push((r.4, vec![addr - b])),
        }
    }
    let mut out = String::new();
    for (file, addrs) in by_file {
        let hex: Vec<String> = addrs.iter().map(|a| format!("{a:#x}")).collect();
        out += &format!("    code on the user stack, {file}: {}\n", hex.join(" "));
        if let Ok(o) = Command::new("addr2line")
            .args(["-f", "-C", "-e", file])
            .args(&hex)
            .output()
        {
            let text = String::from_utf8_lossy(&o.stdout);
            let lines: Vec<&str> = text.lines().collect();
            for (a, pair) in hex.iter().zip(lines.chunks(2)) {
                out += &format!("      {a} {}\n", pair.join(" "));
            }
        }
    }
    out
}

/// Runs `load` (something that loads liblttng-ust) on a new thread, which sets the returned flag
/// when `load` returns, and waits until liblttng-ust is mapped into this process (at most 10 s):
/// the load is then under way, and with a [`fake_sessiond`] its constructor waits for seconds.
/// (Not until it connected to the fake daemon: that has been seen to happen only as the
/// constructor's wait ended.)
pub fn load_in_background<T: Send + 'static>(
    load: impl FnOnce() -> T + Send + 'static,
) -> (
    std::thread::JoinHandle<T>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let loader = {
        let done = done.clone();
        std::thread::spawn(move || {
            let result = load();
            done.store(true, Ordering::SeqCst);
            result
        })
    };
    let start = Instant::now();
    let mapped =
        || std::fs::read_to_string("/proc/self/maps").is_ok_and(|m| m.contains("liblttng-ust.so"));
    while !mapped() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "liblttng-ust was never loaded"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    (loader, done)
}

/// A session daemon that accepts liblttng-ust's connections and never answers, so that
/// loading liblttng-ust (and LTTng's child hook) waits out LTTng's 3 s registration timeout.
/// Sets `LTTNG_HOME`; the returned flag turns true when liblttng-ust connected.
pub fn fake_sessiond(name: &str) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::os::unix::net::UnixListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let home = std::env::temp_dir().join(format!("cotrace-ust-{name}-{}", std::process::id()));
    std::fs::create_dir_all(home.join(".lttng")).unwrap();
    std::fs::create_dir_all("/run/lttng").unwrap();
    // SAFETY: called before any other thread of this (isolated, single-test) process reads
    // the environment.
    unsafe { std::env::set_var("LTTNG_HOME", &home) };
    // The socket's name ends with LTTNG_UST_ABI_MAJOR_VERSION_OLDEST_COMPATIBLE of the
    // liblttng-ust that connects (`lttng/ust-ctl.h`, LTTNG_UST_SOCK_FILENAME): 8 in 2.13 and
    // 2.14, 11 in 2.15 and 2.16. Listen on both, global and per-user.
    let listeners: Vec<UnixListener> = ["8", "11"]
        .into_iter()
        .flat_map(|abi| {
            let name = format!("lttng-ust-sock-{abi}");
            [
                UnixListener::bind(Path::new("/run/lttng").join(&name)).unwrap(),
                UnixListener::bind(home.join(".lttng").join(&name)).unwrap(),
            ]
        })
        .collect();
    let connected = Arc::new(AtomicBool::new(false));
    for l in listeners {
        let connected = connected.clone();
        std::thread::spawn(move || {
            let mut held = vec![];
            for s in l.incoming() {
                connected.store(true, Ordering::SeqCst);
                held.push(s);
            }
        });
    }
    connected
}

/// One event of `lttng --mi xml list -u -f`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEvent {
    pub pid: u32,
    /// `provider:event`.
    pub name: String,
    /// `TRACE_INFO`, ...
    pub loglevel: String,
    /// `(name, type)`, the type as MI spells it (`INTEGER`, `FLOAT`, `STRING`, `ENUM`).
    pub fields: Vec<(String, String)>,
}

/// The text of `node`'s child element `tag`.
fn child_text<'a>(node: roxmltree::Node<'a, '_>, tag: &str) -> Option<&'a str> {
    node.children()
        .find(|c| c.has_tag_name(tag))
        .and_then(|c| c.text())
}

fn tool(name: &str) -> Command {
    Command::new(name)
}

/// A test's LTTng environment: its `LTTNG_HOME`, output directory and (maybe) session daemon.
pub struct Lttng {
    pub dir: PathBuf,
    sessiond: Option<Child>,
}

impl Lttng {
    fn dir_for(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cotrace-ust-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        dir
    }

    /// No session daemon at all.
    pub fn without_sessiond(name: &str) -> Self {
        Self {
            dir: Self::dir_for(name),
            sessiond: None,
        }
    }

    /// Starts a private session daemon and waits until it answers.
    pub fn start(name: &str) -> Self {
        let dir = Self::dir_for(name);
        let log = std::fs::File::create(dir.join("sessiond.log")).unwrap();
        let child = tool("lttng-sessiond")
            .arg("--no-kernel")
            .env("LTTNG_HOME", dir.join("home"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start lttng-sessiond (package lttng-tools)");
        let mut me = Self {
            dir,
            sessiond: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            me.assert_alive();
            if me.try_lttng(&["list"]).status.success() {
                break;
            }
            assert!(Instant::now() < deadline, "lttng-sessiond did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
        me
    }

    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    /// The pid of the session daemon this test started, if any.
    pub fn sessiond_pid(&self) -> Option<u32> {
        self.sessiond.as_ref().map(Child::id)
    }

    /// Panics unless the session daemon this test started still runs.
    pub fn assert_alive(&mut self) {
        if let Some(c) = &mut self.sessiond {
            if let Some(status) = c.try_wait().unwrap() {
                let log =
                    std::fs::read_to_string(self.dir.join("sessiond.log")).unwrap_or_default();
                panic!("our lttng-sessiond exited ({status}); log:\n{log}");
            }
        }
    }

    pub fn try_lttng(&self, args: &[&str]) -> Output {
        tool("lttng")
            .arg("--no-sessiond")
            .args(args)
            .env("LTTNG_HOME", self.home())
            .stdin(Stdio::null())
            .output()
            .expect("run lttng")
    }

    /// Runs `lttng --no-sessiond ARGS`, asserts success, returns its stdout.
    pub fn lttng(&mut self, args: &[&str]) -> String {
        let out = self.try_lttng(args);
        assert!(
            out.status.success(),
            "lttng {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.assert_alive();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `lttng --no-sessiond --mi xml ARGS` (the machine interface, the same in every
    /// version, unlike the human output that 2.15 turned into a tree), asserts success, and
    /// returns the XML.
    pub fn mi(&mut self, args: &[&str]) -> String {
        let mut all = vec!["--mi", "xml"];
        all.extend_from_slice(args);
        self.lttng(&all)
    }

    /// Whether SESSION is started (`<enabled>` of `lttng --mi xml list SESSION`).
    pub fn session_active(&mut self, session: &str) -> bool {
        let xml = self.mi(&["list", session]);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
        let found = doc
            .descendants()
            .filter(|n| n.has_tag_name("session"))
            .find(|s| child_text(*s, "name") == Some(session))
            .unwrap_or_else(|| panic!("no session {session} in:\n{xml}"));
        child_text(found, "enabled") == Some("true")
    }

    /// The user-space events applications registered, with their fields
    /// (`lttng --mi xml list -u -f`).
    pub fn app_events(&mut self) -> Vec<AppEvent> {
        let xml = self.mi(&["list", "-u", "-f"]);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
        let mut out = vec![];
        for pid in doc.descendants().filter(|n| n.has_tag_name("pid")) {
            let Some(id) = child_text(pid, "id").and_then(|s| s.parse().ok()) else {
                continue;
            };
            for event in pid.descendants().filter(|n| n.has_tag_name("event")) {
                out.push(AppEvent {
                    pid: id,
                    name: child_text(event, "name").unwrap_or_default().into(),
                    loglevel: child_text(event, "loglevel").unwrap_or_default().into(),
                    fields: event
                        .descendants()
                        .filter(|n| n.has_tag_name("event_field"))
                        .map(|f| {
                            let text = |t| child_text(f, t).unwrap_or_default().to_string();
                            (text("name"), text("type"))
                        })
                        .collect(),
                });
            }
        }
        out
    }

    /// The processes `lttng --mi xml list -u` lists.
    pub fn registered_pids(&mut self) -> Vec<u32> {
        let xml = self.mi(&["list", "-u"]);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
        doc.descendants()
            .filter(|n| n.has_tag_name("pid"))
            .filter_map(|pid| child_text(pid, "id").and_then(|s| s.parse().ok()))
            .collect()
    }

    /// The sessions' names (`lttng --mi xml list`; the human output quotes them from 2.15).
    pub fn session_names(&self) -> Vec<String> {
        let out = self.try_lttng(&["--mi", "xml", "list"]);
        let xml = String::from_utf8_lossy(&out.stdout);
        let Ok(doc) = roxmltree::Document::parse(&xml) else {
            return vec![];
        };
        doc.descendants()
            .filter(|n| n.has_tag_name("session"))
            .filter_map(|s| child_text(s, "name").map(String::from))
            .collect()
    }

    pub fn trace_dir(&self, session: &str) -> PathBuf {
        self.dir.join(format!("trace-{session}"))
    }

    /// `lttng create SESSION --output=...`.
    pub fn create(&mut self, session: &str) {
        let out = format!("--output={}", self.trace_dir(session).display());
        self.lttng(&["create", session, &out]);
    }

    /// The session's events as babeltrace2 prints them (none when no application ever wrote
    /// to the session, which leaves no CTF metadata behind).
    pub fn events(&self, session: &str) -> Vec<Event> {
        let dir = self.trace_dir(session);
        if !has_metadata(&dir) {
            return vec![];
        }
        read_trace(&dir)
    }

    /// Starts the test application.
    pub fn app(&self, env: &[(&str, &str)]) -> App {
        App::spawn(&self.home(), env)
    }

    /// Waits (at most 60 s) until `lttng list --userspace` lists every process in `pids`, and
    /// with that until the daemon has given each one every started session: an app that
    /// (re-)registers on its own schedule (after a daemon restart, a fork) may do so after
    /// `lttng start` returned, and LTTng counts its session in (the app attaches the probes, so
    /// cotrace's word goes up) one round trip to the daemon before the session records
    /// (lttng-ust's `lttng_session_enable`: `lttng_session_sync_event_enablers`, then
    /// `ustcomm_register_channel`, then `session->active = 1`). Events fired in that window are
    /// dropped by LTTng, as for a C tracepoint: a test that fires as soon as the word says so can
    /// lose them. Why a listing is enough: lttng-sessiond adds a registering app to its table
    /// and pushes every started session to it (waiting for each start's reply, which the app
    /// sends once the session is active) under its session list lock (`dispatch.cpp`,
    /// `update_ust_app`), and `list --userspace` takes that lock (`client.cpp`).
    pub fn wait_registered(&mut self, pids: &[u32]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // The machine interface: 2.15's human output no longer says `PID: N`.
            let listed = self.registered_pids();
            let missing: Vec<u32> = pids
                .iter()
                .copied()
                .filter(|pid| !listed.contains(pid))
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "processes {missing:?} not registered with lttng-sessiond within 60 s; \
                 lttng --mi xml list -u lists {listed:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the session daemon and its consumer daemons with SIGKILL (no cleanup on their
    /// side: the applications see their sockets close).
    pub fn kill_sessiond(&mut self) {
        if let Some(mut child) = self.sessiond.take() {
            let pids = descendants(child.id());
            child.kill().unwrap();
            child.wait().unwrap();
            for pid in pids {
                // SAFETY: kill(2) on pids of processes this test started (the daemon's own
                // consumer daemons, found through /proc).
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
}

impl Drop for Lttng {
    fn drop(&mut self) {
        if let Some(mut child) = self.sessiond.take() {
            let _ = self.try_lttng(&["destroy", "--all"]);
            let pids = descendants(child.id());
            // SAFETY: SIGTERM to the daemon this test started; it stops its consumers.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            for pid in pids {
                // SAFETY: as in `kill_sessiond`; a no-op for consumers that already exited
                // (their pids are not reused this quickly within our namespace's run).
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn has_metadata(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            has_metadata(&p)
        } else {
            p.file_name().is_some_and(|n| n == "metadata")
        }
    })
}

/// All descendants of `pid` (found through /proc/*/stat).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name is in parentheses and may contain spaces.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            if let Some(ppid) = rest
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse::<u32>().ok())
            {
                parents.insert(p, ppid);
            }
        }
    }
    let mut out = vec![];
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (&c, &pp) in &parents {
            if pp == p {
                out.push(c);
                frontier.push(c);
            }
        }
    }
    out
}

/// The test application (tests/bin/ust_test_app.rs), driven line by line.
pub struct App {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub pid: u32,
}

/// `target/<profile>`: where cargo put the running test binary's siblings (it runs from
/// `target/<profile>/deps`).
pub fn target_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

fn app_path() -> PathBuf {
    // Built by cargo, from the current sources, for cotrace-ust's integration tests. (Other
    // crates' tests that include this harness get no such variable; they look next to their own
    // binary, where a workspace build puts it.)
    if let Some(path) = option_env!("CARGO_BIN_EXE_cotrace-ust-test-app") {
        return PathBuf::from(path);
    }
    let path = target_profile_dir().join("cotrace-ust-test-app");
    assert!(
        path.exists(),
        "{} not built (cargo build -p cotrace-ust --bin cotrace-ust-test-app)",
        path.display()
    );
    path
}

impl App {
    fn spawn(home: &Path, env: &[(&str, &str)]) -> App {
        let mut cmd = Command::new(app_path());
        cmd.env("LTTNG_HOME", home)
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start the test application");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut app = App {
            pid: child.id(),
            child,
            stdin,
            stdout,
        };
        let ready = app.read_line();
        assert!(ready.starts_with("ready"), "app said {ready:?}");
        app
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the test application exited");
        line.trim_end().to_string()
    }

    /// Sends one command, returns the one-line reply.
    pub fn cmd(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.read_line()
    }

    /// The user count of `event`'s word.
    pub fn users(&mut self, event: &str) -> u32 {
        let reply = self.cmd(&format!("count {event}"));
        reply
            .split_whitespace()
            .find_map(|w| w.strip_prefix("users="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad count reply {reply:?}"))
    }

    /// Waits (bounded) until `event`'s user count is `n`; returns how long it took in ms.
    pub fn wait_users(&mut self, event: &str, n: u32) -> u64 {
        let reply = self.cmd(&format!("wait_count {event} {n} 10000"));
        assert!(
            reply.starts_with("ok"),
            "{event}: waiting for users={n}: {reply}"
        );
        reply
            .rsplit_once("after_ms=")
            .and_then(|(_, ms)| ms.parse().ok())
            .unwrap()
    }

    /// Ends the application and returns whether it exited successfully.
    pub fn quit(mut self) -> bool {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        self.child.wait().unwrap().success()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One event of babeltrace2's text output.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    /// Context and payload fields, `name -> text`.
    pub fields: BTreeMap<String, String>,
    /// Payload field names in order.
    pub order: Vec<String>,
}

impl Event {
    pub fn get(&self, field: &str) -> &str {
        self.fields
            .get(field)
            .unwrap_or_else(|| panic!("no field {field} in {self:?}"))
    }
}

/// `babeltrace2 ARGS... DIR`: its text output (asserts that it succeeded).
pub fn babeltrace2(args: &[&str], dir: &Path) -> String {
    let out = Command::new("babeltrace2")
        .args(args)
        .arg(dir)
        .output()
        .expect("run babeltrace2");
    assert!(
        out.status.success(),
        "babeltrace2 {args:?} {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs babeltrace2 on a trace directory and parses its lines.
pub fn read_trace(dir: &Path) -> Vec<Event> {
    babeltrace2(&[], dir).lines().map(parse_line).collect()
}

/// Parses `[time] (+delta) host provider:event: { ctx }, { a = 1, s = "x, y", q = [ ... ] }`.
pub fn parse_line(line: &str) -> Event {
    let after_host = line.splitn(4, ' ').nth(3).unwrap_or("");
    let (name, rest) = after_host.split_once(": ").unwrap_or((after_host, ""));
    let mut fields = BTreeMap::new();
    let mut order = vec![];
    let groups = top_level_groups(rest);
    for (i, g) in groups.iter().enumerate() {
        for item in split_top(g) {
            if let Some((k, v)) = item.split_once(" = ") {
                fields.insert(k.trim().to_string(), v.trim().to_string());
                if i + 1 == groups.len() {
                    order.push(k.trim().to_string());
                }
            }
        }
    }
    Event {
        name: name.to_string(),
        fields,
        order,
    }
}

/// Inside a string literal (`quoted`), tracks escapes and the closing quote; returns whether `c`
/// belongs to the literal (and so has no structural meaning).
fn in_string(quoted: &mut bool, escaped: &mut bool, c: char) -> bool {
    if !*quoted {
        return false;
    }
    if *escaped {
        *escaped = false;
    } else if c == '\\' {
        *escaped = true;
    } else if c == '"' {
        *quoted = false;
    }
    true
}

fn top_level_groups(s: &str) -> Vec<String> {
    let mut groups = vec![];
    let (mut depth, mut quoted, mut escaped) = (0, false, false);
    let mut cur = String::new();
    for c in s.chars() {
        if in_string(&mut quoted, &mut escaped, c) {
            cur.push(c);
            continue;
        }
        match c {
            '{' => {
                if depth > 0 {
                    cur.push(c);
                }
                depth += 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    groups.push(std::mem::take(&mut cur));
                } else {
                    cur.push(c);
                }
            }
            '"' => {
                quoted = true;
                if depth > 0 {
                    cur.push(c);
                }
            }
            _ if depth > 0 => cur.push(c),
            _ => {}
        }
    }
    groups
}

fn split_top(s: &str) -> Vec<String> {
    let mut out = vec![];
    let (mut depth, mut quoted, mut escaped) = (0, false, false);
    let mut cur = String::new();
    for c in s.chars() {
        if in_string(&mut quoted, &mut escaped, c) {
            cur.push(c);
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                cur.push(c);
            }
            '[' | '{' => {
                depth += 1;
                cur.push(c);
            }
            ']' | '}' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// A traced app run as a child: this test binary's `#[ignore]`d test `test`, told by the
/// environment variable `env` to fire its events, print a line starting with `fired`, and wait
/// until the file it names exists before it exits (so the session daemon still sees it).
#[allow(dead_code)] // not every test file that includes this harness has such a child
pub struct HeldChild {
    child: Child,
    out: BufReader<ChildStdout>,
    hold: PathBuf,
    /// What the child printed so far.
    pub text: String,
}

#[allow(dead_code)]
impl HeldChild {
    /// Starts the child with `l`'s `LTTNG_HOME` and returns once it has printed `fired`.
    pub fn start(l: &Lttng, test: &str, env: &str) -> Self {
        let hold = l.dir.join(format!("hold-{test}"));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--ignored", "--nocapture"])
            .env(env, &hold)
            .env("LTTNG_HOME", l.home())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut text = String::new();
        let mut line = String::new();
        while !line.starts_with("fired") {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "child ended:\n{text}"
            );
            text.push_str(&line);
        }
        Self {
            child,
            out,
            hold,
            text,
        }
    }

    /// Lets the child exit, and asserts it succeeded; returns all it printed.
    pub fn release(mut self) -> String {
        std::fs::write(&self.hold, "").unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.out, &mut rest).unwrap();
        self.text.push_str(&rest);
        assert!(
            self.child.wait().unwrap().success(),
            "child failed:\n{}",
            self.text
        );
        self.text
    }
}
