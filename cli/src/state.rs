//! What each `cotrace record` changed on the system, kept where a later `cotrace record` or
//! `cotrace clean` finds it after the recorder died (kill -9, a power cut, a crash).
//!
//! A recorder is named `cotrace-<pid>-<start time>` (the start time in clock ticks since boot,
//! field 22 of `/proc/<pid>/stat`): its ftrace instance and LTTng session carry that name, so
//! whether the recorder still lives is checkable from the name alone, even after the pid was
//! reused. Before each change it writes what it is about to change to its state file,
//! `<state dir>/<name>.json` (`/run/cotrace` for root, `$XDG_RUNTIME_DIR/cotrace` or
//! `/tmp/cotrace-<uid>` otherwise; a directory of its own, mode 0700, temporary files in it
//! too). The user_events it created through `dynamic_events` are shared with later recorders
//! of the same events: each is listed under `<state dir>/events/`, and is deleted by the last
//! recorder that uses it, live or cleaned up. One lock file serialises creating, using and
//! deleting those, and cleaning up.

use std::collections::BTreeSet;
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::lttng;
use crate::tracefs;

/// A process, identified across pid reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Process {
    /// Its pid.
    pub pid: u32,
    /// Its start time, clock ticks after boot.
    pub start: u64,
}

impl Process {
    /// This process.
    pub fn me() -> Self {
        let pid = std::process::id();
        Self {
            pid,
            start: start_time(pid).unwrap_or(0),
        }
    }

    /// Whether it still runs (the same pid with the same start time).
    pub fn alive(self) -> bool {
        start_time(self.pid) == Some(self.start)
    }

    /// `cotrace-<pid>-<start>`.
    pub fn name(self) -> String {
        format!("cotrace-{}-{}", self.pid, self.start)
    }

    /// The recorder a `cotrace-<pid>-<start>` name belongs to.
    pub fn from_name(name: &str) -> Option<Self> {
        let (pid, start) = name.strip_prefix("cotrace-")?.split_once('-')?;
        Some(Self {
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
        })
    }
}

/// Field 22 of `/proc/<pid>/stat`, the start time (the command name, field 2, may hold spaces
/// and parentheses: count after the last `)`).
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// What one recorder changed (or is about to change).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    /// The recorder.
    pub owner: Option<Process>,
    /// Its `LTTNG_HOME` (which session daemon holds its session).
    pub lttng_home: Option<PathBuf>,
    /// Its LTTng session.
    pub session: Option<String>,
    /// tracefs.
    pub tracefs: Option<PathBuf>,
    /// Its ftrace instance.
    pub instance: Option<PathBuf>,
    /// The cotrace-created user_events it uses (kernel names).
    pub uses: BTreeSet<String>,
    /// The private `lttng-sessiond` it started.
    pub sessiond: Option<Process>,
}

impl Record {
    fn to_json(&self) -> Value {
        let process = |p: Option<Process>| p.map(|p| json!({"pid": p.pid, "start": p.start}));
        json!({
            "owner": process(self.owner),
            "lttng_home": self.lttng_home,
            "session": self.session,
            "tracefs": self.tracefs,
            "instance": self.instance,
            "uses": self.uses,
            "sessiond": process(self.sessiond),
        })
    }

    fn from_json(v: &Value) -> Self {
        let process = |v: &Value| {
            Some(Process {
                pid: u32::try_from(v.get("pid")?.as_u64()?).ok()?,
                start: v.get("start")?.as_u64()?,
            })
        };
        let path = |k: &str| v.get(k).and_then(Value::as_str).map(PathBuf::from);
        Self {
            owner: process(&v["owner"]),
            lttng_home: path("lttng_home"),
            session: v["session"].as_str().map(String::from),
            tracefs: path("tracefs"),
            instance: path("instance"),
            uses: v["uses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(String::from))
                .collect(),
            sessiond: process(&v["sessiond"]),
        }
    }
}

/// The state directory, created private (0700) and checked to be ours and not a symlink.
pub fn dir() -> Result<PathBuf, String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let dir = if uid == 0 {
        PathBuf::from("/run/cotrace")
    } else if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        PathBuf::from(runtime).join("cotrace")
    } else {
        std::env::temp_dir().join(format!("cotrace-{uid}"))
    };
    for d in [dir.clone(), dir.join("events")] {
        match fs::DirBuilder::new().mode(0o700).create(&d) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", d.display())),
        }
        let meta = fs::symlink_metadata(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
            return Err(format!(
                "{} is not a private directory of this user (mode 0700): remove it",
                d.display()
            ));
        }
    }
    Ok(dir)
}

/// The lock over the state directory (released on drop).
pub struct Lock {
    _file: fs::File,
}

impl Lock {
    /// Takes it, waiting at most 10 s.
    pub fn take(dir: &Path) -> Result<Self, String> {
        let path = dir.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Self { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) || Instant::now() > deadline {
                return Err(format!("cannot lock {}: {e}", path.display()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Writes `record` as `<dir>/<name>.json` (through a temporary file in the same private
/// directory, renamed over it).
pub fn save(dir: &Path, name: &str, record: &Record) -> Result<(), String> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_vec_pretty(&record.to_json()).map_err(|e| e.to_string())?;
    fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&text))
        .and_then(|()| fs::rename(&tmp, &path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Removes `<dir>/<name>.json`.
pub fn forget(dir: &Path, name: &str) {
    let _ = fs::remove_file(dir.join(format!("{name}.json")));
}

/// Every recorder's state: (name, record).
fn all(dir: &Path) -> Vec<(String, Record)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = file.strip_suffix(".json") else {
            continue;
        };
        let record = fs::read(entry.path())
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map(|v| Record::from_json(&v))
            .unwrap_or_default();
        out.push((name.to_string(), record));
    }
    out
}

/// Whether a cotrace-created user_event is listed (`<dir>/events/<kernel name>`); returns its
/// description.
fn created(dir: &Path, event: &str) -> Option<String> {
    fs::read_to_string(dir.join("events").join(event)).ok()
}

/// Lists `event` (description `description`) as created by cotrace. Call with the lock held.
pub fn mark_created(dir: &Path, event: &str, description: &str) -> Result<(), String> {
    let path = dir.join("events").join(event);
    fs::write(&path, description).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Whether `event` is a cotrace-created user_event (so a recorder that uses it must say so).
pub fn is_created(dir: &Path, event: &str) -> bool {
    created(dir, event).is_some()
}

/// Deletes the cotrace-created events among `events` that no live recorder other than `me`
/// uses. Call with the lock held. Returns what could not be deleted.
pub fn release_events(
    dir: &Path,
    tracefs: &Path,
    me: &str,
    events: &BTreeSet<String>,
) -> Vec<String> {
    let in_use: BTreeSet<String> = all(dir)
        .into_iter()
        .filter(|(name, r)| name != me && r.owner.is_some_and(Process::alive))
        .flat_map(|(_, r)| r.uses)
        .collect();
    let mut problems = Vec::new();
    for event in events.difference(&in_use) {
        let Some(description) = created(dir, event) else {
            continue;
        };
        match tracefs::delete_user_event(tracefs, &description) {
            Ok(()) => {
                let _ = fs::remove_file(dir.join("events").join(event));
            }
            // Gone already (deleted by hand, or a reboot since).
            Err(_) if !tracefs.join("events/user_events").join(event).exists() => {
                let _ = fs::remove_file(dir.join("events").join(event));
            }
            Err(e) => problems.push(e),
        }
    }
    problems
}

/// Undoes what a dead recorder left. Call with the lock held. Returns what was removed, and
/// what could not be.
fn undo(dir: &Path, name: &str, r: &Record) -> (Vec<String>, Vec<String>) {
    let (mut done, mut problems) = (Vec::new(), Vec::new());
    if let Some(session) = &r.session {
        let home = r.lttng_home.as_deref();
        if lttng::lttng_in(home, &["list", session]).is_ok() {
            let _ = lttng::lttng_in(home, &["stop", session]);
            match lttng::lttng_in(home, &["destroy", session]) {
                Ok(_) => done.push(format!("LTTng session {session}")),
                Err(e) => problems.push(e),
            }
        }
    }
    if let Some(instance) = &r.instance {
        if instance.exists() {
            match (tracefs::Instance {
                dir: instance.clone(),
            })
            .remove()
            {
                Ok(()) => done.push(format!("ftrace instance {}", instance.display())),
                Err(e) => problems.push(e),
            }
        }
    }
    if let Some(tracefs) = &r.tracefs {
        let before: Vec<String> = r
            .uses
            .iter()
            .filter(|e| created(dir, e).is_some())
            .cloned()
            .collect();
        let failed = release_events(dir, tracefs, name, &r.uses);
        for e in before {
            if created(dir, &e).is_none() {
                done.push(format!("user_event {e}"));
            }
        }
        problems.extend(failed);
    }
    if let Some(sessiond) = r.sessiond.filter(|p| p.alive()) {
        // SAFETY: kill(2) of the private lttng-sessiond of a dead recorder (the same pid and
        // start time as when it was started).
        unsafe { libc::kill(sessiond.pid as libc::pid_t, libc::SIGTERM) };
        done.push(format!("lttng-sessiond {}", sessiond.pid));
    }
    (done, problems)
}

/// Removes what dead recorders left: those with a state file, then ftrace instances and LTTng
/// sessions (of the session daemon `lttng` reaches now) named after a dead recorder, then
/// cotrace-created user_events that no live recorder uses. Returns what was removed, and what
/// could not be.
pub fn clean(dir: &Path, tracefs: Option<&Path>) -> (Vec<String>, Vec<String>) {
    let (mut done, mut problems) = (Vec::new(), Vec::new());
    let dead = |name: &str| Process::from_name(name).is_some_and(|p| !p.alive());
    for (name, r) in all(dir) {
        if r.owner.is_some_and(Process::alive) {
            continue;
        }
        let (d, p) = undo(dir, &name, &r);
        done.extend(d);
        if p.is_empty() {
            forget(dir, &name);
        }
        problems.extend(p);
    }
    if let Some(tracefs) = tracefs {
        for entry in fs::read_dir(tracefs.join("instances"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if dead(&name) {
                match (tracefs::Instance { dir: entry.path() }).remove() {
                    Ok(()) => done.push(format!("ftrace instance {}", entry.path().display())),
                    Err(e) => problems.push(e),
                }
            }
        }
        let listed: BTreeSet<String> = fs::read_dir(dir.join("events"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let failed = release_events(dir, tracefs, "", &listed);
        for e in &listed {
            if created(dir, e).is_none() {
                done.push(format!("user_event {e}"));
            }
        }
        problems.extend(failed);
    }
    if let Ok(xml) = lttng::lttng(&["--mi", "xml", "list"]) {
        for session in lttng::parse_sessions(&xml).unwrap_or_default() {
            if dead(&session) {
                let _ = lttng::lttng(&["stop", &session]);
                match lttng::lttng(&["destroy", &session]) {
                    Ok(_) => done.push(format!("LTTng session {session}")),
                    Err(e) => problems.push(e),
                }
            }
        }
    }
    (done, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_liveness() {
        let me = Process::me();
        assert!(me.alive());
        assert_eq!(Process::from_name(&me.name()), Some(me));
        assert!(
            !Process {
                start: me.start + 1,
                ..me
            }
            .alive()
        );
        assert_eq!(Process::from_name("cotrace-12"), None);
        let r = Record {
            owner: Some(me),
            session: Some(me.name()),
            uses: ["shop_a".to_string()].into(),
            ..Record::default()
        };
        assert_eq!(Record::from_json(&r.to_json()), r);
    }
}
