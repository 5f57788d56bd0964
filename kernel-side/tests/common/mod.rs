//! Helpers shared by the integration tests that need a kernel with user_events.
//!
//! Those tests call [`user_events`] first. Where user_events is missing they skip LOUDLY, unless
//! `COTRACE_REQUIRE_USER_EVENTS=1` (set by scripts/test-kernel.sh in the VM), where a missing
//! user_events fails the test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use cotrace_word::EnableWord;

/// How long to wait for the kernel (TCG is slow; tests run in parallel).
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The tracefs directory when user_events can be used; `None` (after a loud message) when it
/// cannot and the environment does not require it. Panics when required and missing.
pub fn user_events(test: &str) -> Option<&'static Path> {
    match cotrace_kernel::availability() {
        Ok(tracefs) => Some(tracefs),
        Err(why) if required() => {
            panic!("COTRACE_REQUIRE_USER_EVENTS=1 but user_events is unavailable: {why}")
        }
        Err(why) => {
            // Straight to the process's stderr, past libtest's output capture: a skip must be
            // seen even when the test "passes".
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {why}\n  (run scripts/test-kernel.sh to run it in a VM with \
                 user_events; COTRACE_REQUIRE_USER_EVENTS=1 turns this skip into a failure)"
            );
            None
        }
    }
}

/// Whether the environment demands a kernel with user_events.
pub fn required() -> bool {
    std::env::var("COTRACE_REQUIRE_USER_EVENTS").is_ok_and(|v| v == "1")
}

/// A fresh word that lives forever, as the kernel contract wants.
pub fn leak_word() -> &'static EnableWord {
    Box::leak(Box::new(EnableWord::new()))
}

/// A fresh event `<prefix>_<pid>_<n>` with `fields`, registered on a fresh leaked word.
pub fn register_fresh(
    prefix: &str,
    fields: &[(&str, cotrace_kernel::FieldType)],
) -> (String, &'static EnableWord, cotrace_kernel::Registration) {
    let name = unique(prefix);
    let word = leak_word();
    let format = fields.iter().fold(
        cotrace_kernel::EventFormat::new(&name).unwrap(),
        |f, &(n, t)| f.field(n, t).unwrap(),
    );
    let reg = cotrace_kernel::register(word, format).unwrap();
    (name, word, reg)
}

/// An event name unique to this process and call: `<prefix>_<pid>_<n>`.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `<tracefs>/events/<system>/<name>`.
pub fn event_dir(tracefs: &Path, system: &str, name: &str) -> PathBuf {
    tracefs.join("events").join(system).join(name)
}

/// Writes "1"/"0" to the event's ftrace `enable` file.
pub fn set_enabled(tracefs: &Path, name: &str, on: bool) {
    set_enabled_in(tracefs, "user_events", name, on);
}

/// Writes "1"/"0" to `<tracefs>/events/<system>/<name>/enable`.
pub fn set_enabled_in(tracefs: &Path, system: &str, name: &str, on: bool) {
    let path = event_dir(tracefs, system, name).join("enable");
    std::fs::write(&path, if on { "1" } else { "0" })
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Polls until `cond` holds, up to [`TIMEOUT`]; returns whether it did.
pub fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls until bit 31 of `word` is `on`; panics with the word's state after [`TIMEOUT`].
pub fn wait_kernel_bit(word: &EnableWord, on: bool) {
    assert!(
        wait_until(|| word.snapshot().kernel_enabled() == on),
        "bit 31 did not become {on} within {TIMEOUT:?}: word is {:?}",
        word.snapshot()
    );
}

/// The calling thread's id (what the `trace` file shows after the task name).
pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// The task id of a `trace` line (`<comm>-<tid> [cpu] ...`).
fn line_tid(line: &str) -> Option<i32> {
    let (task, _) = line.split_once(" [")?;
    task.trim().rsplit_once('-')?.1.parse().ok()
}

/// Lines of `<tracefs>/trace` that record the event `name` and were written by the calling
/// thread. (The buffer may hold records of earlier, exited processes whose event ids the
/// kernel has since reused for other names: filtering by writer keeps them out.)
pub fn trace_lines(tracefs: &Path, name: &str) -> Vec<String> {
    trace_lines_from(tracefs, name, gettid())
}

/// Lines of `<tracefs>/trace` that record the event `name`, written by task `tid`.
pub fn trace_lines_from(tracefs: &Path, name: &str, tid: i32) -> Vec<String> {
    let bytes = std::fs::read(tracefs.join("trace")).expect("reading <tracefs>/trace");
    let text = String::from_utf8_lossy(&bytes);
    let tag = format!(" {name}: ");
    text.lines()
        .filter(|l| l.contains(&tag) && line_tid(l) == Some(tid))
        .map(str::to_owned)
        .collect()
}

/// Polls `<tracefs>/trace` until a line of event `name` written by this thread contains every
/// one of `parts`; returns that line, or panics showing what was there.
pub fn wait_trace_line(tracefs: &Path, name: &str, parts: &[&str]) -> String {
    wait_trace_line_from(tracefs, name, gettid(), parts)
}

/// [`wait_trace_line`] for lines written by task `tid`.
pub fn wait_trace_line_from(tracefs: &Path, name: &str, tid: i32, parts: &[&str]) -> String {
    let mut found = None;
    let ok = wait_until(|| {
        found = trace_lines_from(tracefs, name, tid)
            .into_iter()
            .find(|l| parts.iter().all(|p| l.contains(p)));
        found.is_some()
    });
    assert!(
        ok,
        "no trace line of {name} by task {tid} contains {parts:?}; lines of {name} by it: {:#?}",
        trace_lines_from(tracefs, name, tid)
    );
    found.unwrap()
}

/// The text after `<name>: ` on a trace line (the decoded fields).
pub fn fields_of(line: &str, name: &str) -> String {
    let tag = format!(" {name}: ");
    line.split_once(&tag)
        .map(|(_, f)| f.to_owned())
        .unwrap_or_default()
}

/// A registration's event status line in `<tracefs>/user_events_status`, if the event exists.
pub fn status_line(tracefs: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(tracefs.join("user_events_status")).ok()?;
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .map(str::to_owned)
}

/// Whether the event's tracefs directory exists.
pub fn event_exists(tracefs: &Path, name: &str) -> bool {
    event_dir(tracefs, "user_events", name).exists()
}
