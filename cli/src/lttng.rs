//! The LTTng side: the `lttng` command (its machine interface, `--mi xml`), and babeltrace2.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::timeline::{Entry, Fields, Names, Tracer};

/// A helper command (`lttng`, `babeltrace2`) in a process group of its own: a Ctrl-C at the
/// terminal reaches CMD and cotrace, not the helper that is stopping the session or reading
/// the trace.
pub fn helper(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command.process_group(0);
    command
}

/// Runs `lttng --no-sessiond ARGS` (never spawning a daemon of its own) and returns stdout.
pub fn lttng(args: &[&str]) -> Result<String, String> {
    lttng_in(None, args)
}

/// [`lttng`] with `LTTNG_HOME` set to `home` (the session daemon of that home), or inherited.
pub fn lttng_in(home: Option<&Path>, args: &[&str]) -> Result<String, String> {
    let mut command = helper("lttng");
    if let Some(home) = home {
        command.env("LTTNG_HOME", home);
    }
    let out = command
        .arg("--no-sessiond")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `lttng` ({e}): install lttng-tools"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`lttng {}` failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}

/// The `MAJOR.MINOR` of the first version number in `text` (`lttng --version`: "lttng (LTTng
/// Trace Control) 2.15.1 - ...", `babeltrace2 --version`: "Babeltrace 2.0.4 ...").
fn parse_version(text: &str) -> Option<(u32, u32)> {
    text.split_whitespace().find_map(|word| {
        let mut parts = word.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some((major, minor))
    })
}

/// `PROGRAM --version`'s `MAJOR.MINOR`, or `None` if it cannot be run or says none.
fn version_of(program: &str) -> Option<(u32, u32)> {
    let out = helper(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

/// The trace format to ask `lttng create` for, given the versions of `lttng` and
/// `babeltrace2`: from LTTng 2.15 a session daemon writes CTF 2 by default (or whatever its
/// `--default-trace-format` / `LTTNG_SESSIOND_DEFAULT_TRACE_FORMAT` says), which babeltrace2
/// reads only from 2.1; `record` then asks for CTF 1.8, which every LTTng and babeltrace2
/// read. `None`: the default is fine (LTTng before 2.15 writes only CTF 1.8, or babeltrace2
/// reads both).
pub fn trace_format_for(
    lttng: Option<(u32, u32)>,
    babeltrace2: Option<(u32, u32)>,
) -> Option<&'static str> {
    let writes_ctf2 = lttng.is_some_and(|v| v >= (2, 15));
    let reads_ctf2 = babeltrace2.is_some_and(|v| v >= (2, 1));
    (writes_ctf2 && !reads_ctf2).then_some("ctf-1.8")
}

/// [`trace_format_for`] the installed `lttng` and `babeltrace2`.
pub fn trace_format() -> Option<&'static str> {
    // Both at once: each is a process start.
    let babeltrace2 = std::thread::spawn(|| version_of("babeltrace2"));
    let lttng = version_of("lttng");
    trace_format_for(lttng, babeltrace2.join().ok().flatten())
}

/// Whether an `lttng-sessiond` answers (for this user / `LTTNG_HOME`).
pub fn sessiond_running() -> bool {
    lttng(&["list"]).is_ok()
}

/// An `lttng-sessiond --no-kernel` that cotrace started and stops.
pub struct PrivateSessiond {
    child: std::process::Child,
}

impl PrivateSessiond {
    /// Starts one and waits (up to 10 s) until it answers. It runs in a session of its own
    /// (no terminal, so a Ctrl-C or a hang-up does not reach it: cotrace stops it last) and
    /// receives SIGTERM when cotrace dies, even by SIGKILL (`PR_SET_PDEATHSIG`).
    pub fn start() -> Result<Self, String> {
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        let mut command = Command::new("lttng-sessiond");
        command
            .arg("--no-kernel")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: the closure runs in the forked child before exec and calls only
        // async-signal-safe functions (setsid, prctl, getppid, _exit).
        unsafe {
            command.pre_exec(move || {
                libc::setsid();
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // cotrace died before the prctl: nobody would stop this daemon.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            })
        };
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start lttng-sessiond ({e}): install lttng-tools"))?;
        let mut me = Self { child };
        for _ in 0..200 {
            if sessiond_running() {
                return Ok(me);
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                return Err(format!("lttng-sessiond exited at start ({status})"));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        me.stop();
        Err("lttng-sessiond did not answer within 10 s".into())
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it.
    pub fn stop(&mut self) {
        // SAFETY: kill(2) on the pid of our own child, which we have not yet waited for.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &'a str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> + 'a {
    node.children().filter(move |n| n.has_tag_name(name))
}

fn child_text<'a>(node: roxmltree::Node<'a, '_>, name: &'a str) -> Option<&'a str> {
    children(node, name).next().and_then(|n| n.text())
}

fn descend<'a, 'i>(node: roxmltree::Node<'a, 'i>, path: &[&str]) -> Vec<roxmltree::Node<'a, 'i>> {
    let mut nodes = vec![node];
    for name in path {
        nodes = nodes
            .into_iter()
            .flat_map(|n| n.children().filter(|c| c.has_tag_name(*name)))
            .collect();
    }
    nodes
}

/// An LTTng-UST event an application registered (`lttng --mi xml list -u`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEvent {
    /// `provider:event`.
    pub name: String,
    /// The process.
    pub pid: u32,
    /// Its executable.
    pub process: String,
    /// Its loglevel (`TRACE_INFO`).
    pub loglevel: String,
}

/// Parses `lttng --mi xml list -u`.
pub fn parse_app_events(xml: &str) -> Result<Vec<AppEvent>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("lttng MI: {e}"))?;
    let mut out = Vec::new();
    for domain in descend(doc.root_element(), &["output", "domains", "domain"]) {
        for pid in descend(domain, &["pids", "pid"]) {
            let id = child_text(pid, "id")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let process = child_text(pid, "name").unwrap_or("?").to_string();
            for event in descend(pid, &["events", "event"]) {
                out.push(AppEvent {
                    name: child_text(event, "name").unwrap_or("?").to_string(),
                    pid: id,
                    process: process.clone(),
                    loglevel: child_text(event, "loglevel").unwrap_or("").to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// Parses `lttng --mi xml list`: the sessions' names.
pub fn parse_sessions(xml: &str) -> Result<Vec<String>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("lttng MI: {e}"))?;
    Ok(
        descend(doc.root_element(), &["output", "sessions", "session"])
            .into_iter()
            .filter_map(|s| child_text(s, "name").map(String::from))
            .collect(),
    )
}

/// What one session enables in the user-space domain (`lttng --mi xml list SESSION`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRules {
    /// The session.
    pub session: String,
    /// Whether it is started.
    pub active: bool,
    /// Enabled event rules (names or patterns such as `shop:*`) of enabled channels.
    pub patterns: Vec<String>,
}

/// Parses `lttng --mi xml list SESSION`.
pub fn parse_session(xml: &str) -> Result<Vec<SessionRules>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("lttng MI: {e}"))?;
    let mut out = Vec::new();
    for session in descend(doc.root_element(), &["output", "sessions", "session"]) {
        let mut rules = SessionRules {
            session: child_text(session, "name").unwrap_or("?").to_string(),
            active: child_text(session, "enabled") == Some("true"),
            patterns: Vec::new(),
        };
        for domain in descend(session, &["domains", "domain"]) {
            if child_text(domain, "type") != Some("UST") {
                continue;
            }
            for channel in descend(domain, &["channels", "channel"]) {
                if child_text(channel, "enabled") != Some("true") {
                    continue;
                }
                for event in descend(channel, &["events", "event"]) {
                    if child_text(event, "enabled") == Some("true") {
                        if let Some(name) = child_text(event, "name") {
                            rules.patterns.push(name.to_string());
                        }
                    }
                }
            }
        }
        out.push(rules);
    }
    Ok(out)
}

/// Parses `lttng --mi xml list SESSION`: events discarded and packets lost, summed over the
/// session's user-space channels.
///
/// A count with bit 63 set is read without it: lttng-tools 2.13's consumer, finding a stream's
/// discarded counter lower than its last sample (a race with its own sampling), adds
/// 2^63 as a wrap marker (seen in the VM: `9223372036854776107` where 299 events were missing);
/// 2.14 skips that sample instead.
pub fn parse_losses(xml: &str) -> Result<(u64, u64), String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("lttng MI: {e}"))?;
    let (mut discarded, mut lost) = (0, 0);
    for attributes in descend(
        doc.root_element(),
        &[
            "output",
            "sessions",
            "session",
            "domains",
            "domain",
            "channels",
            "channel",
            "attributes",
        ],
    ) {
        let n = |k| {
            child_text(attributes, k)
                .and_then(|t| t.parse::<u64>().ok())
                .map_or(0, |n| n & !(1 << 63))
        };
        discarded += n("discarded_events");
        lost += n("lost_packets");
    }
    Ok((discarded, lost))
}

/// One line of babeltrace2's text output, borrowed from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// Monotonic time in ns (`--clock-cycles` of LTTng's monotonic clock at 1 GHz).
    pub ts_ns: u64,
    /// `vpid` context.
    pub pid: Option<u32>,
    /// `vtid` context.
    pub tid: Option<u32>,
    /// `provider:event`.
    pub event: &'a [u8],
    /// The payload, as babeltrace2 prints it (`worker = 0, path = "/a"`).
    pub payload: &'a [u8],
}

/// An LTTng trace read with `babeltrace2 --clock-cycles --no-delta` as it prints it (in time
/// order): its records one at a time, as timeline entries, so memory does not grow with the
/// trace. Each line is read into the same buffer and its payload split into the entry's
/// [`Fields`] without a `String` per line, name or value.
pub struct TraceReader {
    child: std::process::Child,
    lines: std::io::BufReader<std::process::ChildStdout>,
    line: Vec<u8>,
    names: Names,
    stderr: std::thread::JoinHandle<(String, u64)>,
    dir: PathBuf,
    error: Option<String>,
}

impl TraceReader {
    /// Starts babeltrace2 on `dir`.
    pub fn start(dir: &Path) -> Result<Self, String> {
        use std::io::BufRead;
        let mut command = match stdbuf_for("babeltrace2") {
            Some((stdbuf, babeltrace2)) => {
                let mut c = helper(stdbuf);
                c.arg(format!("-o{STDOUT_BUFFER}")).arg(babeltrace2);
                c
            }
            None => helper("babeltrace2"),
        };
        let mut child = command
            .args(["--clock-cycles", "--no-delta"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run babeltrace2 ({e}): install babeltrace2"))?;
        let stdout = child.stdout.take().expect("piped");
        // A larger pipe: babeltrace2 blocks (and wakes this reader) less often. Best effort.
        // SAFETY: F_SETPIPE_SZ on a pipe this process owns; an error changes nothing.
        unsafe {
            use std::os::fd::AsRawFd;
            libc::fcntl(stdout.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
        }
        let mut stderr = child.stderr.take().expect("piped");
        // Drained aside (a full stderr pipe would stop babeltrace2); the first 64 KiB kept, and
        // the events its discarded-events warnings count (all of them) summed.
        let stderr = std::thread::spawn(move || {
            let mut kept = String::new();
            let mut discarded = 0u64;
            let mut lines = std::io::BufReader::new(&mut stderr);
            let mut line = Vec::new();
            while let Ok(n) = lines.read_until(b'\n', &mut line) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&line);
                discarded += discarded_events(&text);
                if kept.len() < 64 * 1024 {
                    kept.push_str(&text);
                }
                line.clear();
            }
            (kept, discarded)
        });
        Ok(Self {
            child,
            lines: std::io::BufReader::with_capacity(256 * 1024, stdout),
            line: Vec::with_capacity(512),
            names: Names::default(),
            stderr,
            dir: dir.to_path_buf(),
            error: None,
        })
    }

    /// Waits for babeltrace2: the number of events its warnings say the tracer discarded (from
    /// the packets themselves), or, where it failed or its output could not be read, why, in a
    /// line (its first error: [`first_error`]).
    pub fn finish(mut self) -> Result<u64, String> {
        // Whatever was not read (an error stopped the merge) is dropped.
        drop(self.lines);
        let status = self
            .child
            .wait()
            .map_err(|e| format!("waiting for babeltrace2 {}: {e}", self.dir.display()))?;
        let (stderr, discarded) = self.stderr.join().unwrap_or_default();
        if let Some(e) = self.error.take() {
            return Err(format!("reading babeltrace2's output: {e}"));
        }
        if !status.success() {
            return Err(format!("{} ({status})", first_error(&stderr)));
        }
        Ok(discarded)
    }
}

/// The line that says why babeltrace2 failed, from its stderr: its first error-level log line
/// (the root cause: they are logged innermost first), without the log prefix, as in
/// `12-06 23:01:36.109 32388 32388 E PLUGIN/CTF/META/IR-VISITOR visit_event_decl@visitor-generate-ir.c:3345
/// [auto-disc-source-ctf-fs] At line 117 in metadata stream: Cannot find stream class at this
/// point: id=0`; else the innermost cause of its `ERROR:` report (`CAUSED BY [...] (...)` and
/// the indented lines under it); else its first line.
pub fn first_error(stderr: &str) -> String {
    let logged = stderr.lines().find_map(|line| {
        // date time pid tid level tag function@file:line [component] message
        let words: Vec<&str> = line.split_whitespace().take(7).collect();
        let [_, _, pid, tid, level, _, at] = words[..] else {
            return None;
        };
        let numeric = |w: &str| w.bytes().all(|b| b.is_ascii_digit());
        if !(numeric(pid) && numeric(tid) && matches!(level, "E" | "F") && at.contains('@')) {
            return None;
        }
        let message = line.split_once(at)?.1.trim();
        let message = match message.strip_prefix('[') {
            Some(rest) => rest.split_once("] ").map_or(message, |(_, m)| m),
            None => message,
        };
        Some(message.to_string())
    });
    if let Some(message) = logged.filter(|m| !m.is_empty()) {
        return message;
    }
    let mut cause: Option<Vec<&str>> = None;
    for line in stderr.lines() {
        if line.starts_with("CAUSED BY ") {
            cause = Some(Vec::new());
        } else if let Some(c) = cause.as_mut().filter(|_| line.starts_with("  ")) {
            c.push(line.trim());
        }
    }
    match cause.filter(|c| !c.is_empty()) {
        Some(c) => c.join(" "),
        None => stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no error message")
            .to_string(),
    }
}

/// babeltrace2's stdout buffer through `stdbuf`.
const STDOUT_BUFFER: &str = "1M";

/// `stdbuf` (coreutils) and `program`, both found in PATH with `stdbuf`'s preload library
/// beside it, to run `program` with a larger stdout buffer: babeltrace2 prints through stdio,
/// which buffers a pipe 4 KiB at a time, a write (and a wake-up of the reader) per 4 KiB. In the
/// 6.12 VM (QEMU TCG) one million events took babeltrace2 56.6 s into a pipe, 38.1 s with
/// `stdbuf -o1M` (44.2 s into a file). `None` (run `program` as it is) when either is missing.
fn stdbuf_for(program: &str) -> Option<(PathBuf, PathBuf)> {
    let program = crate::record::resolve(program).ok()?;
    let stdbuf = crate::record::resolve("stdbuf").ok()?;
    // stdbuf preloads libstdbuf.so from coreutils' libexec directory (or its own).
    let bin = stdbuf.parent()?;
    let prefix = bin.parent()?;
    [
        prefix.join("libexec/coreutils/libstdbuf.so"),
        prefix.join("lib/coreutils/libstdbuf.so"),
        bin.join("libstdbuf.so"),
    ]
    .iter()
    .any(|p| p.is_file())
    .then_some((stdbuf, program))
}

/// The events a babeltrace2 warning line counts as discarded by the tracer (0 for other lines):
/// `WARNING: Tracer discarded 688 events between [...] and [...] in trace ...`.
pub fn discarded_events(line: &str) -> u64 {
    line.split_once("Tracer discarded ")
        .and_then(|(_, rest)| {
            let (n, rest) = rest.split_once(' ')?;
            rest.starts_with("event").then(|| n.parse().ok())?
        })
        .unwrap_or(0)
}

impl Iterator for TraceReader {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        use std::io::BufRead;
        loop {
            self.line.clear();
            match self.lines.read_until(b'\n', &mut self.line) {
                Ok(0) => return None,
                Ok(_) => {
                    let text = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
                    if let Some(l) = parse_line(text) {
                        let mut fields = Fields::new();
                        payload_fields(l.payload, &mut fields);
                        return Some(Entry {
                            ts_ns: l.ts_ns,
                            tracer: Tracer::Lttng,
                            pid: l.pid,
                            tid: l.tid,
                            event: self.names.get(l.event, str::to_string),
                            fields,
                        });
                    }
                }
                Err(e) => {
                    self.error = Some(e.to_string());
                    return None;
                }
            }
        }
    }
}

/// The event names an LTTng trace declares (its CTF `metadata`: `name = "provider:event";`).
pub fn event_names(dir: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            names.extend(event_names(&path));
        } else if entry.file_name() == "metadata" {
            let text = String::from_utf8_lossy(&fs::read(&path).unwrap_or_default()).into_owned();
            for part in text.split("name = \"").skip(1) {
                if let Some(name) = part.split('"').next().filter(|n| n.contains(':')) {
                    names.insert(name.to_string());
                }
            }
        }
    }
    names
}

/// A decimal number (surrounding blanks allowed), `None` on anything else or overflow.
fn decimal(text: &[u8]) -> Option<u64> {
    let digits = text.trim_ascii();
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then_some(())?;
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// The searchers [`parse_line`] and [`payload_fields`] use, built once (building one is
/// dearer than a search in one line).
struct Finders {
    vpid: memchr::memmem::Finder<'static>,
    vtid: memchr::memmem::Finder<'static>,
    group: memchr::memmem::Finder<'static>,
    last_group: memchr::memmem::FinderRev<'static>,
    eq: memchr::memmem::Finder<'static>,
}

static FINDERS: std::sync::LazyLock<Finders> = std::sync::LazyLock::new(|| Finders {
    vpid: memchr::memmem::Finder::new(b"vpid = "),
    vtid: memchr::memmem::Finder::new(b"vtid = "),
    group: memchr::memmem::Finder::new(GROUP),
    last_group: memchr::memmem::FinderRev::new(GROUP),
    eq: memchr::memmem::Finder::new(b" = "),
});

/// Between two `{ ... }` groups of a line.
const GROUP: &[u8] = b"}, {";

/// Parses `[00000001626444978263] host shop:request_start: { cpu_id = 0 }, { vpid = 1, vtid = 2 }, { worker = 0 }`.
pub fn parse_line(line: &[u8]) -> Option<Line<'_>> {
    let finders = &*FINDERS;
    let rest = line.strip_prefix(b"[")?;
    let close = memchr::memchr(b']', rest)?;
    let ts_ns = decimal(&rest[..close])?;
    let rest = rest[close + 1..].trim_ascii_start();
    // `host event: rest`.
    let mut words = rest.splitn(3, |&b| b == b' ');
    let _host = words.next()?;
    let event = words.next()?.strip_suffix(b":")?;
    let rest = words.next().unwrap_or(b"");
    let number = |key: &memchr::memmem::Finder<'_>| -> Option<u32> {
        let at = key.find(rest)? + key.needle().len();
        let digits = rest[at..].iter().take_while(|b| b.is_ascii_digit()).count();
        u32::try_from(decimal(&rest[at..at + digits])?).ok()
    };
    let (pid, tid) = (number(&finders.vpid), number(&finders.vtid));
    // The payload is the last `{ ... }` group (after the stream and event contexts).
    let (last, groups) = match (finders.group.find(rest), finders.last_group.rfind(rest)) {
        (None, _) | (_, None) => (rest, 1),
        (Some(first), Some(at)) => (&rest[at + GROUP.len()..], if first == at { 2 } else { 3 }),
    };
    let payload = if groups >= 3 || (groups == 2 && pid.is_none()) {
        last
    } else {
        b""
    };
    let mut payload = payload.trim_ascii();
    while let Some(p) = payload.strip_prefix(b"{") {
        payload = p;
    }
    while let Some(p) = payload.strip_suffix(b"}") {
        payload = p;
    }
    Some(Line {
        ts_ns,
        pid,
        tid,
        event,
        payload: payload.trim_ascii(),
    })
}

/// babeltrace2's payload `a = 1, s = "x", d = [ [0] = 0x1 ]` as pairs in `out` (quotes
/// removed; the `_name_length` fields of sequences left out), without copying it apart.
pub fn payload_fields(text: &[u8], out: &mut Fields) {
    let finders = &*FINDERS;
    let mut pair = |part: &[u8]| {
        let part = part.trim_ascii();
        let Some(eq) = finders.eq.find(part) else {
            return;
        };
        let (k, v) = (&part[..eq], part[eq + 3..].trim_ascii());
        if k.starts_with(b"_") {
            return;
        }
        let v = match v {
            [b'"', inner @ .., b'"'] => inner,
            v => v,
        };
        out.push(k, v);
    };
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, &b) in text.iter().enumerate() {
        match b {
            b'"' if i == 0 || text[i - 1] != b'\\' => quoted = !quoted,
            b'[' | b'{' if !quoted => depth += 1,
            b']' | b'}' if !quoted => depth -= 1,
            b',' if !quoted && depth == 0 => {
                pair(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pair(&text[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctf_1_8_is_asked_for_when_lttng_writes_ctf_2_and_babeltrace2_cannot_read_it() {
        let lttng = parse_version("lttng (LTTng Trace Control) 2.15.1 - Ta Meilleure");
        assert_eq!(lttng, Some((2, 15)));
        let bt = parse_version("Babeltrace 2.0.4 \"Amqui\"\n");
        assert_eq!(bt, Some((2, 0)));
        assert_eq!(trace_format_for(lttng, bt), Some("ctf-1.8"));
        assert_eq!(trace_format_for(Some((2, 16)), None), Some("ctf-1.8"));
        assert_eq!(trace_format_for(Some((2, 15)), Some((2, 1))), None);
        assert_eq!(trace_format_for(Some((2, 13)), Some((2, 0))), None);
        assert_eq!(trace_format_for(None, Some((2, 0))), None);
    }

    #[test]
    fn discarded_events_warnings() {
        let w = "WARNING: Tracer discarded 688 events between [12:00:00.000000001] and \
                 [12:00:00.500000000] in trace \"t\" (UUID: x) within stream \"s\" \
                 (stream class ID: 0, stream ID: 1).\n";
        assert_eq!(discarded_events(w), 688);
        assert_eq!(
            discarded_events("WARNING: Tracer discarded 1 event between ..."),
            1
        );
        assert_eq!(
            discarded_events("WARNING: Tracer discarded 3 packets between ..."),
            0
        );
        assert_eq!(
            discarded_events("WARNING: Tracer may have discarded events ..."),
            0
        );
        assert_eq!(discarded_events("[00000001626444978263] host p:e: { }"), 0);
    }

    #[test]
    fn babeltrace_lines() {
        let r = parse_line(b"[00000001626444986753] vm shop:request_done: { cpu_id = 0 }, { vpid = 29894, vtid = 29899 }, { worker = 0, status = 404, path = \"/item/0\" }").unwrap();
        assert_eq!(r.ts_ns, 1_626_444_986_753);
        assert_eq!((r.pid, r.tid), (Some(29894), Some(29899)));
        assert_eq!(r.event, b"shop:request_done");
        assert_eq!(r.payload, b"worker = 0, status = 404, path = \"/item/0\"");
        let r = parse_line(b"[5] vm p:e: { cpu_id = 0 }, { vpid = 1, vtid = 1 }").unwrap();
        assert_eq!(r.payload, b"");
        // No vpid context: the second group is the payload.
        let r = parse_line(b"[6] vm p:e: { cpu_id = 1 }, { a = 2 }").unwrap();
        assert_eq!((r.pid, r.payload), (None, &b"a = 2"[..]));
        // One group: the stream context only.
        let r = parse_line(b"[7] vm p:e: { cpu_id = 1 }").unwrap();
        assert_eq!(r.payload, b"");
        // Not an event line (a warning, a damaged timestamp).
        assert!(parse_line(b"WARNING: Tracer discarded 3 events").is_none());
        assert!(parse_line(b"[12x] vm p:e: { cpu_id = 1 }").is_none());
        assert!(parse_line(b"[99999999999999999999999] vm p:e: { }").is_none());
        assert!(parse_line(b"[5] vm p:e { cpu_id = 1 }").is_none());
    }

    #[test]
    fn babeltrace_payloads() {
        let mut f = Fields::new();
        payload_fields(
            b"id = 3, key = \"item:3, x\", _digest_length = 2, digest = [ [0] = 0x3, [1] = 0x0 ], \
              ok = 1, q = \"say \\\"hi\\\", {x}\", s = { a = 1, b = 2 }, e = \"\"",
            &mut f,
        );
        let pairs = f.pairs();
        let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["id", "key", "digest", "ok", "q", "s", "e"]);
        assert_eq!(pairs[1].1, "item:3, x");
        assert_eq!(pairs[2].1, "[ [0] = 0x3, [1] = 0x0 ]");
        assert_eq!(pairs[4].1, "say \\\"hi\\\", {x}");
        assert_eq!(pairs[5].1, "{ a = 1, b = 2 }");
        assert_eq!(pairs[6].1, "");
        let mut lone = Fields::new();
        payload_fields(b"lone = \"", &mut lone);
        assert_eq!(lone.pairs(), [("lone".to_string(), "\"".to_string())]);
        let mut none = Fields::new();
        payload_fields(b"", &mut none);
        assert_eq!(none, Fields::new());
    }

    #[test]
    fn machine_interface() {
        let xml = r#"<?xml version="1.0"?><command xmlns="https://lttng.org/xml/ns/lttng-mi"><name>list</name><output><sessions><session><name>s1</name><enabled>true</enabled><domains><domain><type>UST</type><channels><channel><name>c</name><enabled>true</enabled><events><event><name>shop:*</name><enabled>true</enabled></event><event><name>x:y</name><enabled>false</enabled></event></events></channel></channels></domain></domains></session></sessions></output></command>"#;
        let s = parse_session(xml).unwrap();
        assert_eq!(s[0].session, "s1");
        assert!(s[0].active);
        assert_eq!(s[0].patterns, vec!["shop:*"]);
        assert_eq!(parse_sessions(xml).unwrap(), vec!["s1"]);
        let xml = r#"<command><output><sessions><session><name>s</name><domains><domain><type>UST</type><channels><channel><name>c</name><attributes><discarded_events>14769</discarded_events><lost_packets>2</lost_packets></attributes></channel></channels></domain></domains></session></sessions></output></command>"#;
        assert_eq!(parse_losses(xml).unwrap(), (14769, 2));
        let wrapped = xml.replace("14769", "9223372036854776107");
        assert_eq!(parse_losses(&wrapped).unwrap(), (299, 2));
        let xml = r#"<command><output><domains><domain><type>UST</type><pids><pid><id>7</id><name>/bin/shop</name><events><event><name>shop:a</name><loglevel>TRACE_INFO</loglevel></event></events></pid></pids></domain></domains></output></command>"#;
        let e = parse_app_events(xml).unwrap();
        assert_eq!(e[0].pid, 7);
        assert_eq!(e[0].name, "shop:a");
    }

    /// babeltrace2 2.0.4 on a trace whose metadata declares an event without its channel (what
    /// LTTng's session daemon writes when LTTng-UST gave up registering the channel): the
    /// root cause, not `Cannot create components.`.
    #[test]
    fn first_error_is_the_root_cause() {
        let stderr = "\
12-06 23:01:36.109 32388 32388 E PLUGIN/CTF/META/IR-VISITOR visit_event_decl@visitor-generate-ir.c:3345 [auto-disc-source-ctf-fs] At line 117 in metadata stream: Cannot find stream class at this point: id=0
12-06 23:01:36.109 32388 32388 E PLUGIN/CTF/META/IR-VISITOR ctf_visitor_generate_ir_visit_node@visitor-generate-ir.c:4842 [auto-disc-source-ctf-fs] At line 117 in metadata stream: Cannot visit event class: ret=-22
12-06 23:01:36.109 32388 32388 W LIB/GRAPH add_component_with_init_method_data@graph.c:973 Component initialization method failed: status=ERROR
12-06 23:01:36.109 32388 32388 E CLI cmd_run@babeltrace2.c:2480 Cannot create components.

ERROR:    [Babeltrace CLI] (babeltrace2.c:2480)
  Cannot create components.
CAUSED BY [Babeltrace CLI] (babeltrace2.c:2295)
  Cannot create component: plugin-name=\"ctf\", comp-cls-name=\"fs\",
  comp-cls-type=1, comp-name=\"auto-disc-source-ctf-fs\"
CAUSED BY [auto-disc-source-ctf-fs: 'source.ctf.fs'] (fs.c:1204)
  Cannot create trace for `/tmp/rec2/lttng/ust/uid/0/64-bit`.
";
        assert_eq!(
            first_error(stderr),
            "At line 117 in metadata stream: Cannot find stream class at this point: id=0"
        );
        // No log lines (a quieter babeltrace2): the innermost cause of its report.
        let report = &stderr[stderr.find("ERROR:").unwrap()..];
        assert_eq!(
            first_error(report),
            "Cannot create trace for `/tmp/rec2/lttng/ust/uid/0/64-bit`."
        );
        assert_eq!(first_error("\n  something else\n"), "something else");
        assert_eq!(first_error(""), "no error message");
    }
}
