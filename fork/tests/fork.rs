//! The promise, with real forks: a child never waits for a thread of its parent, however long
//! that thread holds a lock; the generation, not the process id, tells the child apart (also
//! when both are pid 1 of their pid namespaces).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cotrace_fork::{Hooks, Lock, Order, Shared, generation, register};

/// How long a child may take (a loaded CI machine is slow, but a hang is for ever).
const CHILD_BOUND: Duration = Duration::from_secs(20);

/// Forks; the child runs `child` and leaves with its code; the parent waits at most
/// [`CHILD_BOUND`] and returns the exit code (`None`: it had to be killed).
fn fork_and_wait(child: impl FnOnce() -> i32) -> Option<i32> {
    // SAFETY: the child runs `child` (atomics, the lock, small allocations) and leaves with
    // _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child();
        // SAFETY: ends the child without the test harness's exit handlers.
        unsafe { libc::_exit(code) };
    }
    wait_within(pid)
}

fn wait_within(pid: libc::pid_t) -> Option<i32> {
    let deadline = Instant::now() + CHILD_BOUND;
    let mut status = 0;
    loop {
        // SAFETY: our own child; `status` is a valid out-pointer.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            assert!(libc::WIFEXITED(status), "child status {status:#x}");
            return Some(libc::WEXITSTATUS(status));
        }
        if Instant::now() > deadline {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // SAFETY: reaps it.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn nothing() {}
static HOOKS: Hooks = Hooks {
    order: Order::Facade,
    prepare: nothing,
    parent: nothing,
    child: nothing,
};

static LOCK: Lock = Lock::new();
static VALUE: Shared<Vec<u32>> = Shared::new();

/// A thread holds both locks, half way through an update, for longer than any bound any
/// earlier design waited (it never lets go while the children run); each child takes them
/// over, sees the last published value, publishes its own and exits.
#[test]
fn a_child_takes_over_locks_held_by_a_parent_thread_for_ever() {
    register(&HOOKS).unwrap();
    {
        let held = VALUE.lock();
        held.publish(vec![1, 2, 3]);
    }
    let (ready, is_ready) = mpsc::channel();
    let release = std::sync::Arc::new(AtomicBool::new(false));
    let holder = {
        let release = release.clone();
        std::thread::spawn(move || {
            let _lock = LOCK.lock();
            let value = VALUE.lock();
            // Half way: the next value is being built, not yet published.
            let mut next = (*value.get()).clone();
            next.push(4);
            ready.send(()).unwrap();
            while !release.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(5));
            }
            value.publish(next);
        })
    };
    is_ready.recv().unwrap();
    let started = Instant::now();
    for i in 0..5u32 {
        let code = fork_and_wait(|| {
            let lock = LOCK.lock();
            if !lock.orphaned() {
                return 2;
            }
            let value = VALUE.lock();
            if *value.get() != [1, 2, 3] {
                return 3;
            }
            let mut next = (*value.get()).clone();
            next.push(10);
            value.publish(next);
            drop(value);
            drop(lock);
            // Free now, and not orphaned any more.
            match (LOCK.try_lock(), *VALUE.load() == [1, 2, 3, 10]) {
                (Some(again), true) if !again.orphaned() => 0,
                _ => 4,
            }
        });
        assert_eq!(
            code,
            Some(0),
            "fork {i}: child exit code (None: did not exit within {CHILD_BOUND:?}; 2: not \
             orphaned; 3: torn value; 4: not released)"
        );
    }
    // The parent's holder still holds both: the children waited for nothing.
    assert!(LOCK.try_lock().is_none());
    println!(
        "5 children in {:?} while a thread held the locks",
        started.elapsed()
    );
    release.store(true, Ordering::Release);
    holder.join().unwrap();
    assert_eq!(*VALUE.load(), [1, 2, 3, 4]);
}

/// An application that is pid 1 of a container forks into a new pid namespace: the child is
/// pid 1 too. It must still take over a lock its parent's thread holds. Needs CAP_SYS_ADMIN
/// (unshare(CLONE_NEWPID)); skipped loudly without it.
#[test]
fn pid_1_forking_into_a_new_pid_namespace_takes_over() {
    register(&HOOKS).unwrap();
    static NS_LOCK: Lock = Lock::new();
    // The "container": a child that is pid 1 of a new namespace.
    let code = fork_and_wait(|| {
        // SAFETY: plain system call; affects this child's later children only.
        if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
            return 100;
        }
        // SAFETY: the grandchild is pid 1 of the new namespace; it runs the closure below.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return 101;
        }
        if pid == 0 {
            // SAFETY: ends the grandchild with the code of the nested test.
            unsafe { libc::_exit(container_app()) };
        }
        wait_within(pid).unwrap_or(102)
    });
    match code {
        Some(100 | 9) => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED pid_1_forking_into_a_new_pid_namespace_takes_over: \
                 unshare(CLONE_NEWPID) refused (needs CAP_SYS_ADMIN; code {code:?})"
            );
        }
        other => assert_eq!(
            other,
            Some(0),
            "1: not pid 1; 2: the child is pid 1 too; 3: not taken over; 4: same generation; \
             101/102: fork or wait failed; None: hung"
        ),
    }

    /// Pid 1 of its namespace: a thread holds the lock; forks into another new namespace.
    fn container_app() -> i32 {
        if std::process::id() != 1 {
            return 1;
        }
        let (ready, is_ready) = mpsc::channel();
        std::thread::spawn(move || {
            let _held = NS_LOCK.lock();
            ready.send(()).unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        is_ready.recv().unwrap();
        let parent_generation = generation();
        // SAFETY: plain system call, for the next child.
        if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
            return 9; // a nested pid namespace refused
        }
        fork_and_wait(move || {
            if std::process::id() != 1 {
                return 2;
            }
            if generation() == parent_generation {
                return 4;
            }
            match NS_LOCK.try_lock() {
                Some(held) if held.orphaned() => 0,
                _ => 3,
            }
        })
        .unwrap_or(102)
    }
}
