//! `fork` never hangs the parent or the child.
//!
//! - Exactly one caller runs LTTng-UST's fork hooks per `fork`, whoever installed them:
//!   `lttng_ust_before_fork` takes a plain mutex, and a second call in the same thread before
//!   the matching `after_fork` deadlocks.
//! - A fork while another thread is still loading liblttng-ust (which can take LTTng's
//!   registration timeout, 3 s) leaves a child whose `status()` answers.
//!
//! Each test forks in a loop in an isolated run that is killed (and the test failed) if it does
//! not finish in time.

mod common;

use std::time::{Duration, Instant};

use common::{fake_sessiond, fork_n, isolated_within};

/// Generous: 100 forks take well under a second here.
const LIMIT: Duration = Duration::from_secs(60);

fn both_loaded() {
    let first = cotrace_ust::status();
    let second = cotrace_ust_second_copy::status();
    println!("first copy: {first}\nsecond copy: {second}");
    assert!(first.to_string().contains("LTTng-UST: loaded"), "{first}");
    assert!(second.to_string().contains("LTTng-UST: loaded"), "{second}");
    // The second copy finds the first one's wrapper in liblttng-ust's GOT slots: it does not
    // hook the hook, and polls.
    if cfg!(target_arch = "x86_64") {
        assert!(first.to_string().contains("refcount: exact"), "{first}");
        assert!(
            second.to_string().contains("refcount: polling")
                && second.to_string().contains("not patching"),
            "{second}"
        );
    }
}

fn child_status() -> i32 {
    let ok = cotrace_ust::status().to_string().contains("LTTng-UST")
        && cotrace_ust_second_copy::status()
            .to_string()
            .contains("LTTng-UST");
    if ok { 0 } else { 4 }
}

/// Two independent copies of cotrace-ust (the same sources under two crate names), both loaded,
/// both with fork hooks: 100 forks, no hang.
#[test]
fn two_copies_fork_100_times() {
    isolated_within("two_copies_fork_100_times", LIMIT, || {
        both_loaded();
        fork_n(100, || {}, || {}, child_status);
        println!("forked 100 times");
    });
}

type ForkHook = unsafe extern "C" fn(*mut libc::sigset_t);

fn lttng_fork_hook(name: &core::ffi::CStr) -> ForkHook {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name; liblttng-ust was loaded with
    // RTLD_GLOBAL by cotrace-ust (checked by `both_loaded`).
    let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    assert!(!f.is_null(), "{name:?} not found");
    // SAFETY: the three `lttng/ust-fork.h` functions take a `sigset_t *`.
    unsafe { core::mem::transmute::<*mut libc::c_void, ForkHook>(f) }
}

/// An application that calls LTTng's fork hooks itself around `fork` (as `lttng/ust-fork.h`
/// tells it to), with two copies of cotrace-ust loaded: 100 forks, no hang.
#[test]
fn app_calling_lttng_fork_hooks_itself() {
    isolated_within("app_calling_lttng_fork_hooks_itself", LIMIT, || {
        both_loaded();
        let before = lttng_fork_hook(c"lttng_ust_before_fork");
        let parent = lttng_fork_hook(c"lttng_ust_after_fork_parent");
        static mut SAVED: core::mem::MaybeUninit<libc::sigset_t> = core::mem::MaybeUninit::uninit();
        fn child() -> i32 {
            let f = lttng_fork_hook(c"lttng_ust_after_fork_child");
            // SAFETY: the child's copy of the sigset the parent's `before_fork` filled.
            unsafe { f(core::ptr::addr_of_mut!(SAVED).cast()) };
            child_status()
        }
        fork_n(
            100,
            // SAFETY: LTTng writes the old signal mask into SAVED (used by this thread only).
            || unsafe { before(core::ptr::addr_of_mut!(SAVED).cast()) },
            // SAFETY: the sigset `before_fork` filled.
            || unsafe { parent(core::ptr::addr_of_mut!(SAVED).cast()) },
            child,
        );
        println!("forked 100 times");
    });
}

/// A fork while another thread loads liblttng-ust (slowed down to LTTng's 3 s registration
/// timeout by a fake session daemon that accepts and never answers): every child's `status()`
/// returns and the child exits (with `_exit`: see `fork_while_loading_child_exit_returns`).
#[test]
fn fork_while_loading_child_status_returns() {
    fork_while_loading(
        "fork_while_loading_child_status_returns",
        child_status_first_copy_quick_exit,
    );
}

/// The same with `exit` in the child, which runs liblttng-ust's destructor there. OPEN: a
/// child forked while liblttng-ust's constructor runs in the parent can wait for ever in that
/// destructor (seen in about a third of runs here; with `_exit` never in 10 runs), which
/// cotrace cannot stop from running. Not run by default until that is fixed.
#[test]
#[ignore = "open defect: a child forked during liblttng-ust's constructor can hang in exit()"]
fn fork_while_loading_child_exit_returns() {
    fork_while_loading(
        "fork_while_loading_child_exit_returns",
        child_status_first_copy,
    );
}

fn fork_while_loading(name: &str, in_child: fn() -> i32) {
    isolated_within(name, LIMIT, || {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let connected = fake_sessiond("forkload");
        let done = Arc::new(AtomicBool::new(false));
        let loader = {
            let done = done.clone();
            std::thread::spawn(move || {
                let status = cotrace_ust::status();
                done.store(true, Ordering::SeqCst);
                status
            })
        };
        let start = Instant::now();
        while !connected.load(Ordering::SeqCst) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "liblttng-ust never connected"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut during = 0;
        while !done.load(Ordering::SeqCst) {
            fork_n(1, || {}, || {}, in_child);
            during += 1;
        }
        let took = start.elapsed();
        let status = loader.join().unwrap();
        println!("loading took {took:?}, {during} forks meanwhile; parent: {status}");
        assert!(
            took > Duration::from_secs(1),
            "loading was not slowed down by the fake session daemon: {took:?}"
        );
        // A fork can wait while the loader holds a lock of the C library (seen: none at all
        // in one run of ten); one fork inside the window is the case under test.
        assert!(during >= 1, "no fork while loading");
        assert!(status.to_string().contains("LTTng-UST: loaded"), "{status}");
        // And after loading, forks still work (the child re-registers: up to 3 s here).
        fork_n(1, || {}, || {}, in_child);
    });
}

/// Also runs the exit handlers and liblttng-ust's destructor in the child (`exit`, not `_exit`).
fn child_status_first_copy() -> i32 {
    let status = cotrace_ust::status();
    std::process::exit(if status.to_string().contains("LTTng-UST") {
        0
    } else {
        4
    })
}

/// `child_status_first_copy` ending with `_exit`: no exit handlers or destructors.
fn child_status_first_copy_quick_exit() -> i32 {
    let status = cotrace_ust::status();
    let code = if status.to_string().contains("LTTng-UST") {
        0
    } else {
        4
    };
    // SAFETY: ends the child without the exit handlers (liblttng-ust's destructor included).
    unsafe { libc::_exit(code) }
}

fn fork_timed(in_child: fn() -> i32) -> Duration {
    let start = Instant::now();
    fork_n(1, || {}, || {}, in_child);
    start.elapsed()
}

/// `COTRACE_UST_FORK=exec-only` (and `set_fork_policy`): a child does not wait for the session
/// daemon (LTTng's child hook is skipped) and its LTTng side says it is off; switching back to
/// `TraceChildren` makes the child re-register again (3 s against the silent daemon).
#[test]
fn exec_only_policy_skips_lttng_in_the_child() {
    isolated_within("exec_only_policy_skips_lttng_in_the_child", LIMIT, || {
        use cotrace_ust::{ForkPolicy, fork_policy, set_fork_policy};
        fake_sessiond("execonly");
        // SAFETY: single-threaded so far but for the listener threads, which do not read the
        // environment.
        unsafe { std::env::set_var("COTRACE_UST_FORK", "exec-only") };
        let status = cotrace_ust::status();
        assert!(status.to_string().contains("fork: exec-only"), "{status}");
        assert_eq!(fork_policy(), ForkPolicy::ExecOnly);
        fn child_off() -> i32 {
            let s = cotrace_ust::status().to_string();
            if s.contains("LTTng-UST: unavailable") && s.contains("ExecOnly") {
                0
            } else {
                5
            }
        }
        let quick = fork_timed(child_off);
        assert!(
            quick < Duration::from_secs(1),
            "exec-only fork took {quick:?}"
        );
        set_fork_policy(ForkPolicy::TraceChildren);
        let traced = fork_timed(child_status_first_copy);
        println!("exec-only fork: {quick:?}; traced fork: {traced:?}");
        assert!(
            traced > Duration::from_secs(2),
            "LTTng's child hook did not run: {traced:?}"
        );
    });
}

/// A copy of cotrace-ust in the polling mode whose reconciler thread has just started, while
/// the application holds LTTng's fork lock (it called `lttng_ust_before_fork`): the reconciler's
/// first RCU read-side lock waits for LTTng's RCU registry lock, which `before_fork` holds, so it
/// must not hold the lock our `prepare` hook takes meanwhile.
#[test]
fn app_fork_hooks_while_a_new_poller_starts() {
    isolated_within("app_fork_hooks_while_a_new_poller_starts", LIMIT, || {
        use cotrace_ust_second_copy::{EventSpec, FieldSpec, FieldType, Loglevel};
        static WORD: cotrace_word::EnableWord = cotrace_word::EnableWord::new();
        static EV: EventSpec = EventSpec {
            provider: "cotrace_fork_poll",
            event: "ev",
            loglevel: Loglevel::Info,
            fields: &[FieldSpec {
                name: "n",
                ty: FieldType::U32,
            }],
            word: &WORD,
        };
        both_loaded();
        let before = lttng_fork_hook(c"lttng_ust_before_fork");
        let parent = lttng_fork_hook(c"lttng_ust_after_fork_parent");
        static mut SAVED: core::mem::MaybeUninit<libc::sigset_t> = core::mem::MaybeUninit::uninit();
        fn child() -> i32 {
            let f = lttng_fork_hook(c"lttng_ust_after_fork_child");
            // SAFETY: the child's copy of the sigset the parent's `before_fork` filled.
            unsafe { f(core::ptr::addr_of_mut!(SAVED).cast()) };
            0
        }
        // Starts the second copy's reconciler thread.
        let provider = cotrace_ust_second_copy::register_provider("cotrace_fork_poll", &[&EV])
            .expect("register");
        fork_n(
            1,
            || {
                // SAFETY: LTTng writes the old signal mask into SAVED (this thread only).
                unsafe { before(core::ptr::addr_of_mut!(SAVED).cast()) };
                // Let the new reconciler reach LTTng's RCU registry lock.
                std::thread::sleep(Duration::from_millis(100));
            },
            // SAFETY: the sigset `before_fork` filled.
            || unsafe { parent(core::ptr::addr_of_mut!(SAVED).cast()) },
            child,
        );
        drop(provider);
        println!("forked");
    });
}
