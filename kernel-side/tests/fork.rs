//! fork: the kernel copies the registration into the child, so the child's own copy of the word
//! follows enable/disable and its writes land; a child unregistering does not disable the
//! parent (abi_test.c `forks`). One test in its own binary, so no other test thread is running
//! when it forks. Needs user_events: scripts/test-kernel.sh runs it in the VM.

mod common;

use std::time::{Duration, Instant};

use cotrace_kernel::{FieldType, Value, WriteOutcome};
use cotrace_word::EnableWord;

/// In the child: polls `word` until bit 31 is `on`, for at most 10 s. Only atomic loads and
/// nanosleep: safe after fork.
fn child_wait(word: &EnableWord, on: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if word.snapshot().kernel_enabled() == on {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn wait_child(pid: libc::pid_t) -> i32 {
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status),
        "child did not exit normally: {status:#x}"
    );
    libc::WEXITSTATUS(status)
}

fn fork() -> libc::pid_t {
    // SAFETY: the child only runs `child_*` code (atomic loads, sleeps, the allocation-free
    // write path, one ioctl) and leaves with _exit, so it never touches state another thread
    // might have held at the fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    pid
}

fn exit_child(code: i32) -> ! {
    // SAFETY: _exit ends the child without running the parent's atexit handlers or destructors.
    unsafe { libc::_exit(code) }
}

#[test]
fn forked_child_follows_the_kernel_and_its_writes_land() {
    let Some(tracefs) = common::user_events("fork") else {
        return;
    };
    let (name, word, reg) =
        common::register_fresh("fk", &[("n", FieldType::U32), ("who", FieldType::Str)]);

    // 1. The child's copy of the word sees the enable and the disable; its write is recorded.
    let pid = fork();
    if pid == 0 {
        // Force copy-on-write of the word's page first: the kernel must follow the copy.
        drop(word.acquire_user());
        let code = if !child_wait(word, true) {
            10
        } else if reg.write(&[Value::U32(7), Value::Str("child")]) != Ok(WriteOutcome::Written) {
            11
        } else if !child_wait(word, false) {
            12
        } else {
            0
        };
        exit_child(code);
    }
    std::thread::sleep(Duration::from_millis(100));
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    // Only lines written by the child's task count.
    let line = common::wait_trace_line_from(tracefs, &name, pid, &["who=child"]);
    assert!(line.contains("n=0x7 (7)"), "{line}");
    common::set_enabled(tracefs, &name, false);
    common::wait_kernel_bit(word, false);
    let code = wait_child(pid);
    assert_eq!(
        code, 0,
        "child exit code (10: never saw the enable, 11: write failed, 12: never saw the disable)"
    );

    // 2. A child that unregisters its copy does not disable the parent.
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    let pid = fork();
    if pid == 0 {
        exit_child(if reg.unregister().is_ok() { 0 } else { 20 });
    }
    assert_eq!(wait_child(pid), 0, "child's unregister failed");
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        word.snapshot().kernel_enabled(),
        "the parent's bit must stay set"
    );
    assert_eq!(
        reg.write(&[Value::U32(8), Value::Str("parent")]),
        Ok(WriteOutcome::Written)
    );
    common::wait_trace_line(tracefs, &name, &["who=parent"]);
    common::set_enabled(tracefs, &name, false);
    common::wait_kernel_bit(word, false);
}
