//! `fork` never hangs the parent or the child.
//!
//! - Exactly one caller runs LTTng-UST's fork hooks per `fork`, whoever installed them:
//!   `lttng_ust_before_fork` takes a plain mutex, and a second call in the same thread before
//!   the matching `after_fork` deadlocks.
//! - A fork while another thread is still loading liblttng-ust (which can take LTTng's
//!   registration timeout, 3 s) waits for the load, and its child is traced and can `exit`.
//!
//! Each test forks in a loop in an isolated run that is killed (and the test failed) if it does
//! not finish in time.

mod common;

use std::time::{Duration, Instant};

use common::{fake_sessiond, fork_n, isolated_within, load_in_background};

/// Generous: 100 forks take well under a second on x86_64; a fork that re-registers against
/// the silent daemon takes LTTng's 3 s timeout, and much longer under TCG on a loaded machine
/// (and `fork_n` waits 40 s before calling a child hung).
const LIMIT: Duration = Duration::from_secs(120);

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
/// timeout by a fake session daemon that accepts and never answers). The fork waits for the
/// load to finish, so its child is an ordinary traced child: its `status()` says liblttng-ust is
/// loaded, and it ends with `exit`, which runs liblttng-ust's destructors there.
///
/// Before that wait, such a child had its LTTng side off, and in about one run in five here its
/// `exit` waited for ever in liblttng-ust's destructor (`lttng_ust_probe_unregister` taking a
/// mutex that the parent's constructor thread held at the fork).
#[test]
fn fork_while_loading_waits_for_the_load_and_the_child_exits() {
    isolated_within(
        "fork_while_loading_waits_for_the_load_and_the_child_exits",
        LIMIT,
        || {
            use std::sync::atomic::Ordering;
            fake_sessiond("forkload");
            let start = Instant::now();
            let (loader, done) = load_in_background(|| {
                let start = Instant::now();
                (cotrace_ust::status(), start.elapsed())
            });
            // liblttng-ust is loading (with the silent daemon, its constructor waits 3 s).
            let mut during = 0;
            let mut first_fork_returned_after_load = None;
            while !done.load(Ordering::SeqCst) {
                fork_n(1, || {}, || {}, child_traced_then_exit);
                during += 1;
                first_fork_returned_after_load.get_or_insert(done.load(Ordering::SeqCst));
            }
            let forks_took = start.elapsed();
            let (status, took) = loader.join().unwrap();
            println!(
                "loading took {took:?}; {during} fork(s) started meanwhile, which returned (child \
                 re-registered and exited) {forks_took:?} after the load started; \
                 parent: {status}"
            );
            assert!(
                took > Duration::from_secs(1),
                "loading was not slowed down by the fake session daemon: {took:?}"
            );
            assert!(during >= 1, "no fork while loading");
            assert_eq!(
                first_fork_returned_after_load,
                Some(true),
                "a fork started while liblttng-ust loaded returned before the load finished"
            );
            assert!(status.to_string().contains("LTTng-UST: loaded"), "{status}");
            // And after loading, forks still work (the child re-registers: up to 3 s here).
            fork_n(1, || {}, || {}, child_traced_then_exit);
        },
    );
}

/// In the child: `status()` must say liblttng-ust is loaded (the child is traced, not turned
/// off); then the C library's `exit`, with the exit handlers and liblttng-ust's destructors.
/// Not `std::process::exit`: Rust's runtime cleanup, which it runs first, takes std's own
/// locks, and a child forked while another thread held one (the loading thread ending, say)
/// waits for it for ever. Seen in the 64K arm64 guest under load (1 round in about 20): the
/// child's only thread in `futex(FUTEX_WAIT_BITSET_PRIVATE, 2)` under
/// `Once::call_once::<std::rt::cleanup>` called from `std::process::exit`.
fn child_traced_then_exit() -> i32 {
    let status = cotrace_ust::status().to_string();
    if !status.contains("LTTng-UST: loaded") {
        eprintln!("child: {status}");
    }
    let code = if status.contains("LTTng-UST: loaded") {
        0
    } else {
        4
    };
    // SAFETY: ends this forked child; runs the C exit handlers and destructors only.
    unsafe { libc::exit(code) }
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
        let traced = fork_timed(child_traced_then_exit);
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

/// A fork while another thread registers providers: every child registers a provider of its
/// own and exits within the bound (the provider registry's lock, held by the parent's
/// registering thread across liblttng-ust's probe registration, must not stay held in the
/// child).
#[test]
fn a_child_forked_while_another_thread_registers_can_register() {
    isolated_within(
        "a_child_forked_while_another_thread_registers_can_register",
        LIMIT,
        || {
            use cotrace_ust::{EventSpec, FieldSpec, FieldType, Loglevel};
            use std::sync::Arc;
            use std::sync::atomic::{AtomicBool, Ordering};
            fn leaked_spec(provider: &'static str, event: String) -> &'static EventSpec {
                Box::leak(Box::new(EventSpec {
                    provider,
                    event: Box::leak(event.into_boxed_str()),
                    loglevel: Loglevel::Info,
                    fields: &[FieldSpec {
                        name: "n",
                        ty: FieldType::U32,
                    }],
                    word: Box::leak(Box::new(cotrace_word::EnableWord::new())),
                }))
            }
            assert!(
                cotrace_ust::status()
                    .to_string()
                    .contains("LTTng-UST: loaded")
            );
            let stop = Arc::new(AtomicBool::new(false));
            let registering = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut n = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let spec = leaked_spec("fork_reg_parent", format!("e{n}"));
                        // Registered and unregistered at once.
                        drop(cotrace_ust::register_provider_part(
                            "fork_reg_parent",
                            &[spec],
                        ));
                        n += 1;
                    }
                    n
                })
            };
            static CHILD_SPEC: std::sync::OnceLock<&'static EventSpec> = std::sync::OnceLock::new();
            CHILD_SPEC.get_or_init(|| leaked_spec("fork_reg_child", "e".into()));
            fn child() -> i32 {
                let spec = *CHILD_SPEC.get().unwrap();
                match cotrace_ust::register_provider("fork_reg_child", &[spec]) {
                    Ok(_) => 0,
                    Err(_) => 3,
                }
            }
            fork_n(40, || {}, || {}, child);
            stop.store(true, Ordering::Relaxed);
            let n = registering.join().unwrap();
            println!("40 forks while the other thread registered {n} providers");
        },
    );
}
