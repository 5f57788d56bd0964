//! The kernel side: tracefs, user_events, ftrace instances.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::fields::Fields;

/// Where tracefs is usually mounted, tried before `/proc/mounts`.
const USUAL_MOUNTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Where tracefs is mounted (with or without user_events), if it is.
pub fn mount() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = USUAL_MOUNTS.iter().map(PathBuf::from).collect();
    if let Ok(mounts) = fs::read_to_string("/proc/mounts") {
        for line in mounts.lines() {
            let mut words = line.split_whitespace();
            if let (Some(_), Some(dir), Some("tracefs")) =
                (words.next(), words.next(), words.next())
            {
                candidates.push(PathBuf::from(dir));
            }
        }
    }
    candidates.into_iter().find(|d| d.join("trace").exists())
}

/// Where tracefs is mounted, or why the kernel side cannot be used (by this user: the first
/// permission it lacks, named).
pub fn find() -> Result<PathBuf, String> {
    let Some(tracefs) = mount() else {
        // There, but not for this user (tracefs is mounted 0700, root's).
        if let Some(dir) = USUAL_MOUNTS.iter().map(Path::new).find(|d| {
            fs::metadata(d.join("trace"))
                .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
        }) {
            return Err(denied(dir, "cotrace reads and writes tracefs"));
        }
        if kernel_lacks_user_events() {
            return Err(format!(
                "this kernel ({}) was built without CONFIG_USER_EVENTS (/proc/kallsyms has no \
                 user_events_ioctl), and tracefs is not mounted either: mounting it would not \
                 help; use Linux 6.4+ with CONFIG_USER_EVENTS=y, or pass --lttng to record \
                 with LTTng only",
                kernel_release()
            ));
        }
        return Err(
            "tracefs is not mounted (no /sys/kernel/tracing/trace): mount it with \
                    `mount -t tracefs nodev /sys/kernel/tracing`, or pass --lttng to record \
                    with LTTng only"
                .into(),
        );
    };
    if !tracefs.join("user_events_data").exists() {
        return Err(format!(
            "this kernel ({}) has no user_events ({} has no user_events_data): it needs \
             Linux 6.4+ with CONFIG_USER_EVENTS=y; pass --lttng to record with LTTng only",
            kernel_release(),
            tracefs.display()
        ));
    }
    // What the kernel half opens, in the order a user who lacks them is told.
    let needs = [
        (
            tracefs.clone(),
            libc::R_OK | libc::X_OK,
            "cotrace reads and writes tracefs",
        ),
        (
            tracefs.join("user_events_data"),
            libc::R_OK | libc::W_OK,
            "CMD, run as you, registers its kernel events through it",
        ),
        (
            tracefs.join("instances"),
            libc::W_OK | libc::X_OK,
            "cotrace creates its ftrace instance there",
        ),
    ];
    for (path, mode, why) in needs {
        if !accessible(&path, mode) {
            return Err(denied(&path, why));
        }
    }
    Ok(tracefs)
}

/// Whether this process may access `path` with `mode` (`access(2)` with the effective ids and
/// capabilities: always true for root).
fn accessible(path: &Path, mode: libc::c_int) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), mode, libc::AT_EACCESS) == 0 }
}

/// The error for a permission this user lacks on `path`: which, and the ways out.
fn denied(path: &Path, why: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let owner = fs::metadata(path).map_or_else(
        |_| "mode unknown".to_string(),
        |m| {
            format!(
                "mode {:04o}, owner uid {} gid {}",
                m.mode() & 0o7777,
                m.uid(),
                m.gid()
            )
        },
    );
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    format!(
        "permission denied: {} ({owner}; you are uid {uid}): {why}. The kernel half needs \
         root, or access to tracefs, its instances/ and user_events_data; pass --lttng to \
         record with LTTng only",
        path.display()
    )
}

/// True when `/proc/kallsyms` is readable and has no `user_events_ioctl`.
fn kernel_lacks_user_events() -> bool {
    match fs::read_to_string("/proc/kallsyms") {
        Ok(symbols) => !symbols.is_empty() && !symbols.contains(" user_events_ioctl"),
        Err(_) => false,
    }
}

fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Writes `value` to a tracefs file (appending where the file is a command list).
pub fn write(path: &Path, value: &str, append: bool) -> Result<(), String> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.write_all(value.as_bytes())
        .map_err(|e| format!("writing `{value}` to {}: {e}", path.display()))
}

/// One line of `user_events_status`: an event and who uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    /// The tracepoint name (`provider_event`, or `name.<id>` for multi-format events).
    pub name: String,
    /// `ftrace`, `perf`, `other`, as the kernel prints them.
    pub used_by: Vec<String>,
}

/// Parses `user_events_status`: `NAME[ # Used by ftrace perf other]` lines, then a blank line
/// and the `Active:`/`Busy:` counters.
pub fn parse_status(text: &str) -> Vec<StatusLine> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        let (name, rest) = match line.split_once(" #") {
            Some((n, r)) => (n.trim(), r),
            None => (line, ""),
        };
        let used_by = rest
            .trim()
            .strip_prefix("Used by")
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        out.push(StatusLine {
            name: name.to_string(),
            used_by,
        });
    }
    out
}

/// Which ftrace buffers (top level, instances) enable `system:event`.
pub fn ftrace_enablers(tracefs: &Path, system: &str, event: &str) -> Vec<String> {
    let mut out = Vec::new();
    let enabled = |dir: &Path| {
        fs::read_to_string(dir.join("events").join(system).join(event).join("enable"))
            .map(|s| s.trim_start().starts_with('1'))
            .unwrap_or(false)
    };
    if enabled(tracefs) {
        out.push("ftrace".to_string());
    }
    if let Ok(dir) = fs::read_dir(tracefs.join("instances")) {
        let mut names: Vec<String> = dir
            .flatten()
            .filter(|e| enabled(&e.path()))
            .map(|e| format!("ftrace instance {}", e.file_name().to_string_lossy()))
            .collect();
        names.sort();
        out.extend(names);
    }
    out
}

/// A private ftrace instance with the monotonic clock. Removed by [`Instance::remove`].
pub struct Instance {
    /// Its directory, `<tracefs>/instances/NAME`.
    pub dir: PathBuf,
}

impl Instance {
    /// Creates `<tracefs>/instances/name`, with `trace_clock` mono and the thread group id
    /// recorded.
    pub fn create(tracefs: &Path, name: &str, buffer_kb: u32) -> Result<Self, String> {
        let dir = tracefs.join("instances").join(name);
        fs::create_dir(&dir)
            .map_err(|e| format!("cannot create ftrace instance {}: {e}", dir.display()))?;
        let instance = Self { dir };
        instance.write("trace_clock", "mono")?;
        instance.write("options/record-tgid", "1")?;
        instance.write("buffer_size_kb", &buffer_kb.to_string())?;
        Ok(instance)
    }

    /// Writes a file of the instance.
    pub fn write(&self, file: &str, value: &str) -> Result<(), String> {
        write(&self.dir.join(file), value, false)
    }

    /// Records lost per CPU (`per_cpu/cpuN/stats`: `overrun`, overwritten before they were
    /// read, plus `dropped events`), CPUs with no loss left out.
    pub fn losses(&self) -> BTreeMap<u32, u64> {
        let mut out = BTreeMap::new();
        for entry in fs::read_dir(self.dir.join("per_cpu"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(cpu) = name.strip_prefix("cpu").and_then(|c| c.parse().ok()) else {
                continue;
            };
            let stats = fs::read_to_string(entry.path().join("stats")).unwrap_or_default();
            let lost: u64 = stats
                .lines()
                .filter_map(|l| {
                    l.strip_prefix("overrun:")
                        .or_else(|| l.strip_prefix("dropped events:"))
                })
                .filter_map(|v| v.trim().parse::<u64>().ok())
                .sum();
            if lost > 0 {
                out.insert(cpu, lost);
            }
        }
        out
    }

    /// Disables every event and removes the instance (retrying briefly while the kernel says
    /// it is busy).
    pub fn remove(&self) -> Result<(), String> {
        let _ = self.write("tracing_on", "0");
        let _ = self.write("events/enable", "0");
        retry(|| fs::remove_dir(&self.dir))
            .map_err(|e| format!("cannot remove ftrace instance {}: {e}", self.dir.display()))
    }
}

/// Retries `f` for up to 2 s while it fails with EBUSY (the kernel lets go of an event after an
/// RCU grace period).
pub fn retry(mut f: impl FnMut() -> std::io::Result<()>) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match f() {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Creates a user_event through `dynamic_events` (`u:<description>`): it exists before the
/// app starts, so the kernel can enable it and record its very first firing.
pub fn create_user_event(tracefs: &Path, description: &str) -> Result<(), String> {
    write(
        &tracefs.join("dynamic_events"),
        &format!("u:{description}\n"),
        true,
    )
}

/// Deletes a user_event created with [`create_user_event`] (the full description is needed).
pub fn delete_user_event(tracefs: &Path, description: &str) -> Result<(), String> {
    let path = tracefs.join("dynamic_events");
    retry(|| {
        let mut f = fs::OpenOptions::new().append(true).open(&path)?;
        f.write_all(format!("!u:{description}\n").as_bytes())
    })
    .map_err(|e| format!("cannot delete user_event `{description}`: {e}"))
}

/// One record of the instance's ring buffer, decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record<'a> {
    /// Monotonic time in ns.
    pub ts_ns: u64,
    /// Thread group (process) id, when `record-tgid` is on.
    pub pid: Option<u32>,
    /// Thread id.
    pub tid: u32,
    /// The event's name (`shop_request_start`).
    pub event: &'a str,
    /// `name=value` pairs.
    pub fields: &'a Fields,
}

/// Appends a record in ftrace's text layout, with the full nanoseconds, to `out`:
/// `<...>-123 (  120) [001] 12.345678901: shop_request_done: worker=1 path=/item/1`.
/// (Pieces written as they are, no formatting machinery: this runs once per kernel record.)
pub fn format_line(out: &mut Vec<u8>, r: &Record<'_>, cpu: u32) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"<...>-");
    out.extend_from_slice(n.format(r.tid).as_bytes());
    out.extend_from_slice(b" (");
    match r.pid {
        Some(p) => {
            let p = n.format(p).as_bytes();
            out.extend(std::iter::repeat_n(b' ', 5usize.saturating_sub(p.len())));
            out.extend_from_slice(p);
        }
        None => out.extend_from_slice(b"-----"),
    }
    out.extend_from_slice(b") [");
    let c = n.format(cpu).as_bytes();
    out.extend(std::iter::repeat_n(b'0', 3usize.saturating_sub(c.len())));
    out.extend_from_slice(c);
    out.extend_from_slice(b"] ");
    out.extend_from_slice(n.format(r.ts_ns / 1_000_000_000).as_bytes());
    out.extend_from_slice(&crate::timeline::nanos(r.ts_ns));
    out.extend_from_slice(b": ");
    out.extend_from_slice(r.event.as_bytes());
    out.push(b':');
    for (k, v) in r.fields.iter() {
        out.push(b' ');
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(v);
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let text = "shop_a # Used by ftrace perf\nshop_b\n\nActive: 2\nBusy: 1\nMax: 32768\n";
        let s = parse_status(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].used_by, vec!["ftrace", "perf"]);
        assert!(s[1].used_by.is_empty());
    }

    #[test]
    fn text_lines_keep_nanoseconds() {
        let fields = [("worker", "1"), ("path", "/a")].into_iter().collect();
        let mut r = Record {
            ts_ns: 12_345_678_901,
            pid: Some(120),
            tid: 123,
            event: "shop_request_done",
            fields: &fields,
        };
        let line = |r: &Record<'_>, cpu| {
            let mut out = Vec::new();
            format_line(&mut out, r, cpu);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            line(&r, 1),
            "<...>-123 (  120) [001] 12.345678901: shop_request_done: worker=1 path=/a\n"
        );
        // As `{pid:>5}` and `{cpu:03}` printed it: wider numbers are not cut; no pid, dashes.
        let none = Fields::new();
        (r.ts_ns, r.pid, r.tid, r.fields) = (5, Some(1_234_567), 7, &none);
        assert_eq!(
            line(&r, 1234),
            "<...>-7 (1234567) [1234] 0.000000005: shop_request_done:\n"
        );
        r.pid = None;
        assert_eq!(
            line(&r, 0),
            "<...>-7 (-----) [000] 0.000000005: shop_request_done:\n"
        );
    }
}
