//! `cotrace record`: a private ftrace instance and an LTTng session on one monotonic time axis,
//! around one run of a command.
//!
//! Order: every check that needs no change to the system first (root, tracefs and user_events,
//! the command, the patterns against the events the binary declares, lttng-sessiond); then the
//! changes, each registered in a [`Guard`] that undoes them on every way out (error, Ctrl-C, a
//! crashing command): the LTTng session, the ftrace instance, the user_events created through
//! `dynamic_events`, a private lttng-sessiond.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::describe::{self, Binary, Declared};
use crate::output::OutDir;
use crate::timeline::{self, Entry, Tracer};
use crate::tracefs::{self, Instance};
use crate::{Format, RecordArgs, glob_match, lttng};

/// Everything `record` changed on the system, undone on drop.
#[derive(Default)]
struct Guard {
    session: Option<String>,
    instance: Option<Instance>,
    tracefs: Option<PathBuf>,
    /// user_events descriptions created through `dynamic_events`.
    created: Vec<String>,
    sessiond: Option<lttng::PrivateSessiond>,
}

impl Guard {
    /// Undoes every change; returns what could not be undone.
    fn cleanup(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(session) = self.session.take() {
            let _ = lttng::lttng(&["stop", &session]);
            if let Err(e) = lttng::lttng(&["destroy", &session]) {
                problems.push(e);
            }
        }
        if let Some(instance) = self.instance.take() {
            if let Err(e) = instance.remove() {
                problems.push(e);
            }
        }
        if let Some(tracefs) = &self.tracefs {
            for description in self.created.drain(..) {
                if let Err(e) = tracefs::delete_user_event(tracefs, &description) {
                    problems.push(e);
                }
            }
        }
        if let Some(mut sessiond) = self.sessiond.take() {
            sessiond.stop();
        }
        problems
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for problem in self.cleanup() {
            eprintln!("cotrace: cleanup: {problem}");
        }
    }
}

/// Finds CMD as the shell would (a path, or a name on `PATH`).
fn resolve(cmd: &str) -> Result<PathBuf, String> {
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if cmd.contains('/') {
        let p = PathBuf::from(cmd);
        return if executable(&p) {
            Ok(p)
        } else {
            Err(format!("command not found (or not executable): {cmd}"))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(cmd))
        .find(|p| executable(p))
        .ok_or_else(|| format!("command not found: {cmd} (not in PATH)"))
}

/// `provider:event` pattern as a kernel-name pattern (`provider_event`).
fn kernel_pattern(pattern: &str) -> String {
    pattern.replacen(':', "_", 1)
}

/// The ftrace reader: drains the instance's `trace_pipe` (non-blocking) into `kernel.txt`
/// while CMD runs, so records are decoded while their events exist, and counts them.
struct KernelReader {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<Result<Vec<tracefs::Record>, String>>,
}

impl KernelReader {
    fn start(instance: &Path, mut file: fs::File) -> Result<Self, String> {
        let pipe_path = instance.join("trace_pipe");
        let mut pipe = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&pipe_path)
            .map_err(|e| format!("cannot open {}: {e}", pipe_path.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (stop2, count2) = (stop.clone(), count.clone());
        let thread = std::thread::spawn(move || {
            let mut records = Vec::new();
            let mut pending = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let stopping = stop2.load(Ordering::Acquire);
                match pipe.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        file.write_all(&buf[..n]).map_err(|e| e.to_string())?;
                        pending.extend_from_slice(&buf[..n]);
                        while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                            let line: Vec<u8> = pending.drain(..=nl).collect();
                            let line = String::from_utf8_lossy(&line);
                            if let Some(r) = tracefs::parse_line(line.trim_end()) {
                                records.push(r);
                                count2.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Ok(_) => {
                        if stopping {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if stopping {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("reading trace_pipe: {e}")),
                }
            }
            Ok(records)
        });
        Ok(Self {
            stop,
            count,
            thread,
        })
    }

    fn finish(self) -> Result<Vec<tracefs::Record>, String> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .map_err(|_| "the trace_pipe reader panicked".to_string())?
    }
}

/// Size of the files under `dir` (the LTTng trace written so far).
fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += bytes_under(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Whether a CTF `metadata` file lies under `dir`.
fn has_metadata(dir: &Path) -> bool {
    fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
        let path = e.path();
        e.file_name() == "metadata" || (path.is_dir() && has_metadata(&path))
    })
}

/// babeltrace2's payload `a = 1, s = "x", d = [ [0] = 0x1 ]` as pairs (quotes removed).
fn lttng_fields(text: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => quoted = !quoted,
            b'[' | b'{' if !quoted => depth += 1,
            b']' | b'}' if !quoted => depth -= 1,
            b',' if !quoted && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .filter_map(|p| p.trim().split_once(" = "))
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The per-event table: count per tracer (`-` for a tracer not recording), a flag where both
/// recorded and their counts differ, and a total line.
fn summary(counts: &BTreeMap<String, (u64, u64)>, use_kernel: bool, use_lttng: bool) -> String {
    let show = |on: bool, n: u64| if on { n.to_string() } else { "-".into() };
    let mut out = format!("{:<36} {:>8} {:>8}\n", "EVENT", "KERNEL", "LTTNG");
    let (mut disagree, mut kernel_total, mut lttng_total) = (0, 0, 0);
    for (event, &(k, l)) in counts {
        kernel_total += k;
        lttng_total += l;
        let flag = if use_kernel && use_lttng && k != l {
            disagree += 1;
            "  <- the tracers disagree"
        } else {
            ""
        };
        out.push_str(&format!(
            "{event:<36} {:>8} {:>8}{flag}\n",
            show(use_kernel, k),
            show(use_lttng, l)
        ));
    }
    out.push_str(&format!(
        "total: kernel {} lttng {}; {disagree} events where the tracers disagree\n",
        show(use_kernel, kernel_total),
        show(use_lttng, lttng_total)
    ));
    out
}

/// `cotrace record`.
pub fn run(args: RecordArgs) -> Result<ExitCode, String> {
    let (use_kernel, use_lttng) = if args.kernel || args.lttng {
        (args.kernel, args.lttng)
    } else {
        (true, true)
    };

    // 1. Checks that change nothing.
    // SAFETY: geteuid has no preconditions and cannot fail.
    if use_kernel && unsafe { libc::geteuid() } != 0 {
        return Err(
            "cotrace record needs root for the kernel side (it creates an ftrace \
                    instance and user_events): run it with sudo, or pass --lttng to record \
                    with LTTng only"
                .into(),
        );
    }
    let tracefs = if use_kernel {
        Some(tracefs::find()?)
    } else {
        None
    };
    let cmd_path = resolve(&args.command[0])?;
    let (declared, described) = match describe::read_binary(&cmd_path)? {
        Binary::Events(events) => (events, true),
        Binary::NoSection | Binary::NotElf => (Vec::new(), false),
    };
    let patterns: Vec<String> = if args.patterns.is_empty() {
        if declared.is_empty() {
            return Err(format!(
                "{} declares no cotrace events (no {} section): name the events to record with \
                 -e PROVIDER:EVENT",
                args.command[0],
                describe::SECTION
            ));
        }
        let providers: BTreeSet<String> = declared
            .iter()
            .map(|e| format!("{}:*", e.provider))
            .collect();
        providers.into_iter().collect()
    } else {
        args.patterns.clone()
    };
    if described {
        for p in &patterns {
            if !declared.iter().any(|e| glob_match(p, &e.lttng_name())) {
                let names: Vec<String> = declared.iter().map(Declared::lttng_name).collect();
                return Err(format!(
                    "pattern `{p}` matches none of the events {} declares ({})",
                    args.command[0],
                    names.join(", ")
                ));
            }
        }
    }
    let wanted: Vec<&Declared> = declared
        .iter()
        .filter(|e| patterns.iter().any(|p| glob_match(p, &e.lttng_name())))
        .collect();
    let sessiond_needed = use_lttng && !lttng::sessiond_running();
    if sessiond_needed && !args.start_sessiond {
        return Err(
            "no lttng-sessiond is running: start one (`lttng-sessiond --daemonize \
                    --no-kernel`), or pass --start-sessiond to let cotrace start a private one \
                    for this recording, or --kernel to record with the kernel only"
                .into(),
        );
    }
    let out = match &args.output {
        Some(dir) => OutDir::create(dir)?,
        None => OutDir::create_default()?,
    };
    let out_dir = out.path.clone();

    // 2. Changes, each undone by the guard.
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        // Ctrl-C reaches CMD too (same process group); cotrace stops it if needed, then keeps
        // what was recorded and cleans up. SIGTERM and SIGHUP likewise (ctrlc's `termination`
        // feature). The helpers (`lttng`, a private sessiond) are in process groups of their
        // own: the signal does not reach them.
        let _ = ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst));
    }
    let mut guard = Guard::default();
    guard.tracefs.clone_from(&tracefs);
    let name = format!("cotrace-{}", std::process::id());
    if sessiond_needed {
        guard.sessiond = Some(lttng::PrivateSessiond::start()?);
        eprintln!("cotrace: started a private lttng-sessiond (stopped at the end)");
    }

    // The kernel: a private instance, events created before CMD starts where possible.
    let mut kernel_enabled: BTreeSet<(String, String)> = BTreeSet::new();
    let mut precreated = Vec::new();
    let mut on_appearance = Vec::new();
    if let Some(tracefs) = &tracefs {
        let instance = guard.instance.insert(Instance::create(tracefs, &name)?);
        for e in &wanted {
            if e.multi_format {
                on_appearance.push(format!(
                    "{} (#[multi_format]: its tracepoint is named when CMD registers it)",
                    e.kernel_name
                ));
                continue;
            }
            let exists = tracefs
                .join("events/user_events")
                .join(&e.kernel_name)
                .exists();
            if !exists {
                match tracefs::create_user_event(tracefs, &e.user_events) {
                    Ok(()) => guard.created.push(e.user_events.clone()),
                    Err(err) => {
                        on_appearance
                            .push(format!("{} (could not create it: {err})", e.kernel_name));
                        continue;
                    }
                }
            }
            instance.write(&format!("events/user_events/{}/enable", e.kernel_name), "1")?;
            kernel_enabled.insert(("user_events".into(), e.kernel_name.clone()));
            precreated.push(e.kernel_name.clone());
        }
        if !described {
            on_appearance.push(format!(
                "every event matching {} (CMD has no event descriptions)",
                patterns.join(" ")
            ));
        }
    }

    // LTTng: a session whose pending event rules catch CMD's events as it registers them.
    let lttng_dir = out_dir.join("lttng");
    if use_lttng {
        lttng::lttng(&[
            "create",
            &name,
            &format!("--output={}", lttng_dir.display()),
        ])?;
        guard.session = Some(name.clone());
        lttng::lttng(&[
            "enable-channel",
            "-u",
            "-s",
            &name,
            "cotrace",
            "--subbuf-size=1M",
            "--num-subbuf=8",
            // Packets reach the disk every 500 ms: the live line shows LTTng progress.
            "--switch-timer=500000",
        ])?;
        for p in &patterns {
            lttng::lttng(&["enable-event", "-u", "-s", &name, "-c", "cotrace", p])?;
        }
        lttng::lttng(&[
            "add-context",
            "-u",
            "-s",
            &name,
            "-c",
            "cotrace",
            "-t",
            "vpid",
            "-t",
            "vtid",
        ])?;
        lttng::lttng(&["start", &name])?;
    }

    // What could be lost at start-up.
    if use_kernel {
        if !precreated.is_empty() {
            eprintln!(
                "cotrace: kernel: created before CMD starts, nothing lost: {}",
                precreated.join(" ")
            );
        }
        for e in &on_appearance {
            eprintln!(
                "cotrace: kernel: enabled when it appears, firings before that are LOST: {e}"
            );
        }
    }
    if use_lttng {
        eprintln!(
            "cotrace: lttng: pending event rules {}: nothing lost at start-up",
            patterns.join(" ")
        );
    }
    if interrupted.load(Ordering::SeqCst) {
        return Err("interrupted before CMD started; everything was cleaned up".into());
    }

    let reader = match guard.instance.as_ref() {
        Some(instance) => Some(KernelReader::start(
            &instance.dir,
            out.create_file("kernel.txt")?,
        )?),
        None => None,
    };

    // 3. Run CMD, with a live line.
    let started = Instant::now();
    let mut child = Command::new(&cmd_path)
        .args(&args.command[1..])
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.command[0]))?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let kernel_patterns: Vec<String> = patterns.iter().map(|p| kernel_pattern(p)).collect();
    let mut interrupted_at: Option<Instant> = None;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if interrupted.load(Ordering::SeqCst) {
            // Ctrl-C reached CMD too (the terminal's process group); SIGTERM or SIGHUP sent to
            // cotrace alone did not: pass SIGTERM on, then SIGKILL after 5 s.
            let at = *interrupted_at.get_or_insert_with(|| {
                // SAFETY: kill(2) of our own child, not yet reaped (try_wait said it runs).
                unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
                Instant::now()
            });
            if at.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
            }
        }
        // Enable, in the instance, matching events as they appear.
        if let (Some(tracefs), Some(instance)) = (&tracefs, &guard.instance) {
            for system in ["user_events", "user_events_multi"] {
                let Ok(dir) = fs::read_dir(tracefs.join("events").join(system)) else {
                    continue;
                };
                for entry in dir.flatten() {
                    let event = entry.file_name().to_string_lossy().into_owned();
                    let base = event.split('.').next().unwrap_or(&event).to_string();
                    let key = (system.to_string(), event.clone());
                    let wanted_here = if described {
                        wanted.iter().any(|e| e.kernel_name == base)
                    } else {
                        kernel_patterns.iter().any(|p| glob_match(p, &base))
                    };
                    if wanted_here && !kernel_enabled.contains(&key) && entry.path().is_dir() {
                        let file = format!("events/{system}/{event}/enable");
                        if instance.write(&file, "1").is_ok() {
                            kernel_enabled.insert(key);
                        }
                    }
                }
            }
        }
        let mut line = format!(
            "{} running {:.1}s",
            args.command[0],
            started.elapsed().as_secs_f64()
        );
        if let Some(r) = &reader {
            line.push_str(&format!(
                " | kernel: {} events",
                r.count.load(Ordering::Relaxed)
            ));
        }
        if use_lttng {
            line.push_str(&format!(
                " | lttng: {} KiB on disk (events are counted at the end)",
                bytes_under(&lttng_dir) / 1024
            ));
        }
        bar.set_message(line);
        bar.tick();
        std::thread::sleep(Duration::from_millis(50));
    };
    bar.finish_and_clear();

    // 4. Stop both tracers, collect, clean up.
    if let Some(instance) = &guard.instance {
        let _ = instance.write("tracing_on", "0");
    }
    let kernel_records = match reader {
        Some(r) => r.finish()?,
        None => Vec::new(),
    };
    if let Some(session) = &guard.session {
        lttng::lttng(&["stop", session])?;
    }
    let problems = guard.cleanup();
    drop(guard);
    // No application wrote to the session: LTTng leaves no metadata, and nothing to read.
    let lttng_records = if use_lttng && has_metadata(&lttng_dir) {
        lttng::read_trace(&lttng_dir)?
    } else {
        Vec::new()
    };

    // 5. The merged timeline and the per-event counts.
    let lttng_name_of = |kernel: &str| {
        let base = kernel.split('.').next().unwrap_or(kernel);
        declared
            .iter()
            .find(|e| e.kernel_name == base)
            .map_or(kernel.to_string(), Declared::lttng_name)
    };
    let mut entries: Vec<Entry> = kernel_records
        .into_iter()
        .map(|r| Entry {
            ts_ns: r.ts_ns,
            tracer: Tracer::Kernel,
            pid: r.pid,
            tid: Some(r.tid),
            event: lttng_name_of(&r.event),
            fields: r.fields,
        })
        .collect();
    entries.extend(lttng_records.into_iter().map(|r| Entry {
        ts_ns: r.ts_ns,
        tracer: Tracer::Lttng,
        pid: r.pid,
        tid: r.tid,
        event: r.event,
        fields: lttng_fields(&r.fields),
    }));
    // ftrace knows a thread's process only once it has seen it (`(-----)`): take it from
    // another record of that thread.
    let pids: BTreeMap<u32, u32> = entries
        .iter()
        .filter_map(|e| Some((e.tid?, e.pid?)))
        .collect();
    for e in &mut entries {
        if e.pid.is_none() {
            e.pid = e.tid.and_then(|t| pids.get(&t).copied());
        }
    }
    timeline::sort(&mut entries);
    let (file_name, bytes) = match args.format {
        Format::Text => ("timeline.txt", timeline::text(&entries).into_bytes()),
        Format::ChromeJson => (
            "timeline.json",
            serde_json::to_vec(&timeline::chrome_json(&entries)).map_err(|e| e.to_string())?,
        ),
    };
    let timeline_path = out_dir.join(file_name);
    out.create_file(file_name)?
        .write_all(&bytes)
        .map_err(|e| format!("writing {}: {e}", timeline_path.display()))?;

    let mut counts: BTreeMap<String, (u64, u64)> =
        wanted.iter().map(|e| (e.lttng_name(), (0, 0))).collect();
    for e in &entries {
        let c = counts.entry(e.event.clone()).or_default();
        match e.tracer {
            Tracer::Kernel => c.0 += 1,
            Tracer::Lttng => c.1 += 1,
        }
    }
    print!("{}", summary(&counts, use_kernel, use_lttng));
    println!("timeline: {}", timeline_path.display());
    if use_kernel {
        println!("kernel records: {}", out_dir.join("kernel.txt").display());
    }
    if use_lttng {
        println!("LTTng trace: {} (babeltrace2 {0})", lttng_dir.display());
    }
    for p in &problems {
        eprintln!("cotrace: cleanup: {p}");
    }

    if interrupted.load(Ordering::SeqCst) {
        eprintln!("cotrace: interrupted; recorded until then, and cleaned up");
    }
    if !status.success() {
        let code = match (status.code(), status.signal()) {
            (Some(code), _) => {
                eprintln!("cotrace: {} exited with status {code}", args.command[0]);
                code
            }
            (None, Some(signal)) => {
                eprintln!("cotrace: {} was killed by signal {signal}", args.command[0]);
                128 + signal
            }
            _ => 1,
        };
        return Ok(ExitCode::from(code.clamp(1, 255) as u8));
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_flags_disagreements() {
        let counts: BTreeMap<String, (u64, u64)> =
            [("p:a".to_string(), (3, 3)), ("p:b".to_string(), (2, 1))].into();
        let both = summary(&counts, true, true);
        let lines: Vec<&str> = both.lines().collect();
        assert!(!lines[1].contains("disagree"), "{both}");
        assert!(lines[2].ends_with("<- the tracers disagree"), "{both}");
        assert!(
            lines[3].starts_with("total: kernel 5 lttng 4; 1 events where"),
            "{both}"
        );
        // One tracer: nothing to compare, its column only.
        let kernel = summary(&counts, true, false);
        assert!(!kernel.contains("<-"), "{kernel}");
        assert!(
            kernel.contains("total: kernel 5 lttng -; 0 events"),
            "{kernel}"
        );
    }

    #[test]
    fn babeltrace_payloads() {
        let f = lttng_fields(
            "id = 3, key = \"item:3, x\", _digest_length = 2, digest = [ [0] = 0x3, [1] = 0x0 ], ok = 1",
        );
        let names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["id", "key", "digest", "ok"]);
        assert_eq!(f[1].1, "item:3, x");
    }

    #[test]
    fn commands_resolve_like_a_shell() {
        assert!(resolve("sh").is_ok());
        assert!(resolve("/nonexistent/x").unwrap_err().contains("not found"));
        assert!(
            resolve("cotrace-no-such-command")
                .unwrap_err()
                .contains("command not found")
        );
    }
}
