//! A `fork` while another thread is inside `cotrace::init()` (loading liblttng-ust can take
//! LTTng's 3 s registration timeout): a fork while liblttng-ust loads waits for the load (see
//! `cotrace_ust::fork`), and the child's `init()`, `status()` and defining an event at run time
//! return instead of waiting for ever for a thread that does not exist in the child (the
//! registry's lock may be held by the parent's initializing thread at the fork), and the child
//! registers every event that thread had not: no event of a child says "init() not called".

#[path = "../ust-side/tests/common/mod.rs"]
mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{fake_sessiond, isolated_within, load_in_background};

cotrace::provider! {
    /// Events of this test.
    pub mod fork_init_test {
        /// One.
        fn ping(n: u32);
    }
}

/// In the child: `init()`, `status()` and defining an event return, and every event is
/// registered with each tracer or says why not (never "init() not called": the child takes the
/// registry over from its parent's initializing thread and finishes the registration); then
/// `exit`, which runs the exit handlers and liblttng-ust's destructors, or, for a process that
/// forks only to `exec` (`ForkPolicy::ExecOnly`, whose forks do not wait for liblttng-ust's
/// load), `_exit`: its child may hold a copy of the locks of liblttng-ust's half-run
/// constructor, which its destructors would wait for (see `cotrace_ust::fork`).
fn child(exit: bool) -> ! {
    let code = child_checks();
    if exit {
        // The C library's exit, not `std::process::exit`, whose Rust runtime cleanup can wait
        // for ever for a std lock another thread held at the fork (see ust-side/tests/fork.rs,
        // `child_traced_then_exit`).
        // SAFETY: ends this forked child; runs the C exit handlers and destructors only.
        unsafe { libc::exit(code) }
    }
    // SAFETY: ends the child without exit handlers.
    unsafe { libc::_exit(code) }
}

/// Whether `status` says the event `name` was handled by every tracer: registered, or failed
/// with a reason (a missing tracer), never "init() not called".
fn handled(status: &cotrace::Status, name: &str) -> bool {
    status.events.iter().any(|e| {
        e.lttng_name == name
            && e.kernel != cotrace::Registration::NotInitialized
            && e.lttng != cotrace::Registration::NotInitialized
    })
}

fn child_checks() -> i32 {
    let status = cotrace::init();
    let again = cotrace::status();
    if status.to_string().is_empty() || again.to_string().is_empty() {
        return 4;
    }
    if !handled(&status, "fork_init_test:ping") {
        return 6;
    }
    let defined = cotrace::dynamic::EventBuilder::new("fork_init_child", "defined")
        .field("n", cotrace::FieldKind::U32)
        .register();
    match defined {
        Ok(event) if cotrace::events().any(|e| core::ptr::eq(e, event)) => {}
        _ => return 5,
    }
    if !handled(&cotrace::status(), "fork_init_child:defined") {
        return 7;
    }
    0
}

/// Forks one child running [`child`] (ending with `exit` or `_exit`); its exit code (panics if it does not exit within 10 s).
fn fork_one(exit: bool) -> i32 {
    // SAFETY: the child runs `child`, which ends with `exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        child(exit);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = 0;
    loop {
        // SAFETY: our own child; `status` is a valid out-pointer.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            assert!(libc::WIFEXITED(status), "child status {status:#x}");
            return libc::WEXITSTATUS(status);
        }
        if Instant::now() > deadline {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the child did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn fork_during_init_child_init_returns() {
    isolated_within(
        "fork_during_init_child_init_returns",
        Duration::from_secs(60),
        || forks_during_init("rootforkinit", true),
    );
}

/// Under `ForkPolicy::ExecOnly` a fork does not wait for liblttng-ust's load: the children are
/// forked while the parent's thread is inside `init()`, holding the registry (the load waits
/// for the session daemon's reply, up to LTTng's 3 s registration timeout). Each child takes
/// the registry over and registers every event (its LTTng side is off, and says so).
#[test]
fn fork_during_init_exec_only_child_registers() {
    isolated_within(
        "fork_during_init_exec_only_child_registers",
        Duration::from_secs(60),
        || {
            cotrace::cotrace_ust::set_fork_policy(cotrace::cotrace_ust::ForkPolicy::ExecOnly);
            forks_during_init("rootforkinitexec", false);
        },
    );
}

/// Forks children (ending with `exit` or `_exit`) for as long as `init()` runs in another
/// thread, against a session daemon that never answers; every child must pass [`child`].
fn forks_during_init(sessiond: &str, exit: bool) {
    fake_sessiond(sessiond);
    let (initializer, done) = load_in_background(cotrace::init);
    let mut during = 0;
    let mut failed = Vec::new();
    while !done.load(Ordering::SeqCst) {
        let code = fork_one(exit);
        if code != 0 {
            failed.push(code);
        }
        during += 1;
    }
    let status = initializer.join().unwrap();
    println!("{during} forks during init(); parent: {status}");
    assert!(during >= 1, "no fork during init()");
    assert!(
        failed.is_empty(),
        "{} of {during} children failed (first exit codes {:?}; 6: an event was left \
         \"init() not called\"; 7: a defined event not registered)",
        failed.len(),
        &failed[..failed.len().min(10)]
    );
}
