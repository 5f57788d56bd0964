//! The coexistence matrix: the `shop` example (two request threads and a forked worker,
//! instrumented with `cotrace::provider!`) run with its events enabled by neither tracer, by
//! LTTng only, by the kernel only, and by both at once. Each row checks that every tracer that
//! enabled the events recorded exactly the events the app fired, with the same values, and that
//! a tracer that did not enable them recorded nothing.
//!
//! LTTng rows run against a private `lttng-sessiond` (the harness of cotrace-ust's tests, in a
//! private mount namespace). Kernel rows need user_events: `scripts/test-kernel.sh` runs this
//! file inside the 6.12 VM with `COTRACE_REQUIRE_USER_EVENTS=1`, where a missing user_events
//! fails; on a host without it they print why they are skipped.

#[path = "../ust-side/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{Lttng, isolated};

const EVENTS: [&str; 4] = ["request_start", "request_done", "cache_miss", "job_done"];
const TRACEFS: &str = "/sys/kernel/tracing";

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

fn user_events_here() -> bool {
    Path::new(TRACEFS).join("user_events_data").exists()
        && cotrace::cotrace_kernel::availability().is_ok()
}

/// False (with the reason printed) when a kernel row cannot run here; panics where user_events
/// is required (inside the VM).
fn kernel_rows_can_run(row: &str) -> bool {
    if user_events_here() {
        return true;
    }
    let why = match cotrace::cotrace_kernel::availability() {
        Err(e) => e.to_string(),
        Ok(_) => "user_events_data missing".into(),
    };
    assert!(
        std::env::var_os("COTRACE_REQUIRE_USER_EVENTS").is_none(),
        "{row}: user_events required here but unavailable: {why}"
    );
    eprintln!(
        "SKIPPED {row}: no user_events in this kernel ({why}); scripts/test-kernel.sh runs it in the VM"
    );
    false
}

fn set_ftrace(enable: bool) {
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
        set_ftrace(true);
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
            set_ftrace(false);
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
        let listed = l.lttng(&["list", "--userspace"]);
        let status = std::fs::read_to_string(Path::new(TRACEFS).join("user_events_status"))
            .unwrap_or_default();
        let missing: Vec<&str> = EVENTS
            .iter()
            .copied()
            .filter(|ev| {
                !listed.contains(&format!("shop:{ev} "))
                    || !status
                        .lines()
                        .any(|line| line.split_whitespace().next() == Some(&format!("shop_{ev}")))
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{row}: not listed before firing: {missing:?}\nlttng list -u:\n{listed}\nuser_events_status:\n{status}"
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
            Some(next) if next.starts_with('(') => next.trim_matches(&['(', ')'][..]).to_string(),
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
fn row_neither_tracer() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    isolated("row_neither_tracer", || {
        let run = run_shop("neither", false, false);
        check_counts("neither", &run, false, false);
        assert!(
            run.app_output.contains("kernel off, 0 user tracers"),
            "{}",
            run.app_output
        );
    });
}

#[test]
fn row_lttng_only() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    isolated("row_lttng_only", || {
        let run = run_shop("lttng_only", false, true);
        check_counts("lttng_only", &run, false, true);
        let done = run
            .lttng
            .iter()
            .find(|e| e.name == "shop:request_done")
            .unwrap();
        assert_eq!(done.order, ["worker", "id", "status", "path", "latency_ns"]);
    });
}

#[test]
fn row_kernel_only() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !kernel_rows_can_run("row_kernel_only") {
        return;
    }
    isolated("row_kernel_only", || {
        let run = run_shop("kernel_only", true, false);
        check_counts("kernel_only", &run, true, false);
    });
}

#[test]
fn row_both_tracers_same_values() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !kernel_rows_can_run("row_both_tracers_same_values") {
        return;
    }
    isolated("row_both_tracers_same_values", || {
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
fn status_names_each_tracer_and_event() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // The shop's own status print, from a run with no tracer: every event listed with both
    // names, and each tracer's availability explained.
    isolated("status_names_each_tracer_and_event", || {
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
