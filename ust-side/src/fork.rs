//! `fork` hooks: what LTTng-UST's `liblttng-ust-fork.so` preload would do, without a preload.
//!
//! `pthread_atfork` handlers, installed once when liblttng-ust is loaded, call its public
//! `lttng_ust_before_fork`, `lttng_ust_after_fork_parent` and `lttng_ust_after_fork_child`
//! (`lttng/ust-fork.h`), so a forked child registers with the session daemon and is traced.
//! In the child, before LTTng's hook runs, every event's user count is reset to 0 (bit 31 kept:
//! the kernel copies user_events registrations into the child): the parent's sessions are not
//! the child's, and LTTng then attaches the child's own sessions, counted afresh.
//!
//! If LTTng-UST's `fork` wrapper is preloaded (`LD_PRELOAD=liblttng-ust-fork.so`), it already
//! calls those functions around `fork`; calling them a second time from the hooks would
//! deadlock on LTTng's lock, so the hooks are then not installed ([`ForkHandling`]).

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

/// Installs the handlers (once; called by the loader after loading the library), unless
/// LTTng-UST's own `fork` wrapper (`LD_PRELOAD=liblttng-ust-fork.so`) is in the process: it
/// already calls the same hooks around `fork`, and calling them twice would deadlock on
/// LTTng's lock.
pub(crate) fn install() {
    let handling = if fork_is_lttng_wrapper() {
        ForkHandling::LttngForkPreload
    } else {
        // SAFETY: the handlers are plain functions that live for the whole process.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        if rc == 0 {
            ForkHandling::Hooks
        } else {
            ForkHandling::Unavailable {
                reason: format!(
                    "pthread_atfork failed: {}",
                    std::io::Error::from_raw_os_error(rc)
                ),
            }
        }
    };
    let _ = HANDLING.set(handling);
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

static HANDLING: std::sync::OnceLock<ForkHandling> = std::sync::OnceLock::new();

/// How a forked child gets traced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForkHandling {
    /// cotrace-ust's `pthread_atfork` hooks call LTTng-UST's fork functions.
    Hooks,
    /// LTTng-UST's own `fork` wrapper is preloaded and does it; cotrace-ust's hooks are not
    /// installed (both would deadlock). The child's user counts are then not reset by
    /// cotrace-ust; LTTng's detach of the parent's sessions in the child brings them down.
    LttngForkPreload,
    /// Not handled: a forked child is not traced.
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// How forks are handled, once the library is loaded.
pub(crate) fn handling() -> Option<&'static ForkHandling> {
    HANDLING.get()
}
