//! `fork` hooks: what LTTng-UST's `liblttng-ust-fork.so` preload would do, without a preload.
//!
//! `pthread_atfork` handlers, installed once when liblttng-ust is loaded, call its public
//! `lttng_ust_before_fork`, `lttng_ust_after_fork_parent` and `lttng_ust_after_fork_child`
//! (`lttng/ust-fork.h`), so a forked child registers with the session daemon and is traced.
//! In the child, before LTTng's hook runs, every event's user count is reset to 0 (bit 31 kept:
//! the kernel copies user_events registrations into the child): the parent's sessions are not
//! the child's, and LTTng then attaches the child's own sessions, counted afresh.

use core::cell::UnsafeCell;

use cotrace_lttng_sys::sigset_t;

thread_local! {
    // The signal mask LTTng saves in `before_fork` and restores after. Per thread: two threads
    // may fork at once; `prepare` and `parent` run in the forking thread, and the child's only
    // thread is a copy of it.
    static SAVED_SIGSET: UnsafeCell<sigset_t> = const {
        UnsafeCell::new(cotrace_lttng_sys::__BindgenOpaqueArray8([0; 128]))
    };
}

unsafe extern "C" fn prepare() {
    crate::refcount::lock_poll();
    if let Some(lib) = crate::loader::loaded() {
        // SAFETY: the pointer is this thread's own sigset, alive for the thread; LTTng writes
        // the old mask into it and takes its locks until one of the other hooks runs.
        SAVED_SIGSET.with(|s| unsafe { (lib.api.lttng_ust_before_fork)(s.get()) });
    }
}

unsafe extern "C" fn parent() {
    if let Some(lib) = crate::loader::loaded() {
        // SAFETY: the same thread's sigset that `prepare` filled.
        SAVED_SIGSET.with(|s| unsafe { (lib.api.lttng_ust_after_fork_parent)(s.get()) });
    }
    crate::refcount::unlock_poll();
}

unsafe extern "C" fn child() {
    crate::refcount::reset_after_fork_child();
    crate::refcount::unlock_poll();
    if let Some(lib) = crate::loader::loaded() {
        // SAFETY: the child's copy of the forking thread's sigset that `prepare` filled.
        SAVED_SIGSET.with(|s| unsafe { (lib.api.lttng_ust_after_fork_child)(s.get()) });
    }
    crate::refcount::restart_after_fork_child();
}

/// Installs the handlers (once; called by the loader after loading the library).
pub(crate) fn install() {
    // SAFETY: the handlers are plain functions that live for the whole process.
    let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    FORK_HOOKS.store(rc == 0, core::sync::atomic::Ordering::Release);
}

static FORK_HOOKS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether the handlers are installed.
pub(crate) fn installed() -> bool {
    FORK_HOOKS.load(core::sync::atomic::Ordering::Acquire)
}
