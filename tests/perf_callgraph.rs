//! `perf record` call graphs of a cotrace event: which unwinding shows the function that fired.
//!
//! A kernel event's record is taken inside the `writev` system call, so a call graph has to
//! unwind the user stack from there back into the application. `perf record -g` follows frame
//! pointers, which release builds of Rust (and C with -O2) omit: the user part of the stack
//! then ends at `[unknown]` right after `writev`. `perf record --call-graph dwarf` copies the
//! top of the user stack with each sample and unwinds it with the binary's DWARF call frame
//! information afterwards: it needs no frame pointers, only the `.eh_frame` every Rust binary
//! has (for the function names, symbols or debug info).
//!
//! The test: the parent creates the event (perf refuses a tracepoint that does not exist
//! yet), runs this binary again (`child`) under `perf record --call-graph dwarf`; the child
//! waits until perf has enabled the event, fires it from `cg_caller_of_fire` and exits; `perf
//! script` must show `cg_caller_of_fire` in the samples' stacks. The same run with `-g` is
//! printed for the record (what it shows depends on how the binary was built).
//!
//! Needs user_events and root: `#[ignore]`d on the host (counted as ignored, never as passed);
//! scripts/test.sh runs it with `--include-ignored` in the user_events VM.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

cotrace::provider! {
    /// The event the child fires.
    pub mod cg_test {
        /// One firing: its sequence number.
        fn hit(n: u32);
    }
}

/// The event as `dynamic_events` creates it: the same format as the provider's, so the
/// child's registration joins it.
const EVENT: &str = "u:cg_test_hit u32 n";
const FIRINGS: u32 = 20;
const TIMEOUT: Duration = Duration::from_secs(120);

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

fn dynamic_events(tracefs: &Path, command: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(tracefs.join("dynamic_events"))?
        .write_all(format!("{command}\n").as_bytes())
}

/// `perf record CALL_GRAPH... -e user_events:cg_test_hit -- <child>`, then `perf script`: its
/// output. Bounded: perf is killed after [`TIMEOUT`].
fn record(call_graph: &[&str]) -> String {
    let data = std::env::temp_dir().join(format!(
        "cotrace-cg-{}-{}.data",
        std::process::id(),
        call_graph.join("")
    ));
    let exe = std::env::current_exe().unwrap();
    let mut perf = Command::new("perf")
        .arg("record")
        .args(call_graph)
        .args(["-e", "user_events:cg_test_hit", "-o"])
        .arg(&data)
        .arg("--")
        .arg(&exe)
        .args(["--exact", "child", "--ignored", "--nocapture"])
        .env("COTRACE_CG_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("perf (package linux-perf)");
    let deadline = Instant::now() + TIMEOUT;
    while perf.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = perf.kill();
            panic!("perf record {call_graph:?} did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = perf.wait_with_output().unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "perf record {call_graph:?}:\n{log}");
    assert!(log.contains("CHILD-OK"), "the child did not fire:\n{log}");
    let script = Command::new("perf")
        .args(["script", "-i"])
        .arg(&data)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&data);
    assert!(script.status.success(), "perf script: {script:?}");
    String::from_utf8_lossy(&script.stdout).into_owned()
}

/// Samples (perf script's blank-line separated blocks) of the event, and how many of them
/// name `function` in their stack.
fn samples_naming(script: &str, function: &str) -> (usize, usize) {
    let samples: Vec<&str> = script
        .split("\n\n")
        .filter(|s| s.contains("cg_test_hit"))
        .collect();
    let naming = samples.iter().filter(|s| s.contains(function)).count();
    (samples.len(), naming)
}

#[test]
#[ignore = "needs user_events, root and perf: scripts/test.sh runs it in the VM"]
fn dwarf_call_graphs_show_the_function_that_fired() {
    let tracefs = tracefs();
    let _ = dynamic_events(tracefs, &format!("!{EVENT}"));
    dynamic_events(tracefs, EVENT).unwrap();

    let dwarf = record(&["--call-graph", "dwarf"]);
    let frame_pointers = record(&["-g"]);
    let _ = dynamic_events(tracefs, &format!("!{EVENT}"));

    let (samples, naming) = samples_naming(&dwarf, "cg_caller_of_fire");
    let (fp_samples, fp_naming) = samples_naming(&frame_pointers, "cg_caller_of_fire");
    eprintln!(
        "--call-graph dwarf: {naming} of {samples} samples name the caller; \
         -g (frame pointers): {fp_naming} of {fp_samples}"
    );
    assert_eq!(samples, FIRINGS as usize, "one sample per firing:\n{dwarf}");
    assert_eq!(
        naming, samples,
        "every dwarf-unwound sample must name the function that fired:\n{dwarf}"
    );
    assert_eq!(fp_samples, FIRINGS as usize, "-g: one sample per firing");
}

/// Fires the event `FIRINGS` times; never inlined, so that a stack names it.
#[inline(never)]
fn cg_caller_of_fire() {
    for n in 0..FIRINGS {
        cotrace::fire!(cg_test::hit(n));
    }
}

/// Not a test on its own: `dwarf_call_graphs_show_the_function_that_fired` runs it under perf.
#[test]
#[ignore = "run by dwarf_call_graphs_show_the_function_that_fired in a child process"]
fn child() {
    assert_eq!(
        std::env::var("COTRACE_CG_CHILD").as_deref(),
        Ok("1"),
        "run by dwarf_call_graphs_show_the_function_that_fired"
    );
    let status = cotrace::init();
    let deadline = Instant::now() + TIMEOUT;
    while !cg_test::hit.is_enabled() {
        assert!(
            Instant::now() < deadline,
            "perf never enabled the event:\n{status}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    cg_caller_of_fire();
    println!("CHILD-OK");
}
