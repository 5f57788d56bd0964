//! `#[persist]` and `#[multi_format]`: the facade reaches user_events' registration flags.
//!
//! A child process (this binary again, running the ignored `child` test) declares a
//! `#[persist]` event, a plain one and a `#[multi_format]` one, calls `cotrace::init()`, waits
//! for ftrace to enable them, fires them and exits. The parent then reads the `trace` file: the
//! persistent event's record still decodes (`s=kept-after-exit`), the plain one's cannot
//! ("Unknown type": the kernel deleted its format with the process). As `nobody` (no
//! CAP_PERFMON) PERSIST is refused with EPERM: the event is registered without it and
//! `status()` says so.
//!
//! Needs user_events and root: `#[ignore]`d on the host (counted as ignored, never as passed);
//! scripts/test.sh runs it with `--include-ignored` in the user_events VM.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

cotrace::provider! {
    /// Events of the child process.
    pub mod persist_test {
        /// Registered with PERSIST: decodable after the process exits.
        #[persist]
        fn kept(n: u32, s: &str);
        /// Plain: its format goes with the process.
        fn gone(n: u32);
        /// Registered with MULTI_FORMAT: tracepoint `user_events_multi:persist_test_multi.<id>`.
        #[multi_format]
        fn multi(n: u32);
        /// Plain, but its name already exists with other fields (the parent creates it).
        fn taken(n: u32);
    }
}

/// Events the parent creates through `dynamic_events` before the child runs, with fields other
/// than the child's: `persist_test_taken` conflicts with the child's plain event,
/// `persist_test_multi` does not conflict with its multi-format one.
const PRE_EXISTING: [&str; 2] = [
    "u:persist_test_taken u64 other",
    "u:persist_test_multi u64 other",
];

fn dynamic_events(tracefs: &Path, command: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(tracefs.join("dynamic_events"))?
        .write_all(format!("{command}\n").as_bytes())
}

const TIMEOUT: Duration = Duration::from_secs(60);

fn tracefs() -> &'static Path {
    let tracefs = cotrace::cotrace_kernel::availability()
        .unwrap_or_else(|why| panic!("this test needs user_events (run in the VM): {why}"));
    assert_eq!(
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() },
        0,
        "this test needs root"
    );
    tracefs
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A copy of this test binary that user `nobody` can execute (the checkout may sit under a
/// directory only root can traverse), in a fresh 0755 directory.
fn executable_copy() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cotrace-persist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.join("persist-test");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    exe
}

/// Runs the child, enables its events with ftrace once they exist, and returns its output.
fn run_child(exe: &Path, as_nobody: bool, enable: &[&str]) -> String {
    let tracefs = tracefs();
    let mut command = Command::new(exe);
    command
        .args(["--exact", "child", "--ignored", "--nocapture"])
        .env("COTRACE_PERSIST_CHILD", "1")
        .current_dir("/")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if as_nobody {
        use std::os::unix::process::CommandExt;
        command.gid(65534).uid(65534);
    }
    let child = command.spawn().unwrap();
    for name in enable {
        let file = tracefs.join(format!("events/user_events/{name}/enable"));
        wait_until(&format!("{} to appear", file.display()), || file.exists());
        std::fs::write(&file, "1").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed:\n{text}");
    text
}

fn disable_and_delete(tracefs: &Path, name: &str) {
    let enable = tracefs.join(format!("events/user_events/{name}/enable"));
    if enable.exists() {
        let _ = std::fs::write(&enable, "0");
    }
    let _ = cotrace::cotrace_kernel::delete(name);
}

#[test]
#[ignore = "needs user_events and root: scripts/test.sh runs it in the VM"]
fn persistent_event_decodes_after_exit() {
    let tracefs = tracefs();
    disable_and_delete(tracefs, "persist_test_kept");
    for event in PRE_EXISTING {
        let _ = dynamic_events(tracefs, &format!("!{event}"));
        dynamic_events(tracefs, event).unwrap();
    }
    std::fs::write(tracefs.join("trace"), "").unwrap();
    let exe = executable_copy();

    let text = run_child(&exe, false, &["persist_test_kept", "persist_test_gone"]);
    assert!(text.contains("CHILD-OK"), "{text}");
    assert!(text.contains("(persistent:"), "status must say so:\n{text}");

    // The child has exited. Once ftrace lets go of them, the plain event is deleted with its
    // format; the persistent one stays.
    for name in ["persist_test_kept", "persist_test_gone"] {
        std::fs::write(
            tracefs.join(format!("events/user_events/{name}/enable")),
            "0",
        )
        .unwrap();
    }
    wait_until("the plain event to go with its process", || {
        !tracefs
            .join("events/user_events/persist_test_gone")
            .exists()
    });
    let trace =
        String::from_utf8_lossy(&std::fs::read(tracefs.join("trace")).unwrap()).into_owned();
    let kept: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("persist_test_kept:"))
        .collect();
    assert_eq!(kept.len(), 1, "{trace}");
    assert!(
        kept[0].contains("s=kept-after-exit") && kept[0].contains("(7)"),
        "{trace}"
    );
    // The plain event's record cannot be decoded any more: what #[persist] is for.
    assert!(trace.contains("Unknown type"), "{trace}");
    assert!(
        tracefs
            .join("events/user_events/persist_test_kept")
            .exists(),
        "the persistent event must outlive the child"
    );
    disable_and_delete(tracefs, "persist_test_kept");
    assert!(
        !tracefs
            .join("events/user_events/persist_test_kept")
            .exists(),
        "deleting the persistent event"
    );

    // As nobody (no CAP_PERFMON) with tracefs opened up: PERSIST is refused (EPERM), the event
    // is registered without it, and status says so.
    let data = tracefs.join("user_events_data");
    let modes = (
        std::fs::metadata(tracefs).unwrap().permissions().mode(),
        std::fs::metadata(&data).unwrap().permissions().mode(),
    );
    std::fs::set_permissions(tracefs, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o666)).unwrap();
    let result = std::panic::catch_unwind(|| run_child(&exe, true, &[]));
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(modes.1)).unwrap();
    std::fs::set_permissions(tracefs, std::fs::Permissions::from_mode(modes.0)).unwrap();
    let _ = std::fs::remove_dir_all(exe.parent().unwrap());
    let text = result.unwrap();
    assert!(text.contains("CHILD-OK"), "{text}");
    assert!(
        text.contains("registered WITHOUT #[persist]") && text.contains("CAP_PERFMON"),
        "{text}"
    );
    wait_until(
        "a non-persistent registration to go with its process",
        || {
            !tracefs
                .join("events/user_events/persist_test_kept")
                .exists()
        },
    );
    for event in PRE_EXISTING {
        dynamic_events(tracefs, &format!("!{event}")).unwrap();
    }
}

/// Not a test on its own: `persistent_event_decodes_after_exit` runs it in a child process.
#[test]
#[ignore = "run by persistent_event_decodes_after_exit in a child process"]
fn child() {
    assert_eq!(
        std::env::var("COTRACE_PERSIST_CHILD").as_deref(),
        Ok("1"),
        "run by persistent_event_decodes_after_exit"
    );
    let status = cotrace::init();
    println!("{status}");
    let find = |name: &str| {
        status
            .events
            .iter()
            .find(|e| e.lttng_name == name)
            .unwrap()
            .clone()
    };
    for name in [
        "persist_test:kept",
        "persist_test:gone",
        "persist_test:multi",
    ] {
        assert_eq!(
            find(name).kernel,
            cotrace::Registration::Registered,
            "{name}"
        );
    }
    // The plain event whose name exists with other fields: refused, with advice the
    // declaration can follow.
    match find("persist_test:taken").kernel {
        cotrace::Registration::Failed(why) => {
            assert!(
                why.contains("EADDRINUSE") && why.contains("#[multi_format]"),
                "{why}"
            )
        }
        other => panic!("persist_test:taken: {other:?}"),
    }
    // MULTI_FORMAT (Linux 6.9+; the VM runs 6.12): the tracepoint has the id suffix.
    let multi = find("persist_test:multi");
    let note = multi.kernel_note.unwrap_or_default();
    assert!(
        note.contains("user_events_multi:persist_test_multi."),
        "{note}"
    );
    let tracefs = cotrace::cotrace_kernel::availability().unwrap();
    let multi_dirs = std::fs::read_dir(tracefs.join("events/user_events_multi"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("persist_test_multi."))
        .count();
    assert_eq!(multi_dirs, 1);

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // The parent enables kept and gone with ftrace.
        wait_until("ftrace to enable the events", || {
            persist_test::kept.is_enabled() && persist_test::gone.is_enabled()
        });
        cotrace::fire!(persist_test::kept(7, "kept-after-exit"));
        cotrace::fire!(persist_test::gone(8));
    }
    println!("CHILD-OK");
}
