//! `cotrace record`: a private ftrace instance and an LTTng session on one monotonic time axis,
//! around one run of a command (or, with `-p`, a running process), scoped to that process and
//! its descendants unless `-a`.
//!
//! Order: every check that needs no change to the system first (root, tracefs and user_events,
//! the command, the patterns against the events the binary declares, lttng-sessiond); then what
//! dead recorders left is removed ([`state::clean`]); then the changes, each written to this
//! recorder's state file before it is made (so a later recorder or `cotrace clean` can undo it
//! after a kill -9) and registered in a [`Guard`] that undoes it on every way out (error,
//! Ctrl-C, SIGTERM, SIGHUP, a crashing command): the private lttng-sessiond, the ftrace
//! instance, the user_events created through `dynamic_events`, the LTTng session.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{ErrorKind, Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::describe::{self, Binary, Declared};
use crate::output::OutDir;
use crate::ready::Readiness;
use crate::ringbuf;
use crate::state::{self, Process};
use crate::timeline::{self, Entry, Fields, Tracer};
use crate::tracefs::{self, Instance};
use crate::tree;
use crate::{Format, RecordArgs, glob_match, lttng};

/// Everything `record` changed on the system, undone on drop; mirrored in the state file.
struct Guard {
    state_dir: PathBuf,
    name: String,
    record: state::Record,
    instance: Option<Instance>,
    sessiond: Option<lttng::PrivateSessiond>,
    /// The LTTng session was stopped (`lttng stop` succeeded): `destroy` alone is left.
    stopped: bool,
}

impl Guard {
    /// Writes the state file (before each change).
    fn save(&self) -> Result<(), String> {
        state::save(&self.state_dir, &self.name, &self.record)
    }

    /// Undoes every change, the private sessiond last; returns what could not be undone.
    fn cleanup(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(session) = self.record.session.take() {
            if !self.stopped {
                let _ = lttng::lttng(&["stop", &session]);
            }
            if let Err(e) = lttng::lttng(&["destroy", &session]) {
                problems.push(e);
                self.record.session = Some(session);
            }
        }
        if let Some(instance) = self.instance.take() {
            match instance.remove() {
                Ok(()) => self.record.instance = None,
                Err(e) => problems.push(e),
            }
        }
        if let Some(tracefs) = self.record.tracefs.clone() {
            if !self.record.uses.is_empty() {
                match state::Lock::take(&self.state_dir) {
                    Ok(_lock) => {
                        problems.extend(state::release_events(
                            &self.state_dir,
                            &tracefs,
                            &self.name,
                            &self.record.uses,
                        ));
                        self.record.uses.clear();
                    }
                    Err(e) => problems.push(e),
                }
            }
        }
        if let Some(mut sessiond) = self.sessiond.take() {
            sessiond.stop();
            self.record.sessiond = None;
        }
        if problems.is_empty() {
            state::forget(&self.state_dir, &self.name);
        } else {
            // What is left, for `cotrace clean` (or the next recorder) once this one is gone.
            let _ = self.save();
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

/// CMD, started but held before `exec` until [`Held::release`], so that its pid can be
/// given to the tracers before it runs: `sh -c 'read <&3 || exit 127; exec CMD'`, where fd 3
/// is a pipe cotrace writes a byte to (or closes, by dying: then CMD never runs).
struct Held {
    child: Child,
    release: Option<OwnedFd>,
}

impl Held {
    fn spawn(cmd: &Path, args: &[String], env: &[(&str, String)]) -> Result<Self, String> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into `fds`.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!("pipe: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: both descriptors were just opened and are owned by nothing else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let read_fd = read.as_raw_fd();
        let mut command = Command::new("/bin/sh");
        command
            .args([
                "-c",
                "read -r _ <&3 || exit 127; exec 3<&-; exec \"$0\" \"$@\"",
            ])
            .arg(cmd)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)));
        // SAFETY: runs in the child before exec; dup2 is async-signal-safe. The duplicate on
        // fd 3 has no FD_CLOEXEC, so the shell gets it.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(read_fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", cmd.display()))?;
        drop(read);
        Ok(Self {
            child,
            release: Some(write),
        })
    }

    fn release(&mut self) -> Result<(), String> {
        if let Some(fd) = self.release.take() {
            fs::File::from(fd)
                .write_all(b"\n")
                .map_err(|e| format!("cannot start CMD: {e}"))?;
        }
        Ok(())
    }
}

/// The timeline's marker where the kernel reported lost records.
const LOST: &str = "cotrace:kernel_lost_events";

/// LTTng-UST's bound on how long a starting process waits for the session daemon to register
/// it (ms; 3000 when unset, -1 for ever).
const REGISTER_TIMEOUT_ENV: &str = "LTTNG_UST_REGISTER_TIMEOUT";
/// The bound `cotrace record` gives CMD when the environment sets none: long enough for a
/// loaded machine, short enough that a hung session daemon does not hold CMD for ever.
const REGISTER_TIMEOUT_MS: u32 = 30_000;

/// What a user's short [`REGISTER_TIMEOUT_ENV`] (`value`, under 1 s) also does, said after the
/// start-up line: LTTng-UST waits that long (10 ms at least) for each of the session daemon's
/// replies to its channel and event registrations, and gives up on a slower one: LTTng then
/// records nothing of CMD (seen with 0 and a loaded machine). Empty for other values.
fn short_register_timeout_hint(value: &str, cmd_name: &str) -> String {
    match value.trim().parse::<i64>() {
        Ok(ms) if (0..1000).contains(&ms) => format!(
            "; LTTng-UST also waits only {} ms for each of the session daemon's replies when \
             it registers, so a busy daemon can make it record nothing of {cmd_name}",
            ms.max(10)
        ),
        _ => String::new(),
    }
}

/// Finds CMD as the shell would (a path, or a name on `PATH`).
pub(crate) fn resolve(cmd: &str) -> Result<PathBuf, String> {
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

/// The ftrace reader: drains the instance's per-CPU binary buffers (`trace_pipe_raw`,
/// non-blocking) while CMD runs and copies their pages as they are into a temporary file per
/// CPU; decoding them into records (and `kernel.txt`'s text) waits for the output phase
/// ([`KernelPages`]), where it runs beside babeltrace2 instead of sharing the CPUs with CMD.
/// What must be learnt while the events and threads exist is learnt from a light walk of each
/// page's record headers: the events' formats (an event vanishes with its process), each
/// thread's process (from /proc while it lives), the fork edges; and the records are counted
/// for the live line.
struct KernelReader {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    formats: Arc<Mutex<ringbuf::Formats>>,
    thread: std::thread::JoinHandle<Result<KernelRecords, String>>,
}

/// What the kernel reader kept: each CPU's raw pages in an unnamed temporary file (memory stays
/// flat), with what decoding them needs (the page layout, the formats, each thread's process),
/// the fork edges seen, and the events' names.
struct KernelRecords {
    layout: Option<ringbuf::PageLayout>,
    cpus: Vec<(u32, fs::File)>,
    formats: HashMap<u16, ringbuf::Format>,
    tgids: HashMap<u32, u32>,
    forks: Vec<(u32, u32)>,
    names: BTreeSet<String>,
}

/// Each kernel event's LTTng name: its declared name (`names`, by the kernel's base name), else
/// the kernel's own.
fn lttng_name(names: &HashMap<String, String>, kernel: &str) -> String {
    let base = kernel.split('.').next().unwrap_or(kernel);
    names
        .get(base)
        .cloned()
        .unwrap_or_else(|| kernel.to_string())
}

/// One CPU's raw pages (as [`KernelReader`] copied them) decoded into timeline entries, in the
/// order written; each page's records are also written to `kernel.txt` in ftrace's text layout
/// (a CPU's lines in time order, in chunks, beside the other CPUs' chunks). Runs on a
/// thread of its own ([`timeline::read_ahead`]); what went wrong is in `error`.
struct KernelPages {
    cpu: u32,
    layout: ringbuf::PageLayout,
    input: std::io::BufReader<fs::File>,
    page: Vec<u8>,
    shared: Decoding,
    /// Each event id's timeline name.
    names: HashMap<u16, &'static str>,
    /// The current page's entries, handed out in order.
    pending: std::collections::VecDeque<Entry>,
    /// `kernel.txt`'s lines not written yet.
    text: Vec<u8>,
    /// Records of events whose format was never known (left out).
    undecodable: u64,
    error: Option<String>,
}

/// What every CPU's [`KernelPages`] shares.
#[derive(Clone)]
struct Decoding {
    formats: Arc<HashMap<u16, ringbuf::Format>>,
    /// Each thread's process, as the reader found it.
    tgids: Arc<HashMap<u32, u32>>,
    /// The kernel's event names to LTTng's.
    to_lttng: Arc<HashMap<String, String>>,
    kernel_txt: Arc<Mutex<fs::File>>,
}

/// Bytes of `kernel.txt`'s text a [`KernelPages`] gathers before writing them.
const KERNEL_TXT_CHUNK: usize = 256 * 1024;

impl KernelPages {
    fn new(cpu: u32, file: fs::File, layout: ringbuf::PageLayout, shared: Decoding) -> Self {
        Self {
            cpu,
            layout,
            input: std::io::BufReader::with_capacity(256 * 1024, file),
            page: vec![0; layout.page_size],
            shared,
            names: HashMap::new(),
            pending: Default::default(),
            text: Vec::with_capacity(KERNEL_TXT_CHUNK + 64 * 1024),
            undecodable: 0,
            error: None,
        }
    }

    /// Writes the gathered text to `kernel.txt`.
    fn flush(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let mut file = self
            .shared
            .kernel_txt
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(&self.text) {
            self.error.get_or_insert(format!("writing kernel.txt: {e}"));
        }
        self.text.clear();
    }

    /// Decodes the next page into `pending`; `false` at the end of the file.
    fn next_page(&mut self) -> bool {
        if let Err(e) = self.input.read_exact(&mut self.page) {
            if e.kind() != ErrorKind::UnexpectedEof {
                self.error
                    .get_or_insert(format!("reading the kernel's temporary file: {e}"));
            }
            return false;
        }
        let Self {
            cpu,
            layout,
            page,
            shared,
            names,
            pending,
            text,
            undecodable,
            ..
        } = self;
        let cpu = *cpu;
        let Decoding {
            formats,
            tgids,
            to_lttng,
            ..
        } = &*shared;
        ringbuf::parse_page(layout, page, &mut |item| match item {
            ringbuf::Item::Lost(ts_ns, n) => {
                let n = n.unwrap_or(0);
                text.extend_from_slice(format!("CPU:{cpu} [LOST {n} EVENTS]\n").as_bytes());
                let mut fields = Fields::new();
                fields.push_u64(b"cpu", u64::from(cpu));
                fields.push_u64(b"events", n);
                pending.push_back(Entry {
                    ts_ns,
                    tracer: Tracer::Kernel,
                    pid: None,
                    tid: Some(0),
                    event: LOST,
                    fields,
                });
            }
            ringbuf::Item::Record(ts_ns, data) => {
                let Some((id, format)) =
                    ringbuf::record_id(data).and_then(|id| Some((id, formats.get(&id)?)))
                else {
                    *undecodable += 1;
                    return;
                };
                let mut fields = Fields::new();
                let tid = format.decode(data, &mut fields);
                let r = tracefs::Record {
                    ts_ns,
                    pid: tgids.get(&tid).copied(),
                    tid,
                    event: &format.name,
                    fields: &fields,
                };
                tracefs::format_line(text, &r, cpu);
                if format.name == FORK {
                    return;
                }
                let pid = r.pid;
                let event = *names
                    .entry(id)
                    .or_insert_with(|| timeline::intern(&lttng_name(to_lttng, &format.name)));
                pending.push_back(Entry {
                    ts_ns,
                    tracer: Tracer::Kernel,
                    pid,
                    tid: Some(tid),
                    event,
                    fields,
                });
            }
        });
        if self.text.len() >= KERNEL_TXT_CHUNK {
            self.flush();
        }
        true
    }
}

impl Iterator for KernelPages {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.error.is_some() || !self.next_page() {
                self.flush();
                return None;
            }
        }
    }
}

/// The kernel's fork event (recorded for the scope, not shown in the timeline).
const FORK: &str = "sched_process_fork";

/// The process of thread `tid`: from /proc while it lives, else ftrace's `saved_tgids`
/// (filled by `record-tgid`), cached.
fn tgid(cache: &mut HashMap<u32, Option<u32>>, tracefs: &Path, tid: u32) -> Option<u32> {
    if let Some(&known) = cache.get(&tid) {
        return known;
    }
    let from_proc = fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|v| v.trim().parse().ok())
        });
    let found = from_proc.or_else(|| {
        fs::read_to_string(tracefs.join("saved_tgids"))
            .ok()?
            .lines()
            .find_map(|l| {
                let (t, g) = l.split_once(' ')?;
                (t.parse::<u32>().ok()? == tid).then(|| g.trim().parse().ok())?
            })
            .filter(|&g| g != 0)
    });
    // Unknown now may be known later (saved_tgids): cache only what was found.
    if found.is_some() {
        cache.insert(tid, found);
    }
    found
}

impl KernelReader {
    fn start(tracefs: &Path, instance: &Path) -> Result<Self, String> {
        let header = instance.join("events/header_page");
        let text = ringbuf::read_header_page(&header)
            .map_err(|e| format!("cannot read {}: {e}", header.display()))?;
        let layout = ringbuf::parse_header_page(&text)
            .ok_or_else(|| format!("no page layout in {}: {text:?}", header.display()))?;
        let mut cpus = Vec::new();
        for entry in fs::read_dir(instance.join("per_cpu"))
            .map_err(|e| format!("cannot list {}/per_cpu: {e}", instance.display()))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(cpu) = name.strip_prefix("cpu").and_then(|c| c.parse::<u32>().ok()) else {
                continue;
            };
            let path = entry.path().join("trace_pipe_raw");
            let pipe = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            let spill =
                tempfile::tempfile().map_err(|e| format!("cannot create a temporary file: {e}"))?;
            cpus.push((
                cpu,
                pipe,
                std::io::BufWriter::with_capacity(256 * 1024, spill),
            ));
        }
        cpus.sort_by_key(|(cpu, _, _)| *cpu);
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let formats = Arc::new(Mutex::new(ringbuf::Formats::new(instance)));
        let (stop2, count2, formats2) = (stop.clone(), count.clone(), formats.clone());
        let tracefs = tracefs.to_path_buf();
        let thread = std::thread::spawn(move || {
            let mut forks = Vec::new();
            let mut names = BTreeSet::new();
            let mut tgids = HashMap::new();
            let mut page = vec![0u8; layout.page_size];
            let mut fields = Fields::new();
            // The last record's thread, once its process is known; the last event id.
            let (mut last_tid, mut last_id) = (None, None);
            loop {
                let stopping = stop2.load(Ordering::Acquire);
                let mut idle = true;
                for (cpu, pipe, out) in &mut cpus {
                    // One page per read; a short read is completed by the next ones.
                    let mut filled = 0;
                    loop {
                        match pipe.read(&mut page[filled..]) {
                            Ok(0) => break,
                            Ok(n) => filled += n,
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            Err(e) => return Err(format!("reading cpu{cpu}/trace_pipe_raw: {e}")),
                        }
                        if filled < layout.page_size {
                            continue;
                        }
                        idle = false;
                        filled = 0;
                        let mut records = 0;
                        let mut formats = formats2.lock().unwrap_or_else(|e| e.into_inner());
                        ringbuf::parse_page(&layout, &page, &mut |item| {
                            let ringbuf::Item::Record(_, data) = item else {
                                return;
                            };
                            // An unknown id is looked up now (rescanning the events), while
                            // its event exists.
                            let Some((id, format)) = ringbuf::record_id(data)
                                .and_then(|id| Some((id, formats.get(id)?)))
                            else {
                                return;
                            };
                            let tid = format.tid(data);
                            if format.name == FORK {
                                fields.clear();
                                format.decode(data, &mut fields);
                                let field = |k: &str| {
                                    std::str::from_utf8(fields.get(k)?)
                                        .ok()?
                                        .parse::<u32>()
                                        .ok()
                                };
                                if let (Some(parent), Some(child)) =
                                    (field("parent_pid"), field("child_pid"))
                                {
                                    forks.push((parent, child));
                                }
                                return;
                            }
                            records += 1;
                            if last_id != Some(id) {
                                last_id = Some(id);
                                if !names.contains(&format.name) {
                                    names.insert(format.name.clone());
                                }
                            }
                            // The process while the thread lives (cached once known).
                            if last_tid != Some(tid) && tgid(&mut tgids, &tracefs, tid).is_some() {
                                last_tid = Some(tid);
                            }
                        });
                        drop(formats);
                        count2.fetch_add(records, Ordering::Relaxed);
                        out.write_all(&page).map_err(|e| {
                            format!("writing the kernel records' temporary file: {e}")
                        })?;
                    }
                }
                if idle {
                    if stopping {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let mut files = Vec::new();
            for (cpu, _, out) in cpus {
                let mut file = out.into_inner().map_err(|e| e.to_string())?;
                file.seek(std::io::SeekFrom::Start(0))
                    .map_err(|e| e.to_string())?;
                files.push((cpu, file));
            }
            let formats = formats2.lock().unwrap_or_else(|e| e.into_inner()).known();
            Ok(KernelRecords {
                layout: Some(layout),
                cpus: files,
                formats,
                tgids: tgids
                    .into_iter()
                    .filter_map(|(t, p)| Some((t, p?)))
                    .collect(),
                forks,
                names,
            })
        });
        Ok(Self {
            stop,
            count,
            formats,
            thread,
        })
    }

    /// Reads the format of `events/<system>/<event>` now, while the event exists.
    fn learn(&self, system: &str, event: &str) {
        self.formats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .learn(system, event);
    }

    fn finish(self) -> Result<KernelRecords, String> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .map_err(|_| "the trace_pipe_raw reader panicked".to_string())?
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

/// Waits for the babeltrace2 reader: the events its warnings say the tracer discarded, or why
/// it could not read the LTTng trace.
fn lttng_finished(
    thread: std::thread::JoinHandle<lttng::TraceReader>,
) -> Result<Result<u64, String>, String> {
    let reader = thread
        .join()
        .map_err(|_| "the babeltrace2 reader panicked".to_string())?;
    Ok(reader.finish())
}

/// The summary's LTTNG column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    /// LTTng not recording: `-`.
    Off,
    /// Its counts.
    Counted,
    /// babeltrace2 could not read its trace: `?` (unknown, not 0), and nothing compared.
    Unreadable,
}

/// The per-event table: count per tracer (`-` for a tracer not recording, `?` for LTTng's
/// when its trace could not be read), a flag where both recorded and their counts differ, and
/// a total line. `not_ready` gives, per event, the firings LTTng missed before it was ready
/// (the known reason).
fn summary(
    counts: &BTreeMap<String, (u64, u64)>,
    not_ready: &BTreeMap<String, u64>,
    use_kernel: bool,
    lttng: Column,
) -> String {
    let show = |on: bool, n: u64| if on { n.to_string() } else { "-".into() };
    let show_lttng = |n: u64| match lttng {
        Column::Off => "-".to_string(),
        Column::Counted => n.to_string(),
        Column::Unreadable => "?".to_string(),
    };
    let compared = use_kernel && lttng == Column::Counted;
    let mut out = format!("{:<36} {:>8} {:>8}\n", "EVENT", "KERNEL", "LTTNG");
    let (mut disagree, mut kernel_total, mut lttng_total) = (0, 0, 0);
    for (event, &(k, l)) in counts {
        kernel_total += k;
        lttng_total += l;
        let flag = if compared && k != l {
            disagree += 1;
            match not_ready.get(event) {
                Some(&n) if k.checked_sub(l) == Some(n) => {
                    format!("  <- the tracers disagree: LTTng was not ready for {n} firings")
                }
                Some(&n) => format!(
                    "  <- the tracers disagree ({n} firings before LTTng was ready; the rest \
                     unexplained)"
                ),
                None => "  <- the tracers disagree".to_string(),
            }
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{event:<36} {:>8} {:>8}{flag}\n",
            show(use_kernel, k),
            show_lttng(l)
        ));
    }
    out.push_str(&format!(
        "total: kernel {} lttng {}; {}\n",
        show(use_kernel, kernel_total),
        show_lttng(lttng_total),
        if lttng == Column::Unreadable {
            "the tracers were not compared (LTTng's trace could not be read)".to_string()
        } else {
            format!("{disagree} events where the tracers disagree")
        }
    ));
    out
}

/// What is recorded: CMD (held until the tracers know its pid), or a running process.
enum Target {
    Command(Held),
    Attach(Process),
}

/// `cotrace clean`.
pub fn clean() -> Result<ExitCode, String> {
    let dir = state::dir()?;
    let _lock = state::Lock::take(&dir)?;
    let (done, problems) = state::clean(&dir, tracefs::mount().as_deref());
    for d in &done {
        println!("removed {d}");
    }
    if done.is_empty() && problems.is_empty() {
        println!("nothing left by a dead recorder");
    }
    for p in &problems {
        eprintln!("cotrace: clean: {p}");
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `cotrace record`.
pub fn run(args: RecordArgs) -> Result<ExitCode, String> {
    let (use_kernel, use_lttng) = if args.kernel || args.lttng {
        (args.kernel, args.lttng)
    } else {
        (true, true)
    };

    // 1. Checks that change nothing.
    // The trace format to ask LTTng for (`lttng --version`, `babeltrace2 --version`) is found
    // while the rest is checked and set up: each is a process to start.
    let trace_format = use_lttng.then(|| std::thread::spawn(lttng::trace_format));
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    // Not root: the kernel half needs the permissions (`find` names the first one missing).
    let tracefs = if use_kernel {
        Some(tracefs::find()?)
    } else {
        None
    };
    let attach = match args.pid {
        Some(pid) => {
            let process = Process {
                pid,
                start: state::start_time(pid).ok_or(format!("no process {pid}"))?,
            };
            Some(process)
        }
        None => None,
    };
    let (cmd_path, cmd_name) = match attach {
        Some(p) => (
            fs::read_link(format!("/proc/{}/exe", p.pid))
                .map_err(|e| format!("cannot read /proc/{}/exe: {e}", p.pid))?,
            format!("process {}", p.pid),
        ),
        None => (resolve(&args.command[0])?, args.command[0].clone()),
    };
    let (declared, described) = match describe::read_binary(&cmd_path)? {
        Binary::Events(events) => (events, true),
        Binary::NoSection | Binary::NotElf => (Vec::new(), false),
    };
    let patterns: Vec<String> = if args.patterns.is_empty() {
        if declared.is_empty() {
            return Err(format!(
                "{cmd_name} declares no cotrace events (no {} section): name the events to \
                 record with -e PROVIDER:EVENT",
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
                    "pattern `{p}` matches none of the events {cmd_name} declares ({})",
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
    // The fork events of the scope, when root and tracefs allow it.
    let fork_tracefs = if args.all {
        None
    } else if root {
        tracefs.clone().or_else(tracefs::mount)
    } else {
        tracefs.clone()
    };

    // 2. What dead recorders left.
    let state_dir = state::dir()?;
    {
        let _lock = state::Lock::take(&state_dir)?;
        let (done, problems) = state::clean(&state_dir, tracefs::mount().as_deref());
        if !done.is_empty() {
            eprintln!(
                "cotrace: removed what a dead recorder left: {}",
                done.join(", ")
            );
        }
        for p in problems {
            eprintln!("cotrace: could not remove what a dead recorder left: {p}");
        }
    }

    let out = match &args.output {
        Some(dir) => OutDir::create(dir)?,
        None => OutDir::create_default()?,
    };
    let out_dir = out.path.clone();

    // 3. Changes, each written to the state file first and undone by the guard.
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        // Ctrl-C reaches CMD too (same process group); cotrace stops it if needed, then keeps
        // what was recorded and cleans up. SIGTERM and SIGHUP likewise (ctrlc's `termination`
        // feature). The helpers (`lttng`, a private sessiond) are in process groups of their
        // own: the signal does not reach them.
        let _ = ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst));
    }
    let me = Process::me();
    let name = me.name();
    let mut guard = Guard {
        state_dir: state_dir.clone(),
        name: name.clone(),
        record: state::Record {
            owner: Some(me),
            lttng_home: std::env::var_os("LTTNG_HOME").map(PathBuf::from),
            tracefs: tracefs.clone().or_else(|| fork_tracefs.clone()),
            ..state::Record::default()
        },
        instance: None,
        sessiond: None,
        stopped: false,
    };
    guard.save()?;
    if sessiond_needed {
        let sessiond = lttng::PrivateSessiond::start()?;
        guard.record.sessiond = state::start_time(sessiond.pid()).map(|start| Process {
            pid: sessiond.pid(),
            start,
        });
        guard.sessiond = Some(sessiond);
        guard.save()?;
        eprintln!("cotrace: started a private lttng-sessiond (stopped at the end)");
    }

    // The kernel: a private instance, events created before CMD starts where possible.
    let mut kernel_enabled: BTreeSet<(String, String)> = BTreeSet::new();
    let mut precreated = Vec::new();
    let mut on_appearance = Vec::new();
    let mut follows_forks = false;
    if let Some(instance_tracefs) = tracefs.as_ref().or(fork_tracefs.as_ref()) {
        guard.record.instance = Some(instance_tracefs.join("instances").join(&name));
        guard.save()?;
        let instance =
            guard
                .instance
                .insert(Instance::create(instance_tracefs, &name, args.buffer_kb)?);
        if fork_tracefs.is_some()
            && instance
                .write("events/sched/sched_process_fork/enable", "1")
                .is_ok()
        {
            follows_forks = true;
        }
    }
    if let (Some(tracefs), Some(instance)) = (&tracefs, &guard.instance) {
        let lock = state::Lock::take(&state_dir)?;
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
            if exists {
                // Created by another recorder: in use by this one too, so not deleted under it.
                if state::is_created(&state_dir, &e.kernel_name) {
                    guard.record.uses.insert(e.kernel_name.clone());
                    guard.save()?;
                }
            } else if attach.is_none() {
                guard.record.uses.insert(e.kernel_name.clone());
                guard.save()?;
                state::mark_created(&state_dir, &e.kernel_name, &e.user_events)?;
                if let Err(err) = tracefs::create_user_event(tracefs, &e.user_events) {
                    let _ = state::release_events(
                        &state_dir,
                        tracefs,
                        &name,
                        &BTreeSet::from([e.kernel_name.clone()]),
                    );
                    guard.record.uses.remove(&e.kernel_name);
                    on_appearance.push(format!("{} (could not create it: {err})", e.kernel_name));
                    continue;
                }
            } else {
                // -p: the process registered its events long ago; this one it has not.
                continue;
            }
            instance.write(&format!("events/user_events/{}/enable", e.kernel_name), "1")?;
            kernel_enabled.insert(("user_events".into(), e.kernel_name.clone()));
            precreated.push(e.kernel_name.clone());
        }
        drop(lock);
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
        guard.record.session = Some(name.clone());
        guard.save()?;
        let mut create = vec![
            "create".to_string(),
            name.clone(),
            format!("--output={}", lttng_dir.display()),
        ];
        let trace_format = match trace_format {
            Some(t) => t
                .join()
                .map_err(|_| "the lttng version check panicked".to_string())?,
            None => None,
        };
        if let Some(format) = trace_format {
            eprintln!(
                "cotrace: lttng: trace format {format} (this lttng may write CTF 2 by default, \
                 which this babeltrace2 cannot read)"
            );
            create.push(format!("--trace-format={format}"));
        }
        let create: Vec<&str> = create.iter().map(String::as_str).collect();
        if let Err(e) = lttng::lttng(&create) {
            guard.record.session = None;
            return Err(e);
        }
        let (subbuf_kb, num_subbuf) = lttng_sub_buffers(args.buffer_kb, page_size());
        lttng::lttng(&[
            "enable-channel",
            "-u",
            "-s",
            &name,
            "cotrace",
            &format!("--subbuf-size={}K", subbuf_kb),
            &format!("--num-subbuf={num_subbuf}"),
            // No switch timer: a timer closes every stream's sub-buffer each period however
            // little it holds, so with 8 sub-buffers a consumer daemon starved for 8 periods
            // makes the app discard. It was removed while chasing LTTng events missing without
            // any loss reported under load (688 of 100,000, then 2,988 of 1,000,000, in
            // scripts/bench-record.sh at load average 12-13); that cause was CMD firing before
            // LTTng was ready in it (crate::ready; CMD now waits for it). The live line's
            // LTTng bytes grow a sub-buffer at a time.
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
    if interrupted.load(Ordering::SeqCst) {
        return Err("interrupted before CMD started; everything was cleaned up".into());
    }

    // CMD waits at start until LTTng is ready in it (registered, the session started there):
    // what it fires before that, LTTng never records. LTTng-UST waits 3 s by default, which a
    // loaded machine passes; the user's own setting is kept.
    let user_register_timeout = std::env::var(REGISTER_TIMEOUT_ENV).ok();
    let mut cmd_env = Vec::new();
    if use_lttng && user_register_timeout.is_none() {
        cmd_env.push((REGISTER_TIMEOUT_ENV, REGISTER_TIMEOUT_MS.to_string()));
    }

    // Scope: the process (CMD, held before exec, or -p's) and its descendants.
    let mut target = match attach {
        Some(p) => Target::Attach(p),
        None => Target::Command(Held::spawn(&cmd_path, &args.command[1..], &cmd_env)?),
    };
    let root_pid = match &target {
        Target::Attach(p) => p.pid,
        Target::Command(held) => held.child.id(),
    };
    // The tree as known so far (roots and what a /proc scan found), and its fork edges.
    let mut tree_now: BTreeSet<u32> = BTreeSet::from([root_pid]);
    let mut edges: Vec<(u32, u32)> = Vec::new();
    let mut connector = None;
    let mut perf_forks = None;
    let mut scans_proc = false;
    let mut proc_scan = tree::ProcScan::default();
    if !args.all {
        if attach.is_some() {
            proc_scan.scan(&mut tree_now, &mut edges);
        }
        // Every source of fork edges at once: the kernel's fork records share the instance's
        // buffer with the events and are overwritten with them when it overflows (a worker
        // forked then would be left out), so the connector (root) and /proc scans back them up.
        if root {
            connector = tree::Connector::start().ok();
        }
        // Without the connector (not root): perf's fork records, for any user where
        // perf_event_paranoid allows; CMD is still held, so none of its forks is missed.
        if connector.is_none() {
            perf_forks = tree::PerfForks::start(root_pid).ok();
        }
        scans_proc = true;
    }
    if args.all {
        eprintln!(
            "cotrace: recording system-wide (-a): every process's matching events, in both tracers"
        );
    } else {
        eprintln!(
            "cotrace: recording {} and its descendants only (-a records every process)",
            match attach {
                Some(p) => format!("process {}", p.pid),
                None => format!("{cmd_name} (pid {root_pid})"),
            }
        );
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
        match (attach, &user_register_timeout) {
            (Some(_), _) => eprintln!(
                "cotrace: lttng: event rules {}: recorded from when the session started in \
                 the process",
                patterns.join(" ")
            ),
            (None, None) => eprintln!(
                "cotrace: lttng: pending event rules {}; {cmd_name} waits at start until LTTng \
                 is ready in it ({REGISTER_TIMEOUT_ENV}={REGISTER_TIMEOUT_MS}, at most {} s): \
                 nothing lost at start-up{}",
                patterns.join(" "),
                REGISTER_TIMEOUT_MS / 1000,
                if use_kernel {
                    " (what a slower start loses is counted)"
                } else {
                    ""
                }
            ),
            (None, Some(v)) => eprintln!(
                "cotrace: lttng: pending event rules {}; {REGISTER_TIMEOUT_ENV}={v} from the \
                 environment: what {cmd_name} fires before LTTng is ready in it is LOST{}{}",
                patterns.join(" "),
                if use_kernel {
                    " (and counted)"
                } else {
                    " (uncounted without the kernel tracer)"
                },
                short_register_timeout_hint(v, &cmd_name)
            ),
        }
    }

    let reader = match guard.instance.as_ref() {
        Some(instance) => Some((
            KernelReader::start(
                // <tracefs>/instances/NAME
                instance
                    .dir
                    .parent()
                    .and_then(Path::parent)
                    .unwrap_or(Path::new("/sys/kernel/tracing")),
                &instance.dir,
            )?,
            out.create_file("kernel.txt")?,
        )),
        None => None,
    };

    // 4. Run CMD (or wait), with a live line.
    if let Target::Command(held) = &mut target {
        held.release()?;
    }
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let kernel_patterns: Vec<String> = patterns.iter().map(|p| kernel_pattern(p)).collect();
    let duration = args.duration.map(Duration::from_secs_f64);
    let mut interrupted_at: Option<Instant> = None;
    let mut last_line: Option<Instant> = None;
    let status = loop {
        let stop =
            interrupted.load(Ordering::SeqCst) || duration.is_some_and(|d| started.elapsed() >= d);
        match &mut target {
            Target::Command(held) => {
                if let Some(status) = held.child.try_wait().map_err(|e| e.to_string())? {
                    break Some(status);
                }
                if stop {
                    // Ctrl-C reached CMD too (the terminal's process group); SIGTERM or SIGHUP
                    // sent to cotrace alone, or the end of --duration, did not: pass SIGTERM
                    // on, then SIGKILL after 5 s.
                    let at = *interrupted_at.get_or_insert_with(|| {
                        // SAFETY: kill(2) of our own child, not yet reaped (try_wait said it
                        // runs).
                        unsafe { libc::kill(held.child.id() as libc::pid_t, libc::SIGTERM) };
                        Instant::now()
                    });
                    if at.elapsed() > Duration::from_secs(5) {
                        let _ = held.child.kill();
                    }
                }
            }
            Target::Attach(process) => {
                if stop {
                    break None;
                }
                if !process.alive() {
                    eprintln!("cotrace: process {} exited", process.pid);
                    break None;
                }
            }
        }
        if scans_proc {
            proc_scan.scan(&mut tree_now, &mut edges);
        }
        if let Some(p) = &mut perf_forks {
            p.poll(&mut edges);
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
                            if let Some((r, _)) = &reader {
                                r.learn(system, &event);
                            }
                            kernel_enabled.insert(key);
                        }
                    }
                }
            }
        }
        // The live line, 5 times a second (the trace's size is a walk of its directory: not
        // on every 10 ms round).
        if last_line.is_none_or(|t: Instant| t.elapsed() >= Duration::from_millis(200)) {
            last_line = Some(Instant::now());
            let mut line = format!(
                "{cmd_name} {} {:.1}s",
                if attach.is_some() {
                    "recorded for"
                } else {
                    "running"
                },
                started.elapsed().as_secs_f64()
            );
            if let Some((r, _)) = &reader {
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
        }
        std::thread::sleep(Duration::from_millis(if scans_proc { 10 } else { 50 }));
    };
    bar.finish_and_clear();

    // 5. Stop both tracers, collect, clean up.
    if let Some(instance) = &guard.instance {
        let _ = instance.write("tracing_on", "0");
    }
    let (kernel, kernel_txt) = match reader {
        Some((r, file)) => (r.finish()?, Some(file)),
        None => (
            KernelRecords {
                layout: None,
                cpus: Vec::new(),
                formats: HashMap::new(),
                tgids: HashMap::new(),
                forks: Vec::new(),
                names: BTreeSet::new(),
            },
            None,
        ),
    };
    let kernel_lost = guard
        .instance
        .as_ref()
        .filter(|_| use_kernel)
        .map(Instance::losses)
        .unwrap_or_default();
    // Records the instance overwrote, fork records among them maybe (also with --lttng alone).
    let instance_lost: u64 = guard
        .instance
        .as_ref()
        .map_or(0, |i| i.losses().values().sum());
    let mut lttng_lost = (0, 0);
    if let Some(session) = &guard.record.session {
        lttng::lttng(&["stop", session])?;
        guard.stopped = true;
        lttng_lost = lttng::lttng(&["--mi", "xml", "list", session])
            .and_then(|xml| lttng::parse_losses(&xml))
            .unwrap_or_default();
    }
    // The trace is whole once `lttng stop` returned: babeltrace2 starts reading it now, while
    // the session is destroyed and the rest cleaned up. (No application wrote to the session:
    // LTTng leaves no metadata, and nothing to read.) Its lines are parsed on a thread of their
    // own.
    let mut lttng_reader = None;
    if use_lttng && has_metadata(&lttng_dir) {
        lttng_reader = Some(timeline::read_ahead(
            lttng::TraceReader::start(&lttng_dir)?,
            Iterator::next,
        ));
    }
    let problems = guard.cleanup();
    drop(guard);

    // The scope: the tree from the kernel's fork records, the connector's, or the /proc scans.
    edges.extend(kernel.forks.iter().copied());
    if follows_forks
        && instance_lost > 0
        && connector.is_none()
        && perf_forks.is_none()
        && !args.all
    {
        eprintln!(
            "cotrace: the kernel overwrote {instance_lost} records, maybe fork records among \
             them: {cmd_name}'s children were also found by scanning /proc every 10 ms; the \
             events of a child that lived shorter may be left out"
        );
    }
    if let Some(c) = connector {
        let (forks, overflow) = c.finish();
        if overflow {
            eprintln!(
                "cotrace: lttng: the kernel's process-events socket overflowed: children of \
                 {cmd_name} may be missing from the LTTng half"
            );
        }
        edges.extend(forks);
    } else if let Some(p) = perf_forks {
        if p.finish(&mut edges) {
            eprintln!(
                "cotrace: lttng: perf lost fork records (its buffer overflowed): children of \
                 {cmd_name} may be missing from the LTTng half"
            );
        }
    } else if scans_proc && !args.all && !follows_forks {
        eprintln!(
            "cotrace: lttng: no fork events here (not root, or no tracefs and no process-events \
             connector, and perf refused: see kernel.perf_event_paranoid): {cmd_name}'s \
             children were found by scanning /proc every 10 ms; the LTTng events of a child \
             that lived shorter are left out"
        );
    }
    let scope: Option<BTreeSet<u32>> =
        (!args.all).then(|| tree::closure(&tree_now.iter().copied().collect::<Vec<_>>(), &edges));

    // 6. The merged timeline and the per-event counts, streamed: each kernel CPU's records
    // and LTTng's (babeltrace2 prints them in time order) are merged as they are read.
    // Each kernel event's LTTng name (its declared name, else the kernel's own).
    let kernel_to_lttng: std::sync::Arc<HashMap<String, String>> = std::sync::Arc::new(
        declared
            .iter()
            .map(|e| (e.kernel_name.clone(), e.lttng_name()))
            .collect(),
    );
    let lttng_name_of = |kernel: &str| lttng_name(&kernel_to_lttng, kernel);
    // babeltrace2's lines are parsed on a thread of their own (above), each CPU's pages
    // decoded on another (beside babeltrace2, now that CMD is done): the merge below only
    // orders and writes.
    let kernel_left_out = std::cell::Cell::new(0u64);
    let left_out: std::cell::RefCell<BTreeMap<u32, u64>> = Default::default();
    let mut sources: Vec<Box<dyn Iterator<Item = Entry> + '_>> = Vec::new();
    let mut kernel_threads = Vec::new();
    let decoding = kernel_txt.map(|file| Decoding {
        formats: Arc::new(kernel.formats),
        tgids: Arc::new(kernel.tgids),
        to_lttng: kernel_to_lttng.clone(),
        kernel_txt: Arc::new(Mutex::new(file)),
    });
    for (cpu, file) in kernel.cpus {
        let (scope, kernel_left_out) = (&scope, &kernel_left_out);
        let (Some(decoding), Some(layout)) = (&decoding, kernel.layout) else {
            continue;
        };
        let pages = KernelPages::new(cpu, file, layout, decoding.clone());
        let (entries, thread) = timeline::read_ahead(pages, Iterator::next);
        kernel_threads.push(thread);
        sources.push(Box::new(entries.filter(move |r| match scope {
            Some(scope)
                if r.event != LOST
                    && !r.tid.is_some_and(|t| scope.contains(&t))
                    && !r.pid.is_some_and(|p| scope.contains(&p)) =>
            {
                kernel_left_out.set(kernel_left_out.get() + 1);
                false
            }
            _ => true,
        })));
    }
    // Why babeltrace2 could not read the LTTng trace, where it could not (its first error): the
    // kernel's half is written and counted all the same, LTTng's counts shown as unknown.
    let mut lttng_unreadable: Option<String> = None;
    let mut lttng_thread = None;
    if let Some((entries, thread)) = lttng_reader {
        // babeltrace2 reads a trace's metadata before it prints an event: metadata it cannot
        // read (an event declared without its channel, as a session daemon writes it when
        // LTTng-UST gave up registering the channel: "Cannot find stream class at this point")
        // ends it before the first. Known here, nothing of LTTng is merged, nor judged below
        // by what LTTng missed before it was ready.
        let mut entries = entries.peekable();
        if entries.peek().is_none() {
            match lttng_finished(thread)? {
                Ok(discarded) => lttng_lost.0 = lttng_lost.0.max(discarded),
                Err(e) => lttng_unreadable = Some(e),
            }
        } else {
            lttng_thread = Some(thread);
            let (scope, left_out) = (&scope, &left_out);
            sources.push(Box::new(entries.filter(move |e| match (scope, e.pid) {
                (Some(scope), Some(pid)) if !scope.contains(&pid) => {
                    *left_out.borrow_mut().entry(pid).or_default() += 1;
                    false
                }
                _ => true,
            })));
        }
    }
    let (file_name, timeline_file) = match args.format {
        Format::Text => ("timeline.txt", out.create_file("timeline.txt")?),
        Format::ChromeJson => ("timeline.json", out.create_file("timeline.json")?),
    };
    let timeline_path = out_dir.join(file_name);
    let timeline_file = std::io::BufWriter::with_capacity(256 * 1024, timeline_file);
    let mut writer = match args.format {
        Format::Text => timeline::Writer::text(timeline_file),
        Format::ChromeJson => {
            // Every name the recording can hold: `x_start` becomes a span only when `x_done`
            // can appear too.
            let mut names: BTreeSet<String> = declared.iter().map(Declared::lttng_name).collect();
            names.extend(kernel.names.iter().map(|n| lttng_name_of(n)));
            if use_lttng {
                names.extend(lttng::event_names(&lttng_dir));
            }
            timeline::Writer::chrome(timeline_file, names)?
        }
    };
    let mut counts: BTreeMap<String, (u64, u64)> =
        wanted.iter().map(|e| (e.lttng_name(), (0, 0))).collect();
    // ftrace knows a thread's process only once it has seen it: take it from an earlier record
    // of that thread.
    let mut pids: HashMap<u32, u32> = HashMap::new();
    // Firings LTTng missed before it was ready in a process, told from the kernel's records.
    let readiness_on = use_kernel && use_lttng && lttng_unreadable.is_none();
    let mut readiness = Readiness::default();
    let mut merged = timeline::merge(sources, |mut e| {
        match (e.tid, e.pid) {
            (Some(tid), Some(pid)) => {
                pids.entry(tid).or_insert(pid);
            }
            (Some(tid), None) => e.pid = pids.get(&tid).copied(),
            _ => {}
        }
        if readiness_on && e.event != LOST {
            if let Some(marker) = readiness.observe(&e) {
                writer
                    .write(&marker)
                    .map_err(|err| format!("writing {}: {err}", timeline_path.display()))?;
            }
        }
        if e.event != LOST {
            // Looked up before inserting: no allocation per record.
            let c = match counts.get_mut(e.event) {
                Some(c) => c,
                None => counts.entry(e.event.to_string()).or_default(),
            };
            match e.tracer {
                Tracer::Kernel => c.0 += 1,
                Tracer::Lttng => c.1 += 1,
            }
        }
        writer
            .write(&e)
            .map_err(|err| format!("writing {}: {err}", timeline_path.display()))
    });
    if let Some(thread) = lttng_thread {
        match lttng_finished(thread)? {
            // The packets' own count of discarded events, which babeltrace2 warns about, where
            // it is larger than `lttng list`'s (sampled by the consumer daemon, racily in 2.13;
            // read as 0 if the query fails): a run once missed 688 LTTng events with no loss
            // reported.
            Ok(discarded) => lttng_lost.0 = lttng_lost.0.max(discarded),
            // It failed after printing events (a packet it could not decode; or the merge
            // stopped on an error of its own, reported below): they are in the timeline, and
            // maybe readiness markers judged by them.
            Err(e) => lttng_unreadable = Some(e),
        }
    }
    let mut undecodable = 0;
    for thread in kernel_threads {
        let pages = thread
            .join()
            .map_err(|_| "the kernel pages' decoder panicked".to_string())?;
        if let Some(e) = pages.error {
            merged = merged.and(Err(e));
        }
        undecodable += pages.undecodable;
    }
    if undecodable > 0 {
        eprintln!(
            "cotrace: kernel: {undecodable} records of events that vanished before they were \
             read could not be decoded (left out)"
        );
    }
    merged?;
    let lttng_read = lttng_unreadable.is_none();
    for marker in readiness.finish().into_iter().filter(|_| lttng_read) {
        writer
            .write(&marker)
            .map_err(|err| format!("writing {}: {err}", timeline_path.display()))?;
    }
    writer
        .finish()
        .map_err(|e| format!("writing {}: {e}", timeline_path.display()))?;
    let kernel_left_out = kernel_left_out.get();
    let left_out = left_out.into_inner();
    if kernel_left_out > 0 {
        eprintln!(
            "cotrace: kernel: {kernel_left_out} records of other processes left out of the \
             timeline and counts (they are in kernel.txt; -a keeps them)"
        );
    }
    if !left_out.is_empty() {
        eprintln!(
            "cotrace: lttng: {} events of {} other processes ({}) left out of the timeline and \
             counts (not {cmd_name} or its descendants; they are in the LTTng trace; -a keeps \
             them)",
            left_out.values().sum::<u64>(),
            left_out.len(),
            left_out
                .keys()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let not_ready = if lttng_read {
        readiness.per_event()
    } else {
        BTreeMap::new()
    };
    let lttng_column = match (use_lttng, lttng_read) {
        (false, _) => Column::Off,
        (true, true) => Column::Counted,
        (true, false) => Column::Unreadable,
    };
    print!("{}", summary(&counts, &not_ready, use_kernel, lttng_column));
    if let Some(why) = &lttng_unreadable {
        let read: u64 = counts.values().map(|c| c.1).sum();
        println!(
            "LTTNG UNREADABLE: babeltrace2 could not read the LTTng trace (kept as recorded in \
             {}): {why}; LTTng's counts are unknown (?) and the timeline has {}",
            lttng_dir.display(),
            if read == 0 {
                "none of its events".to_string()
            } else {
                format!("only the first {read} of its events")
            }
        );
    }
    let kernel_lost_total: u64 = kernel_lost.values().sum();
    let not_ready_total: u64 = not_ready.values().sum();
    // Attached (-p), the tracers start recording the process at different moments: what one
    // has before the other started is said, not counted as lost.
    let not_ready_lost = if attach.is_none() { not_ready_total } else { 0 };
    let lost_any =
        kernel_lost_total > 0 || lttng_lost.0 > 0 || lttng_lost.1 > 0 || not_ready_lost > 0;
    if not_ready_total > 0 {
        let list = |m: BTreeMap<u32, u64>| {
            m.iter()
                .map(|(pid, n)| format!("{n} in pid {pid}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (late, never) = (readiness.late(), readiness.never());
        let mut why = Vec::new();
        if !late.is_empty() {
            why.push(format!(
                "before LTTng was ready there: {} (a process is recorded once the session \
                 daemon has registered it; {REGISTER_TIMEOUT_ENV} bounds how long it waits for \
                 that at start)",
                list(late)
            ));
        }
        if !never.is_empty() {
            why.push(format!(
                "in processes LTTng recorded nothing of: {} (no liblttng-ust there, or the \
                 session daemon had not registered it and started the session there by its \
                 last firing)",
                list(never)
            ));
        }
        println!(
            "{}: lttng missed {not_ready_total} firings the kernel recorded, {}",
            if attach.is_none() {
                "LOST BEFORE READY"
            } else {
                "NOTE (attached)"
            },
            why.join("; ")
        );
    }
    if lost_any {
        let per_cpu: Vec<String> = kernel_lost
            .iter()
            .map(|(cpu, n)| format!("cpu{cpu} {n}"))
            .collect();
        println!(
            "LOST: kernel {kernel_lost_total} records{}; lttng {} events discarded, {} packets \
             lost (the counts above miss them; a larger --buffer-kb keeps them)",
            if per_cpu.is_empty() {
                String::new()
            } else {
                format!(" ({})", per_cpu.join(", "))
            },
            lttng_lost.0,
            lttng_lost.1
        );
    }
    println!("timeline: {}", timeline_path.display());
    if use_kernel {
        println!("kernel records: {}", out_dir.join("kernel.txt").display());
    }
    if use_lttng && lttng_read {
        println!("LTTng trace: {} (babeltrace2 {0})", lttng_dir.display());
    } else if use_lttng {
        println!(
            "LTTng trace: {} (as recorded: babeltrace2 could not read it)",
            lttng_dir.display()
        );
    }
    for p in &problems {
        eprintln!("cotrace: cleanup: {p}");
    }

    if interrupted.load(Ordering::SeqCst) {
        eprintln!("cotrace: interrupted; recorded until then, and cleaned up");
    }
    if let Some(status) = status.filter(|s| !s.success()) {
        let code = match (status.code(), status.signal()) {
            (Some(code), _) => {
                eprintln!("cotrace: {cmd_name} exited with status {code}");
                code
            }
            (None, Some(signal)) => {
                eprintln!("cotrace: {cmd_name} was killed by signal {signal}");
                128 + signal
            }
            _ => 1,
        };
        return Ok(ExitCode::from(code.clamp(1, 255) as u8));
    }
    Ok(if !problems.is_empty() {
        ExitCode::FAILURE
    } else if (lost_any || !lttng_read) && !args.allow_loss {
        // An LTTng trace that cannot be read is events the user did not get: as a loss.
        eprintln!(
            "cotrace: {} (exit status 3; --allow-loss exits 0)",
            match (lost_any, lttng_read) {
                (true, true) => "events were lost",
                (false, _) => "LTTng's trace could not be read",
                (true, false) => "events were lost, and LTTng's trace could not be read",
            }
        );
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// The system's page size.
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}

/// LTTng's sub-buffers for a per-CPU buffer of `buffer_kb` KiB: (size in KiB, count). Eight
/// of an eighth each, but a sub-buffer is at least 4 KiB and at least a page (LTTng refuses a
/// smaller one: with 64K pages, as on many arm64 systems, `--buffer-kb` under 512 was an
/// "Invalid parameter" from `lttng enable-channel`); then fewer of them (a power of two, at
/// least 2), so the buffer stays near the size asked for.
fn lttng_sub_buffers(buffer_kb: u32, page_size: usize) -> (u32, u32) {
    let least = u32::try_from(page_size / 1024).unwrap_or(u32::MAX).max(4);
    let eighth = buffer_kb / 8;
    if eighth >= least {
        return (eighth, 8);
    }
    let fit = (buffer_kb / least).clamp(2, 8);
    // The largest power of two not above `fit`.
    (least, 1 << (31 - fit.leading_zeros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_register_timeout_is_said_to_risk_recording_nothing() {
        let hint = short_register_timeout_hint("0", "app");
        assert!(
            hint.contains("only 10 ms") && hint.ends_with("nothing of app"),
            "{hint}"
        );
        assert!(short_register_timeout_hint(" 500 ", "app").contains("only 500 ms"));
        for value in ["1000", "3000", "-1", "never"] {
            assert_eq!(short_register_timeout_hint(value, "app"), "", "{value}");
        }
    }

    /// LTTng refuses a sub-buffer smaller than a page ("Invalid parameter" from `lttng
    /// enable-channel --subbuf-size=4K` on arm64 with 64K pages): at least a page each, and
    /// the buffer about the size asked for (fewer sub-buffers, at least 2) where it can be.
    #[test]
    fn lttng_sub_buffers_are_at_least_a_page() {
        assert_eq!(lttng_sub_buffers(8192, 4096), (1024, 8));
        assert_eq!(lttng_sub_buffers(32, 4096), (4, 8));
        assert_eq!(lttng_sub_buffers(32, 65536), (64, 2));
        assert_eq!(lttng_sub_buffers(256, 65536), (64, 4));
        assert_eq!(lttng_sub_buffers(512, 65536), (64, 8));
        assert_eq!(lttng_sub_buffers(8192, 65536), (1024, 8));
        assert_eq!(lttng_sub_buffers(32, 16384), (16, 2));
        for page in [4096, 16384, 65536] {
            for kb in [32, 33, 100, 256, 1000, 8192] {
                let (size, n) = lttng_sub_buffers(kb, page);
                assert!(size as usize * 1024 >= page, "{kb} KiB, {page}: {size} KiB");
                assert!(
                    size >= 4 && (2..=8).contains(&n),
                    "{kb} KiB, {page}: {size} x {n}"
                );
                assert!(n.is_power_of_two(), "{kb} KiB, {page}: {n} sub-buffers");
            }
        }
    }

    /// A page as `trace_pipe_raw` returns it (the layout of [`HEADER_PAGE`]): its stamp, a
    /// commit word (with `lost` as a stored count of events lost before it), then `records`
    /// as (delta ns, data).
    fn page(stamp: u64, lost: Option<u64>, records: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut data = Vec::new();
        for (delta, r) in records {
            let mut r = r.clone();
            r.resize(r.len().div_ceil(4) * 4, 0);
            data.extend(((delta << 5) | (r.len() as u32 / 4)).to_ne_bytes());
            data.extend(&r);
        }
        let mut commit = data.len() as u64;
        if lost.is_some() {
            commit |= (1 << 31) | (1 << 30);
        }
        let mut page = Vec::new();
        page.extend(stamp.to_ne_bytes());
        page.extend(commit.to_ne_bytes());
        page.extend(&data);
        page.extend(lost.unwrap_or(0).to_ne_bytes());
        page.resize(4096, 0);
        page
    }

    const HEADER_PAGE: &str = "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n\
        \tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n\
        \tfield: char data;\toffset:16;\tsize:4080;\tsigned:1;\n";

    fn format(name: &str, id: u16, fields: &str) -> ringbuf::Format {
        ringbuf::parse_format(&format!(
            "name: {name}\nID: {id}\nformat:\n\
             \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
             \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n{fields}"
        ))
        .unwrap()
    }

    fn record(id: u16, tid: i32, values: &[u32]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend(id.to_ne_bytes());
        r.extend([0, 0]);
        r.extend(tid.to_ne_bytes());
        for v in values {
            r.extend(v.to_ne_bytes());
        }
        r
    }

    #[test]
    fn raw_pages_are_decoded_after_the_recording() {
        let layout = ringbuf::parse_header_page(HEADER_PAGE).unwrap();
        let tick = format(
            "cx_tick",
            500,
            "\tfield:u32 seq;\toffset:8;\tsize:4;\tsigned:0;\n",
        );
        let fork = format(
            FORK,
            300,
            "\tfield:pid_t parent_pid;\toffset:8;\tsize:4;\tsigned:1;\n\
             \tfield:pid_t child_pid;\toffset:12;\tsize:4;\tsigned:1;\n",
        );
        let pages = [
            page(
                1_000_000_000,
                None,
                &[
                    (5, record(500, 42, &[0])),
                    (1, record(300, 42, &[42, 43])),
                    (2, record(999, 42, &[0])), // unknown: counted, left out
                    (3, record(500, 43, &[1])),
                ],
            ),
            page(2_000_000_000, Some(7), &[(1, record(500, 44, &[2]))]),
        ];
        let mut spill = tempfile::tempfile().unwrap();
        for p in &pages {
            spill.write_all(p).unwrap();
        }
        // A page cut short (a full disk) ends the stream; the ones before it are kept.
        spill.write_all(&pages[0][..100]).unwrap();
        spill.seek(std::io::SeekFrom::Start(0)).unwrap();
        let text = tempfile::NamedTempFile::new().unwrap();
        let mut decoder = KernelPages::new(
            1,
            spill,
            layout,
            Decoding {
                formats: Arc::new(HashMap::from([(500, tick), (300, fork)])),
                tgids: Arc::new(HashMap::from([(42, 40), (43, 40)])),
                to_lttng: Arc::new(HashMap::from([("cx_tick".into(), "cx:tick".into())])),
                kernel_txt: Arc::new(Mutex::new(text.reopen().unwrap())),
            },
        );
        let entries: Vec<Entry> = decoder.by_ref().collect();
        let got: Vec<_> = entries
            .iter()
            .map(|e| (e.ts_ns, e.pid, e.tid, e.event, e.fields.pairs()))
            .collect();
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            got,
            [
                (
                    1_000_000_005,
                    Some(40),
                    Some(42),
                    "cx:tick",
                    pairs(&[("seq", "0")])
                ),
                (
                    1_000_000_011,
                    Some(40),
                    Some(43),
                    "cx:tick",
                    pairs(&[("seq", "1")])
                ),
                (
                    2_000_000_000,
                    None,
                    Some(0),
                    LOST,
                    pairs(&[("cpu", "1"), ("events", "7")])
                ),
                (
                    2_000_000_001,
                    None,
                    Some(44),
                    "cx:tick",
                    pairs(&[("seq", "2")])
                ),
            ]
        );
        assert_eq!((decoder.undecodable, decoder.error), (1, None));
        assert_eq!(
            fs::read_to_string(text.path()).unwrap(),
            "<...>-42 (   40) [001] 1.000000005: cx_tick: seq=0\n\
             <...>-42 (   40) [001] 1.000000006: sched_process_fork: parent_pid=42 child_pid=43\n\
             <...>-43 (   40) [001] 1.000000011: cx_tick: seq=1\n\
             CPU:1 [LOST 7 EVENTS]\n\
             <...>-44 (-----) [001] 2.000000001: cx_tick: seq=2\n"
        );
    }

    #[test]
    fn summary_flags_disagreements() {
        let counts: BTreeMap<String, (u64, u64)> =
            [("p:a".to_string(), (3, 3)), ("p:b".to_string(), (2, 1))].into();
        let both = summary(&counts, &BTreeMap::new(), true, Column::Counted);
        let lines: Vec<&str> = both.lines().collect();
        assert!(!lines[1].contains("disagree"), "{both}");
        assert!(lines[2].ends_with("<- the tracers disagree"), "{both}");
        assert!(
            lines[3].starts_with("total: kernel 5 lttng 4; 1 events where"),
            "{both}"
        );
        // One tracer: nothing to compare, its column only.
        let kernel = summary(&counts, &BTreeMap::new(), true, Column::Off);
        assert!(!kernel.contains("<-"), "{kernel}");
        assert!(
            kernel.contains("total: kernel 5 lttng -; 0 events"),
            "{kernel}"
        );
        // LTTng's trace unreadable: its counts unknown, not 0, and not compared.
        let unreadable = summary(&counts, &BTreeMap::new(), true, Column::Unreadable);
        let lines: Vec<&str> = unreadable.lines().collect();
        assert!(!unreadable.contains("<-"), "{unreadable}");
        assert!(lines[2].ends_with("       2        ?"), "{unreadable}");
        assert_eq!(
            lines[3],
            "total: kernel 5 lttng ?; the tracers were not compared (LTTng's trace could not be \
             read)"
        );
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
