//! `fork` hooks: what LTTng-UST's `liblttng-ust-fork.so` preload would do, without a preload.
//!
//! `pthread_atfork` handlers, installed before liblttng-ust is loaded, call its public
//! `lttng_ust_before_fork`, `lttng_ust_after_fork_parent` and `lttng_ust_after_fork_child`
//! (`lttng/ust-fork.h`), so a forked child registers with the session daemon and is traced.
//! In the child, before LTTng's hook runs, every event gives back LTTng's share of its user count
//! (other in-process holders' counts and bit 31 are kept: the kernel copies user_events
//! registrations into the child): the parent's sessions are not
//! the child's, and LTTng then attaches the child's own sessions, counted afresh (in the polling
//! mode by a new reconciler thread: the parent's does not exist in the child).
//!
//! # One caller of LTTng's hooks per fork
//!
//! `lttng_ust_before_fork` takes a plain mutex: a second call in the same thread before the
//! matching `after_fork` deadlocks. Besides cotrace-ust's hooks, it may be called by
//! LTTng-UST's own `fork` wrapper (`LD_PRELOAD=liblttng-ust-fork.so`), by another copy of
//! cotrace-ust in the same process (two semver-incompatible versions in one dependency graph:
//! each has its own statics and its own `pthread_atfork` hooks), or by the application itself.
//!
//! The claim that all of them can see is the one LTTng itself leaves: `lttng_ust_before_fork`
//! blocks every signal in the calling thread, and only its `after_fork` counterpart restores the
//! mask. So the `prepare` hook calls it only if the forking thread does not already have every
//! signal blocked, and remembers (per thread) whether it did; the `parent` and `child` hooks call
//! LTTng's counterparts only after a `prepare` that did. Why this rather than a marker of our own:
//!
//! - it needs no agreement between copies: a copy built from another version, the preload and
//!   an application calling `lttng/ust-fork.h` by hand all leave the same mark, and the mark is
//!   in the forking thread's kernel state, visible to every copy;
//! - an exported symbol, found with `dlsym(RTLD_DEFAULT)`, would not work here: an executable
//!   exports nothing unless linked with `-rdynamic`, and two copies linked into one executable
//!   cannot both define one `#[no_mangle]` name;
//! - it is per thread, as LTTng's lock is: two threads forking at once each claim their own
//!   fork, and LTTng's mutex orders them.
//!
//! The mark can be left without LTTng: a thread that blocked every signal itself before `fork`.
//! cotrace-ust then does not call LTTng's hooks for that fork, and the child is traced as a C
//! application without the preload would be (not re-registered), rather than risking a deadlock.
//!
//! # Fork while liblttng-ust is loading
//!
//! Loading can take LTTng's registration timeout (3 s, `LTTNG_UST_REGISTER_TIMEOUT`) when the
//! session daemon is slow. A fork from another thread meanwhile would copy into the child the
//! locks that liblttng-ust's constructor holds in a thread that does not exist there: the
//! child's `exit` could then wait for ever in liblttng-ust's destructors. So the `prepare` hook
//! waits for the load to finish (sleeping, holding no lock) and the child is an ordinary traced
//! child; and a fork that went ahead just before the load started is waited for by the loading
//! thread before `dlopen`. The wait is bounded by the registration timeout plus 2 s (at most 12 s); past that the
//! fork goes ahead, the child's LTTng side stays off, and [`status()`](crate::status()) says so
//! (such a child should end with `exec` or `_exit`). A fork that another caller of LTTng's fork
//! hooks already claimed (see above), or under [`ForkPolicy::ExecOnly`], does not wait.
//!
//! # Opting out: processes that fork only to `exec`
//!
//! LTTng's child hook re-registers the child with the session daemon, which costs each fork
//! (with `Command::pre_exec`, say) a round trip to it. [`set_fork_policy`] with
//! [`ForkPolicy::ExecOnly`], or `COTRACE_UST_FORK=exec-only` in the environment, skips LTTng's
//! hooks: a child then has its LTTng side off (events count 0, `status()` says why), which is
//! right for a child that calls `exec` or `_exit`.

use core::cell::{Cell, UnsafeCell};
use core::mem::ManuallyDrop;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use cotrace_lttng_sys::sigset_t;

pub use cotrace_fork::{FORK_ENV, ForkPolicy, fork_policy, set_fork_policy};

/// What `prepare` holds across the fork.
type Held = (
    Option<crate::provider::ActiveGuard>,
    Option<cotrace_fork::LockGuard<'static>>,
);

thread_local! {
    // The signal mask LTTng saves in `before_fork` and restores after. Per thread: two threads
    // may fork at once; `prepare` and `parent` run in the forking thread, and the child's only
    // thread is a copy of it.
    static SAVED_SIGSET: UnsafeCell<sigset_t> = const {
        UnsafeCell::new(cotrace_lttng_sys::__BindgenOpaqueArray8([0; 128]))
    };
    // Whether this thread's `prepare` called `lttng_ust_before_fork` for the fork under way.
    static CLAIMED: Cell<bool> = const { Cell::new(false) };
    // The registered providers' and the reconciliation locks, held by `prepare` across the
    // fork and released on both sides after. `ManuallyDrop`: a thread-local with drop glue
    // would register a destructor (taking the dynamic loader's lock) at a thread's first fork.
    static HELD: core::cell::RefCell<ManuallyDrop<Held>> =
        const { core::cell::RefCell::new(ManuallyDrop::new((None, None))) };
}

/// Whether the calling thread has every signal it can block blocked: the state
/// `lttng_ust_before_fork` leaves until its `after_fork` counterpart, whoever called it.
fn every_signal_blocked() -> bool {
    let mut set = core::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: a null new set only queries the mask into `set`.
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, core::ptr::null(), set.as_mut_ptr()) } != 0 {
        // Cannot tell: assume somebody holds LTTng's fork lock (a child not re-registered is
        // better than a deadlock).
        return true;
    }
    // SAFETY: filled by pthread_sigmask.
    let set = unsafe { set.assume_init() };
    blockable_signals()
        // SAFETY: `set` is an initialised sigset_t and `s` a valid signal number.
        .all(|s| unsafe { libc::sigismember(&set, s) } == 1)
}

/// Every signal `sigfillset` + `sigprocmask` can block: not SIGKILL/SIGSTOP, not the C library's
/// internal real-time signals below `SIGRTMIN`.
fn blockable_signals() -> impl Iterator<Item = libc::c_int> {
    let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    (1..=rtmax).filter(move |&s| s != libc::SIGKILL && s != libc::SIGSTOP && (s < 32 || s >= rtmin))
}

/// cotrace-ust's hooks in the process's one fork handler ([`cotrace_fork`]): after the kernel
/// side's in a child (LTTng's hooks re-register with the session daemon last).
static HOOKS: cotrace_fork::Hooks = cotrace_fork::Hooks {
    order: cotrace_fork::Order::Lttng,
    prepare,
    parent,
    child,
};

fn prepare() {
    let claimed_elsewhere = every_signal_blocked();
    // Before taking any lock of ours: the loading thread may need them.
    crate::loader::fork_starting(
        !claimed_elsewhere && fork_policy() == ForkPolicy::TraceChildren,
        load_wait_bound(),
    );
    // Registration takes the names' lock before LTTng's locks, the poller ours before its RCU
    // read side: taken here before `before_fork`, they keep every thread out of liblttng-ust's
    // registration functions at the fork (whose locks LTTng's hooks do not cover). They are
    // `cotrace_fork` locks: were one ever inherited held, a child would take it over.
    let held = (
        crate::provider::lock_for_fork(),
        crate::refcount::lock_poll_for_fork(),
    );
    HELD.with(|h| *h.borrow_mut() = ManuallyDrop::new(held));
    let claim = match crate::loader::loaded() {
        Some(lib) if fork_policy() == ForkPolicy::TraceChildren && !claimed_elsewhere => {
            // SAFETY: the pointer is this thread's own sigset, alive for the thread; LTTng
            // writes the old mask into it and takes its locks until one of the other hooks
            // runs. Nobody else holds LTTng's fork lock in this thread (its mask is not full).
            SAVED_SIGSET.with(|s| unsafe { (lib.api.lttng_ust_before_fork)(s.get()) });
            true
        }
        _ => false,
    };
    CLAIMED.set(claim);
}

/// Releases what `prepare` held (in the parent, or the child's copy in the child).
fn release_held() {
    HELD.with(|h| {
        let held = core::mem::replace(&mut *h.borrow_mut(), ManuallyDrop::new((None, None)));
        let (active, poll) = ManuallyDrop::into_inner(held);
        drop(poll);
        drop(active);
    });
}

fn parent() {
    crate::loader::fork_done_in_parent();
    if CLAIMED.replace(false) {
        if let Some(lib) = crate::loader::loaded() {
            // SAFETY: the same thread's sigset that `prepare` filled.
            SAVED_SIGSET.with(|s| unsafe { (lib.api.lttng_ust_after_fork_parent)(s.get()) });
        }
    }
    release_held();
}

fn child() {
    crate::loader::fork_done_in_child();
    release_held();
    let claimed = CLAIMED.replace(false);
    if crate::loader::forked_while_loading() {
        // liblttng-ust's constructor was running in a thread that does not exist here.
        crate::loader::turn_off_in_child(crate::loader::ChildOff::ForkedWhileLoading);
        return;
    }
    let Some(lib) = crate::loader::loaded() else {
        return;
    };
    crate::refcount::reset_after_fork_child();
    if claimed {
        // SAFETY: the child's copy of the forking thread's sigset that `prepare` filled.
        SAVED_SIGSET.with(|s| unsafe { (lib.api.lttng_ust_after_fork_child)(s.get()) });
    } else if fork_policy() == ForkPolicy::ExecOnly {
        // Nobody ran LTTng's hooks (unless another copy or the application did): its locks may
        // be held by threads that do not exist here. Stay off it.
        crate::loader::turn_off_in_child(crate::loader::ChildOff::ExecOnly);
        return;
    }
    // Not claimed otherwise: whoever called `before_fork` (the preload, another copy, the
    // application) calls `after_fork_child` after this hook returns. A reconciler started now
    // waits on LTTng's RCU registry lock until then.
    crate::refcount::restart_after_fork_child();
}

/// How long a fork waits for a load under way, in milliseconds (set by [`install`]).
static LOAD_WAIT_MS: AtomicU64 = AtomicU64::new(DEFAULT_REGISTER_TIMEOUT_MS + LOAD_WAIT_MARGIN_MS);

/// LTTng-UST's registration timeout when `LTTNG_UST_REGISTER_TIMEOUT` is not set.
const DEFAULT_REGISTER_TIMEOUT_MS: u64 = 3000;
/// Added to the registration timeout: `dlopen`, relocation, starting LTTng's threads.
const LOAD_WAIT_MARGIN_MS: u64 = 2000;
/// A registration timeout of -1 (wait for ever) or above this still lets forks go after it.
const MAX_REGISTER_WAIT_MS: u64 = 10_000;

fn load_wait_bound() -> Duration {
    Duration::from_millis(LOAD_WAIT_MS.load(Ordering::Relaxed))
}

/// How long loading liblttng-ust may take, as LTTng-UST reads `LTTNG_UST_REGISTER_TIMEOUT`
/// (milliseconds; negative: for ever; unparsable: 0), capped, plus a margin.
fn load_wait_ms(register_timeout: Option<&str>) -> u64 {
    let timeout = match register_timeout {
        None => DEFAULT_REGISTER_TIMEOUT_MS,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(ms) if ms < 0 => MAX_REGISTER_WAIT_MS,
            Ok(ms) => (ms as u64).min(MAX_REGISTER_WAIT_MS),
            Err(_) => 0,
        },
    };
    timeout + LOAD_WAIT_MARGIN_MS
}

static INSTALLING: AtomicBool = AtomicBool::new(false);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
static PRELOADED: AtomicBool = AtomicBool::new(false);

/// Installs the handlers, once; called before liblttng-ust is loaded, so that a fork while it
/// loads is seen. Never blocks (a fork during this call leaves a child that simply has none).
pub(crate) fn install() {
    if INSTALLING.swap(true, Ordering::AcqRel) {
        return;
    }
    LOAD_WAIT_MS.store(
        load_wait_ms(std::env::var("LTTNG_UST_REGISTER_TIMEOUT").ok().as_deref()),
        Ordering::Relaxed,
    );
    PRELOADED.store(fork_is_lttng_wrapper(), Ordering::Relaxed);
    let result = cotrace_fork::register(&HOOKS).map_err(|e| e.to_string());
    let _ = INSTALLED.set(result);
}

/// Whether the `fork` this process calls is liblttng-ust-fork.so's wrapper.
fn fork_is_lttng_wrapper() -> bool {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name; dladdr only fills `info`,
    // whose file name (if any) is a NUL-terminated string owned by the loader.
    unsafe {
        let fork = libc::dlsym(libc::RTLD_DEFAULT, c"fork".as_ptr());
        if fork.is_null() {
            return false;
        }
        let mut info: libc::Dl_info = core::mem::zeroed();
        if libc::dladdr(fork, &mut info) == 0 || info.dli_fname.is_null() {
            return false;
        }
        core::ffi::CStr::from_ptr(info.dli_fname)
            .to_bytes()
            .windows(b"liblttng-ust-fork".len())
            .any(|w| w == b"liblttng-ust-fork")
    }
}

/// How a forked child gets traced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForkHandling {
    /// cotrace-ust's `pthread_atfork` hooks call LTTng-UST's fork functions (unless somebody
    /// else already did for that fork: see the [module docs](crate::fork)).
    Hooks,
    /// LTTng-UST's own `fork` wrapper is preloaded and calls LTTng's fork functions;
    /// cotrace-ust's hooks see it and only reset the child's counts (and restart the polling
    /// reconciler in the child).
    LttngForkPreload,
    /// [`ForkPolicy::ExecOnly`]: LTTng's fork functions are not called; a child's LTTng side
    /// is off.
    ExecOnly,
    /// Not handled: a forked child is not traced.
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// How forks are handled, once the hooks were installed.
pub(crate) fn handling() -> Option<ForkHandling> {
    Some(match INSTALLED.get()? {
        Err(reason) => ForkHandling::Unavailable {
            reason: reason.clone(),
        },
        Ok(()) if fork_policy() == ForkPolicy::ExecOnly => ForkHandling::ExecOnly,
        Ok(()) if PRELOADED.load(Ordering::Relaxed) => ForkHandling::LttngForkPreload,
        Ok(()) => ForkHandling::Hooks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_wait_follows_lttng_register_timeout() {
        assert_eq!(load_wait_ms(None), 5000);
        assert_eq!(load_wait_ms(Some("0")), 2000);
        assert_eq!(load_wait_ms(Some("250")), 2250);
        assert_eq!(load_wait_ms(Some("-1")), 12_000);
        assert_eq!(load_wait_ms(Some("3600000")), 12_000);
        assert_eq!(load_wait_ms(Some("soon")), 2000);
    }

    /// The claim test sees a mask filled the way `lttng_ust_before_fork` fills it
    /// (`sigfillset` + `sigprocmask(SIG_BLOCK)`), and not an ordinary one.
    #[test]
    fn full_mask_is_seen_as_claimed() {
        std::thread::spawn(|| {
            assert!(!every_signal_blocked());
            let mut all = core::mem::MaybeUninit::<libc::sigset_t>::uninit();
            let mut old = core::mem::MaybeUninit::<libc::sigset_t>::uninit();
            // SAFETY: fills a local set, blocks it in this (test-owned) thread, restores after.
            unsafe {
                libc::sigfillset(all.as_mut_ptr());
                libc::sigprocmask(libc::SIG_BLOCK, all.as_ptr(), old.as_mut_ptr());
            }
            assert!(every_signal_blocked());
            // SAFETY: restores this thread's mask.
            unsafe {
                libc::sigprocmask(libc::SIG_SETMASK, old.as_ptr(), core::ptr::null_mut());
                let mut one = core::mem::MaybeUninit::<libc::sigset_t>::uninit();
                libc::sigfillset(one.as_mut_ptr());
                libc::sigdelset(one.as_mut_ptr(), libc::SIGUSR1);
                libc::sigprocmask(libc::SIG_BLOCK, one.as_ptr(), core::ptr::null_mut());
            }
            assert!(!every_signal_blocked(), "SIGUSR1 is not blocked");
        })
        .join()
        .unwrap();
    }
}
