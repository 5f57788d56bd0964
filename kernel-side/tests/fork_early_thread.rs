//! A child forked from a thread started before the process's first registration.
//!
//! Linux copies enablers into a child only from the forking thread's `user_event_mm`
//! (`user_events_fork`: `if (!current->user_event_mm) return;`); a thread started before the
//! first registration has none. Its child must still follow ftrace: its words set and cleared
//! by the kernel, its records written. Under `ForkPolicy::ExecOnly` the child re-registers
//! nothing, and `after_fork` says so. Its own binary: the early thread must be the first
//! thread this test starts, before anything registers. Needs user_events:
//! scripts/test-kernel.sh runs it in the VM.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use cotrace_fork::{ForkPolicy, set_fork_policy};
use cotrace_kernel::{FieldType, Value, WriteOutcome};
use cotrace_word::EnableWord;

/// How long the child waits for the parent to switch ftrace (TCG is slow and CI loaded).
const CHILD_WAIT: Duration = Duration::from_secs(30);

/// Waits in the child for bit 31 of `word` to become `on`.
fn child_wait_bit(word: &EnableWord, on: bool) -> bool {
    let deadline = Instant::now() + CHILD_WAIT;
    while word.snapshot().kernel_enabled() != on {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

/// Waits for `pid` to exit (killing it past the bound): its exit code, `None` if killed.
fn wait_child(pid: libc::pid_t) -> Option<i32> {
    let deadline = Instant::now() + CHILD_WAIT + Duration::from_secs(30);
    let mut status = 0;
    loop {
        // SAFETY: our own child; `status` is a valid out-pointer.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        }
        if Instant::now() > deadline {
            // SAFETY: our own child, then reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_child_forked_from_a_thread_started_before_the_first_registration_follows_ftrace() {
    // Started before anything registers: this thread has no enabler group.
    let (fork_now, requests) = mpsc::channel::<Box<dyn FnOnce() -> libc::pid_t + Send>>();
    let (forked, pids) = mpsc::channel::<libc::pid_t>();
    let early = std::thread::spawn(move || {
        for fork in requests {
            forked.send(fork()).unwrap();
        }
    });
    let Some(tracefs) = common::user_events("fork_early") else {
        return;
    };
    let (name, word, reg) = common::register_fresh("fork_early", &[("n", FieldType::U32)]);
    let reg: &'static cotrace_kernel::Registration = Box::leak(Box::new(reg));
    assert!(!word.snapshot().kernel_enabled());

    // 1. Traced children: the child's word follows ftrace and its record arrives.
    let child = move || -> libc::pid_t {
        // SAFETY: the child waits on its own word, writes one record and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = if !child_wait_bit(word, true) {
                2
            } else if reg.write(&[Value::U32(4242)]) != Ok(WriteOutcome::Written) {
                3
            } else if !child_wait_bit(word, false) {
                4
            } else {
                match cotrace_kernel::after_fork() {
                    Some(after) if after.words >= 1 && !after.exec_only => 0,
                    _ => 5,
                }
            };
            // SAFETY: ends the child without the harness's exit handlers.
            unsafe { libc::_exit(code) };
        }
        pid
    };
    fork_now.send(Box::new(child)).unwrap();
    let pid = pids.recv().unwrap();
    assert!(pid > 0, "fork failed");
    common::set_enabled(tracefs, &name, true);
    let line = common::wait_trace_line_from(tracefs, &name, pid, &["(4242)"]);
    println!("the child's record: {line}");
    common::set_enabled(tracefs, &name, false);
    assert_eq!(
        wait_child(pid),
        Some(0),
        "child exit code (2: bit 31 never set in the child; 3: write refused; 4: never \
         cleared; 5: after_fork; None: killed)"
    );

    // 2. ExecOnly: nothing is registered again, and after_fork says so.
    set_fork_policy(ForkPolicy::ExecOnly);
    let child = move || -> libc::pid_t {
        // SAFETY: the child reads a status and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = match cotrace_kernel::after_fork() {
                Some(after) if after.exec_only && after.to_string().contains("ExecOnly") => 0,
                _ => 6,
            };
            // SAFETY: ends the child without the harness's exit handlers.
            unsafe { libc::_exit(code) };
        }
        pid
    };
    fork_now.send(Box::new(child)).unwrap();
    let pid = pids.recv().unwrap();
    set_fork_policy(ForkPolicy::TraceChildren);
    assert_eq!(wait_child(pid), Some(0), "ExecOnly child: after_fork");
    drop(fork_now);
    early.join().unwrap();
}
