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

use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

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
    /// See [`Availability::Available`](crate::Availability::Available).
    pub(crate) app_abi: Option<u32>,
}

static RUNTIME: OnceLock<Result<Loaded, String>> = OnceLock::new();

/// True from before `dlopen` until [`RUNTIME`] is complete: a child forked meanwhile must not
/// touch `RUNTIME` (its once-cell waits for a thread that does not exist in the child). Also
/// true for a moment around a `runtime()` call that finds it complete, which a child tells
/// apart by `RUNTIME` being complete.
static LOADING: AtomicBool = AtomicBool::new(false);

/// Forks between cotrace-ust's `prepare` hook and its `parent`/`child` hook that went ahead
/// without waiting for a load (none was under way when they looked). The loading thread waits
/// for them to be done before `dlopen`, so no fork lands in liblttng-ust's constructor: a fork
/// either sees [`LOADING`] and waits, or the loader sees it here and waits (both sides write
/// then read with `SeqCst`, so at least one sees the other).
static FORKS_UNDER_WAY: AtomicU32 = AtomicU32::new(0);

/// How long the loading thread waits for forks under way (a fork takes milliseconds; this only
/// bounds a fork whose hooks are themselves stuck).
const FORKS_WAIT: Duration = Duration::from_secs(1);

thread_local! {
    // Whether this thread is inside `runtime()`'s loading path (and so may be the thread running
    // liblttng-ust's constructor): a fork from it (from a signal handler) must not wait for
    // itself.
    static IN_RUNTIME: Cell<bool> = const { Cell::new(false) };
}

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
        1 => Some(
            "this process was forked while another thread was loading liblttng-ust, for longer \
             than a fork waits for it (LTTNG_UST_REGISTER_TIMEOUT + 2 s, at most 12 s)",
        ),
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
    IN_RUNTIME.set(true);
    // Set before the once-cell can be running, cleared only once it is complete (whoever
    // completed it): whenever it is incomplete, a child sees LOADING.
    LOADING.store(true, Ordering::SeqCst);
    let r = RUNTIME.get_or_init(|| {
        wait_for_forks_under_way();
        load().inspect(crate::refcount::install)
    });
    LOADING.store(false, Ordering::SeqCst);
    IN_RUNTIME.set(false);
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

/// Whether another thread is loading liblttng-ust (its constructor may be running).
fn loading_elsewhere() -> bool {
    LOADING.load(Ordering::SeqCst) && RUNTIME.get().is_none() && !IN_RUNTIME.get()
}

/// Sleeps 200 µs at a time (no lock, no allocation: fit for a fork hook) while `busy`, at most
/// `bound`. Returns whether it gave up.
fn sleep_while(bound: Duration, busy: impl Fn() -> bool) -> bool {
    let mut deadline = None;
    while busy() {
        let now = Instant::now();
        if now >= *deadline.get_or_insert(now + bound) {
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    false
}

/// In the loading thread, before `dlopen`: waits for forks that went ahead before
/// [`LOADING`] was set.
fn wait_for_forks_under_way() {
    sleep_while(FORKS_WAIT, || FORKS_UNDER_WAY.load(Ordering::SeqCst) != 0);
}

/// In the fork `prepare` hook: marks a fork under way; if `may_wait` and another thread is
/// loading liblttng-ust, first waits for the load to finish, at most `bound`. Every call is
/// matched by [`fork_done`] in the `parent` and `child` hooks.
///
/// A fork while liblttng-ust's constructor runs would copy LTTng's locks held by the
/// constructor's thread into a child where that thread does not exist: the child's `exit`
/// then waits for ever in liblttng-ust's destructors (`lttng_ust_probe_unregister`). After the
/// load, the `prepare` hook takes LTTng's locks with `lttng_ust_before_fork`, as for any fork.
pub(crate) fn fork_starting(may_wait: bool, bound: Duration) {
    loop {
        FORKS_UNDER_WAY.fetch_add(1, Ordering::SeqCst);
        if !may_wait || !loading_elsewhere() {
            return;
        }
        // Not under way while waiting: the loader may be waiting for us.
        FORKS_UNDER_WAY.fetch_sub(1, Ordering::SeqCst);
        if sleep_while(bound, loading_elsewhere) {
            // The load takes longer than a fork waits: go ahead (the child's LTTng side is off).
            FORKS_UNDER_WAY.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
}

/// In the fork `parent` hook: the fork [`fork_starting`] marked is done.
pub(crate) fn fork_done_in_parent() {
    FORKS_UNDER_WAY.fetch_sub(1, Ordering::SeqCst);
}

/// In the fork `child` hook: the child's only thread is not forking any more, and the parent's
/// other forking threads do not exist here.
pub(crate) fn fork_done_in_child() {
    FORKS_UNDER_WAY.store(0, Ordering::SeqCst);
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
    // Which file the name resolved to (LD_LIBRARY_PATH may pick another LTTng than the
    // system's): liblttng-ust exports the same symbols from 2.13 to 2.16 and carries no
    // version string, so its path is what tells a user which installation is in use.
    let path = loaded_from(api.lttng_ust_probe_register as *const libc::c_void);
    let app_abi = path
        .as_deref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| app_abi_in(&bytes));
    let library = match path {
        Some(path) if path != library => format!("{library} from {path}"),
        _ => library,
    };
    Ok(Loaded {
        api,
        hidden,
        library,
        app_abi,
    })
}

/// The application ABI a liblttng-ust file speaks to session daemons: the `N` of the
/// `lttng-ust-sock-N` socket name compiled into it (`LTTNG_UST_SOCK_FILENAME`, built from
/// `LTTNG_UST_ABI_MAJOR_VERSION_OLDEST_COMPATIBLE`).
fn app_abi_in(bytes: &[u8]) -> Option<u32> {
    const NAME: &[u8] = b"lttng-ust-sock-";
    let at = bytes.windows(NAME.len()).position(|w| w == NAME)? + NAME.len();
    let digits = bytes[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&bytes[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// The path of the shared object that defines `addr`, as the dynamic loader recorded it.
fn loaded_from(addr: *const libc::c_void) -> Option<String> {
    let mut info = core::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: dladdr only reads `addr` as a number and fills `info`.
    if unsafe { libc::dladdr(addr, info.as_mut_ptr()) } == 0 {
        return None;
    }
    // SAFETY: dladdr succeeded, so it filled `info`.
    let fname = unsafe { info.assume_init() }.dli_fname;
    if fname.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string owned by the dynamic loader, valid while the object is
    // loaded (liblttng-ust is never closed).
    Some(
        unsafe { core::ffi::CStr::from_ptr(fname) }
            .to_string_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::app_abi_in;

    #[test]
    fn the_app_abi_is_the_socket_names_number() {
        assert_eq!(app_abi_in(b"\0x\0lttng-ust-sock-8\0/var/run"), Some(8));
        assert_eq!(app_abi_in(b"lttng-ust-sock-11"), Some(11));
        assert_eq!(app_abi_in(b"lttng-ust-sock-"), None);
        assert_eq!(app_abi_in(b"no socket name here"), None);
    }
}
