//! Loading liblttng-ust at run time, once per process.
//!
//! The application is not linked to liblttng-ust: the first registration (or
//! [`status`](crate::status)) opens `liblttng-ust.so.1` with
//! `dlopen(RTLD_NOW | RTLD_GLOBAL)` the first time cotrace-ust needs it and looks up the
//! functions it calls; `runtime()` installs the fork hooks ([`crate::fork`]) before and the
//! reference-count mechanism ([`crate::refcount`]) after. If the library is missing the result
//! is an error string that [`status`](crate::status) reports, and every event stays off.
//!
//! The library is never closed: call sites, probes and patched GOT slots refer to it for the
//! rest of the process.

use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::OnceLock;

use cotrace_lttng_sys::{LIBLTTNG_UST_SONAME, LttngUst, hidden::Hidden};

/// Environment variable naming the library to load instead of `liblttng-ust.so.1` (a path or
/// a soname). Tests use a name that does not exist to play a machine without LTTng-UST.
/// Ignored in setuid, setgid and setcap processes (`getauxval(AT_SECURE)`).
pub const LIBRARY_ENV: &str = "COTRACE_UST_LIBRARY";

/// The loaded library: its public functions and the hidden ones.
pub(crate) struct Loaded {
    pub(crate) api: LttngUst,
    pub(crate) hidden: Hidden,
    pub(crate) library: String,
}

static RUNTIME: OnceLock<Result<Loaded, String>> = OnceLock::new();

/// True from before `dlopen` until [`RUNTIME`] is complete: a child forked meanwhile must not
/// touch `RUNTIME` (its once-cell waits for a thread that does not exist in the child). Also
/// true for a moment around a `runtime()` call that finds it complete, which a child tells
/// apart by `RUNTIME` being complete.
static LOADING: AtomicBool = AtomicBool::new(false);

/// Why liblttng-ust must not be used in this (forked) process; set by the fork child hook.
#[derive(Clone, Copy)]
pub(crate) enum ChildOff {
    /// Forked while another thread was loading liblttng-ust.
    ForkedWhileLoading = 1,
    /// Forked under [`ForkPolicy::ExecOnly`](crate::ForkPolicy::ExecOnly).
    ExecOnly = 2,
}

static CHILD_OFF: AtomicU8 = AtomicU8::new(0);

fn child_off() -> Option<&'static str> {
    match CHILD_OFF.load(Ordering::Acquire) {
        0 => None,
        1 => Some("this process was forked while another thread was loading liblttng-ust"),
        _ => Some("this process was forked under ForkPolicy::ExecOnly (COTRACE_UST_FORK)"),
    }
}

/// The loaded library, loading it on first use; `Err` says why it is unavailable. Installs
/// the fork hooks first, and after loading the reference-count mechanism.
pub(crate) fn runtime() -> Result<&'static Loaded, &'static str> {
    if let Some(reason) = child_off() {
        return Err(reason);
    }
    if let Some(r) = RUNTIME.get() {
        return r.as_ref().map_err(String::as_str);
    }
    crate::fork::install();
    // Set before the once-cell can be running, cleared only once it is complete (whoever
    // completed it): whenever it is incomplete, a child sees LOADING.
    LOADING.store(true, Ordering::SeqCst);
    let r = RUNTIME.get_or_init(|| load().inspect(crate::refcount::install));
    LOADING.store(false, Ordering::SeqCst);
    r.as_ref().map_err(String::as_str)
}

/// The loaded library if loading already finished successfully (and this is not a child in
/// which it must stay off); never loads, never blocks.
pub(crate) fn loaded() -> Option<&'static Loaded> {
    if CHILD_OFF.load(Ordering::Acquire) != 0 {
        return None;
    }
    RUNTIME.get().and_then(|r| r.as_ref().ok())
}

/// Whether this process runs in secure-execution mode (setuid, setgid or file capabilities:
/// `AT_SECURE`), where its environment comes from a less privileged user.
fn secure_execution() -> bool {
    // SAFETY: getauxval only reads the auxiliary vector; it returns 0 for an absent entry.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// In the fork child hook: whether the parent was loading liblttng-ust when it forked.
pub(crate) fn forked_while_loading() -> bool {
    LOADING.load(Ordering::SeqCst) && RUNTIME.get().is_none()
}

/// In the fork child hook: keeps this process off liblttng-ust from now on.
pub(crate) fn turn_off_in_child(why: ChildOff) {
    CHILD_OFF.store(why as u8, Ordering::Release);
}

fn load() -> Result<Loaded, String> {
    // In a setuid/setcap process the variable would let an unprivileged user load any code
    // with the process's privileges (as LD_PRELOAD would): it is ignored there, as the dynamic
    // loader ignores LD_LIBRARY_PATH.
    let library = std::env::var(LIBRARY_ENV)
        .ok()
        .filter(|s| !s.is_empty() && !secure_execution())
        .unwrap_or_else(|| LIBLTTNG_UST_SONAME.to_string_lossy().into_owned());
    // SAFETY: loading liblttng-ust runs its constructors, which start its listener threads and
    // register with a session daemon if one runs; that is what linking it would do at start-up.
    // RTLD_GLOBAL matches how a linked library is seen; RTLD_NOW resolves everything up front
    // so nothing binds lazily later.
    let handle = unsafe {
        libloading::os::unix::Library::open(
            Some(library.as_str()),
            libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL,
        )
    }
    .map_err(|e| format!("cannot load {library}: {e}"))?;
    let handle: libloading::Library = handle.into();
    // SAFETY: the library is LTTng-UST 2.13 (soname major 1); the hidden functions have had
    // these signatures since 2.13. The pointers stay valid because the library is never closed.
    let hidden = unsafe { Hidden::load(&handle) }
        .map_err(|e| format!("{library} lacks an LTTng-UST 2.13 symbol: {e}"))?;
    // SAFETY: as above; the table's signatures were generated from the 2.13 headers.
    let api = unsafe { LttngUst::from_library(handle) }
        .map_err(|e| format!("{library} lacks an LTTng-UST 2.13 symbol: {e}"))?;
    Ok(Loaded {
        api,
        hidden,
        library,
    })
}
