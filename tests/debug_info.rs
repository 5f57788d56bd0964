//! LTTng's `ip` context and babeltrace2's debug-info (issue 20): a cotrace event records the
//! address of the line that fired it, as a C tracepoint does, so that `babeltrace2
//! --debug-info` names the user's function and `file.rs:LINE`, not a cotrace-internal one.
//!
//! The traced app is this test binary run as a child ([`debug_info_child`]), against a private
//! `lttng-sessiond` (the harness of cotrace-ust's tests); the session records the statedump's
//! `bin_info` events and the `ip` and `vpid` contexts, which debug-info needs.

#[path = "../ust-side/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cotrace::dynamic::EventBuilder;
use cotrace::{FieldKind, Value};

cotrace::provider! {
    /// Events of this test.
    pub mod dbg_info {
        /// Fired by `fire_declared`.
        fn declared(n: u32, what: &str);
    }
}

const CHILD_ENV: &str = "COTRACE_DEBUG_INFO_CHILD";

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Fires the declared event; returns the line of the `fire!`.
#[inline(never)]
fn fire_declared(n: u32) -> u32 {
    let line = line!() + 1;
    cotrace::fire!(dbg_info::declared(n, "declared"));
    line
}

/// Fires the event defined at run time; returns the line of the `fire` call.
#[inline(never)]
fn fire_defined(event: &'static cotrace::Event, n: u32) -> u32 {
    let line = line!() + 1;
    event.fire(&[Value::U32(n)]).unwrap();
    line
}

/// The value of `key = "..."` inside `text` (babeltrace2's pretty output), if any.
fn quoted<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(&format!("{key} = \""))? + key.len() + 4;
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

/// The lines of `babeltrace2 --debug-info DIR` naming `event`.
fn debug_info_lines(dir: &Path, event: &str) -> Vec<String> {
    common::babeltrace2(&["--debug-info"], dir)
        .lines()
        .filter(|l| l.contains(&format!(" {event}: ")))
        .map(str::to_string)
        .collect()
}

/// `addr2line -f -C -i` of `offset` in `exe`: `(function, file:line)` per frame, the
/// innermost (an inlined function's own line) first, the outermost (where it was inlined) last.
fn addr2line(exe: &Path, offset: &str) -> Vec<(String, String)> {
    let out = Command::new("addr2line")
        .args(["-f", "-C", "-i", "-e"])
        .arg(exe)
        .arg(offset)
        .output()
        .expect("run addr2line (binutils)");
    assert!(out.status.success(), "addr2line failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .map(|pair| {
            let location = pair.get(1).copied().unwrap_or_default();
            // `/path/to/file.rs:42` (maybe followed by ` (discriminator N)`): the file's name.
            let location = location.split(' ').next().unwrap_or_default();
            let name = location.rsplit('/').next().unwrap_or_default();
            (pair[0].to_string(), name.to_string())
        })
        .collect()
}

/// Asserts that `event`'s one record resolves to `function` at this file's `line`: its `ip`
/// is not 0, babeltrace2's debug-info names the line (`src`), and the binary offset it gives
/// is, for addr2line, in `function` at that line (babeltrace2 2.0 reads only the DWARF
/// functions at the top level of a compile unit, and rustc nests them in namespaces: its
/// `func` stays empty for Rust code, cotrace's or not). With `inlined`, the address is in
/// cotrace's `Event::fire`, inlined at that line: babeltrace2 2.0 cannot follow the inlining
/// of Rust functions for the same reason, so only addr2line's outermost frame is checked.
/// Returns the record.
fn assert_resolves(dir: &Path, event: &str, function: &str, line: u32, inlined: bool) -> String {
    let lines = debug_info_lines(dir, event);
    assert_eq!(lines.len(), 1, "one {event} record expected: {lines:#?}");
    let record = lines[0].clone();
    let file = Path::new(file!()).file_name().unwrap().to_str().unwrap();
    let want = format!("{file}:{line}");
    assert!(
        !record.contains("ip = 0,"),
        "{event}: the ip context should be the address of the firing line; record: {record}"
    );
    let src = quoted(&record, "src").unwrap_or_default();
    if inlined {
        // Never cotrace's own file (the inlined `Event::fire`): the line or nothing.
        assert!(
            src.is_empty() || src == want,
            "{event}: babeltrace2's src should be the fire line or empty; record: {record}"
        );
    } else {
        assert_eq!(
            src, want,
            "{event}: babeltrace2's src should be the fire line; record: {record}"
        );
    }
    let bin = quoted(&record, "bin").unwrap_or_default();
    let (name, offset) = bin
        .split_once('+')
        .unwrap_or_else(|| panic!("{event}: no binary offset in debug-info; record: {record}"));
    let exe = std::env::current_exe().unwrap();
    assert_eq!(
        exe.file_name().unwrap().to_str().unwrap(),
        name,
        "{event}: the binary; record: {record}"
    );
    let frames = addr2line(&exe, offset);
    let (func, src) = frames.last().cloned().unwrap_or_default();
    assert!(
        func.ends_with(&format!("::{function}")) && src == want,
        "{event}: addr2line of {bin} should be {function} at {want}: {frames:?}; record: {record}"
    );
    record
}

/// A recording session with the statedump and `ip`/`vpid` contexts; the child fires the
/// declared event with `fire!` and the run-time event with `Event::fire` in functions of this
/// file, and each record resolves to its own line.
#[test]
fn debug_info_resolves_to_the_fire_line() {
    common::isolated("debug_info_resolves_to_the_fire_line", || {
        let mut l = common::Lttng::start("debug-info");
        l.create("s");
        for pattern in ["lttng_ust_statedump:*", "dbg_info:*", "dbg_info_defined:*"] {
            l.lttng(&["enable-event", "--userspace", pattern, "--session=s"]);
        }
        l.lttng(&[
            "add-context",
            "--userspace",
            "--type=ip",
            "--type=vpid",
            "--session=s",
        ]);
        l.lttng(&["start", "s"]);

        let go = l.dir.join("go");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "debug_info_child", "--ignored", "--nocapture"])
            .env(CHILD_ENV, &go)
            .env("LTTNG_HOME", l.home())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut text = String::new();
        let mut line = String::new();
        // The child registered its events; LTTng records them once it lists the child.
        l.wait_registered(&[child.id()]);
        std::fs::write(&go, "").unwrap();
        let lines = loop {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "child ended:\n{text}"
            );
            text.push_str(&line);
            if let Some(rest) = line.strip_prefix("fired ") {
                let n: Vec<u32> = rest
                    .split_whitespace()
                    .map(|w| w.parse().unwrap())
                    .collect();
                break n;
            }
        };
        std::io::Read::read_to_string(&mut out, &mut text).unwrap();
        assert!(child.wait().unwrap().success(), "child failed:\n{text}");
        l.lttng(&["stop", "s"]);

        let dir: PathBuf = l.trace_dir("s");
        let declared = assert_resolves(&dir, "dbg_info:declared", "fire_declared", lines[0], false);
        let defined = assert_resolves(&dir, "dbg_info_defined:ev", "fire_defined", lines[1], true);
        println!("{declared}\n{defined}");
    });
}

/// Not a test on its own: the traced app of `debug_info_resolves_to_the_fire_line`.
#[test]
#[ignore = "run by debug_info_resolves_to_the_fire_line in a child process"]
fn debug_info_child() {
    let go = PathBuf::from(std::env::var_os(CHILD_ENV).expect("run by its parent test"));
    let defined = EventBuilder::new("dbg_info_defined", "ev")
        .field("n", FieldKind::U32)
        .register()
        .unwrap();
    let status = cotrace::init();
    println!("{status}");
    wait_until("the parent's go", || go.exists());
    wait_until("LTTng to enable the events", || {
        dbg_info::declared.is_enabled() && defined.is_enabled()
    });
    let declared_line = fire_declared(1);
    let defined_line = fire_defined(defined, 2);
    println!("fired {declared_line} {defined_line}");
}
