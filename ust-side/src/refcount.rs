//! Mirroring LTTng's enablement of our events into the enable words' user counts.
//!
//! # What is counted
//!
//! liblttng-ust enables an event in a process by attaching the provider's probe callback to
//! the event's call site: once per started session that enables it (a second session adds a
//! second entry to the call site's `probes` array), and once per trigger that matches it. The
//! word of a cotrace event holds, in its low 24 bits, the number of such attachments of *our*
//! probe to *that* event; bit 31 stays the kernel's.
//!
//! # When the count goes up, and when the session records
//!
//! liblttng-ust attaches the probes of a session when it starts in this process
//! (`lttng_session_enable` in lttng-events.c): it syncs the enablers (the count goes up here),
//! then registers each channel with the session daemon (one round trip), and only then marks
//! the session active. An event fired in between reaches LTTng's probe, which drops it because
//! the session is not active yet: exactly as for a C tracepoint, whose `state` goes to 1 in the
//! same call. For an application registered with the daemon when `lttng start` runs, the
//! command returns after the session is active in it. An application that registers later
//! (started later, forked, or re-registering after the daemon restarted) is given the started
//! sessions when it registers, on its own schedule: its count can go up after `lttng start`
//! returned, and its session records one round trip later. `lttng list --userspace` lists an
//! application only once the daemon has given it every started session (the daemon holds its
//! session list lock across both), so that is what to wait for before relying on a recording.
//!
//! # Exact mode: interposing the attach/detach functions
//!
//! liblttng-ust attaches and detaches through `lttng_ust_tp_probe_register_queue_release` and
//! `lttng_ust_tp_probe_unregister_queue_release` (defined in liblttng-ust-tracepoint, called
//! through liblttng-ust's PLT; see [`cotrace_lttng_sys::hidden`]). There is no public callback,
//! and an application that is not linked to liblttng-ust cannot win symbol resolution for those
//! names, so right after loading the library (before any of our providers registers) cotrace-ust
//! rewrites the two GOT slots of liblttng-ust that hold their addresses (read from its dynamic section) to point
//! at two wrappers here. Each wrapper forwards every call to the original function and, when the
//! call succeeded and the callback is ours, adds or removes one user of the named event's word.
//! The wrappers run with LTTng's session lock held, so they use only atomics and a lock-free
//! list, and never call back into liblttng-ust. Counts change synchronously, before `lttng
//! start`/`stop`/`destroy` (or `add-trigger`/`remove-trigger`) returns to the CLI.
//!
//! # Polling mode: the fallback
//!
//! If the slots cannot be found or patched (another architecture, a changed library layout, or
//! `COTRACE_UST_REFCOUNT=poll`), a reconciler thread counts our entries in each live call site's
//! `probes` array (under LTTng's RCU read lock) every [`POLL_INTERVAL`] and moves the word's
//! count to match. Counts are then late by up to one interval, never wrong for longer. The
//! thread exists only in the polling mode, and is parked while no event is registered (a
//! registration wakes it up).
//!
//! [`status`](crate::status) says which mode is active and why.

use core::ffi::{CStr, c_char, c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use cotrace_lttng_sys::hidden::{
    PROBE_REGISTER_QUEUE_RELEASE, PROBE_UNREGISTER_QUEUE_RELEASE, ProbeCallback,
    ProbeRegisterQueueRelease, ProbeUnregisterQueueRelease,
};

use crate::loader::Loaded;
use crate::provider::EventRuntime;
use crate::status::RefcountMode;

/// How often the polling fallback reconciles the counts.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Environment variable: `poll` forces the polling fallback (for tests and for comparing the
/// two modes); anything else, or unset, tries the exact mode first.
pub const REFCOUNT_ENV: &str = "COTRACE_UST_REFCOUNT";

static MODE: OnceLock<RefcountMode> = OnceLock::new();

/// The mode chosen when the library was loaded, if it was.
pub(crate) fn mode() -> Option<&'static RefcountMode> {
    MODE.get()
}

fn is_polling() -> bool {
    matches!(MODE.get(), Some(RefcountMode::Polling { .. }))
}

// ---------------------------------------------------------------------------------------------
// The list of events, readable without locks (the wrappers run under LTTng's lock).

static HEAD: AtomicPtr<EventRuntime> = AtomicPtr::new(core::ptr::null_mut());

/// Adds an event to the list. Events are never removed (they are leaked on registration), only
/// marked dead. The objects holding the event's definition and word are pinned first
/// ([`pin_object_of`]).
pub(crate) fn push(event: &'static EventRuntime) {
    pin_object_of(event.spec as *const crate::EventSpec as usize);
    pin_object_of(event.spec.word as *const cotrace_word::EnableWord as usize);
    let mut head = HEAD.load(Ordering::Acquire);
    loop {
        event.next.store(head, Ordering::Relaxed);
        match HEAD.compare_exchange_weak(
            head,
            event as *const EventRuntime as *mut EventRuntime,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return,
            Err(h) => head = h,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pinning: a plugin that contains cotrace must outlive its `dlclose`.

/// Makes the loaded object that contains `addr` permanent (`RTLD_NODELETE`).
///
/// When cotrace lives in a shared object that the application loads and later closes (a
/// plugin), the object holds what others keep pointers to for the rest of the process: enable
/// words the kernel writes bit 31 into, event definitions the lock-free list walks, and the
/// functions liblttng-ust's GOT and `pthread_atfork` call. See [`cotrace_pin`].
pub(crate) fn pin_object_of(addr: usize) {
    cotrace_pin::pin_object_containing(addr);
}

fn events() -> impl Iterator<Item = &'static EventRuntime> {
    let mut p = HEAD.load(Ordering::Acquire);
    core::iter::from_fn(move || {
        // SAFETY: every pointer in the list comes from `push` of a leaked `&'static`.
        let e = unsafe { p.as_ref() }?;
        p = e.next.load(Ordering::Acquire);
        Some(e)
    })
}

fn find_live(provider: *const c_char, event: *const c_char) -> Option<&'static EventRuntime> {
    if provider.is_null() || event.is_null() {
        return None;
    }
    // SAFETY: liblttng-ust passes NUL-terminated names (from our own descriptors).
    let (provider, event) = unsafe { (CStr::from_ptr(provider), CStr::from_ptr(event)) };
    events().find(|e| e.is_live() && e.provider_c == provider && e.event_c == event)
}

fn is_ours(func: ProbeCallback) -> bool {
    func.is_some_and(|f| f as usize == crate::probe::callback_address())
}

/// One more attachment of our probe to `event`, counted in LTTng's share of its word (a
/// saturated word is left as it is).
fn attach(event: &EventRuntime) {
    let _ = event.share.acquire();
    notify_count_change();
}

/// One fewer; ignored when the share holds none (e.g. detaches of the parent's sessions in a
/// forked child, whose share was released). Never touches another tracer's count.
fn detach(event: &EventRuntime) {
    let _ = event.share.release();
    notify_count_change();
}

/// The function [`set_count_notifier`] installed, as an address (0: none).
static NOTIFIER: AtomicUsize = AtomicUsize::new(0);

/// Installs `notify`, called each time LTTng's count of one of our events changes (a session
/// or trigger attached or detached), right after the word changed: for an in-process consumer
/// of the words that caches their state (the `tracing` layer of `cotrace` wakes its thread
/// that re-reads them). A later call replaces the function.
///
/// `notify` runs on LTTng's threads, inside LTTng's session lock (in the exact mode) or on the
/// polling thread: it must only touch atomics or wake a thread (`Thread::unpark`), never take
/// a lock, allocate, block, or call into liblttng-ust.
pub fn set_count_notifier(notify: fn()) {
    // A plugin that installs it may be dlclose'd: its code must stay mapped.
    pin_object_of(notify as usize);
    NOTIFIER.store(notify as usize, Ordering::Release);
}

fn notify_count_change() {
    let address = NOTIFIER.load(Ordering::Acquire);
    if address != 0 {
        // SAFETY: a non-zero value was stored by `set_count_notifier` from a `fn()` whose
        // object it pinned (`pin_object_of`), so the code stays mapped.
        let notify: fn() = unsafe { core::mem::transmute::<usize, fn()>(address) };
        notify();
    }
}

/// Releases every user we still hold for `event` (it is being unregistered).
pub(crate) fn release_all(event: &EventRuntime) {
    let _guard = POLL_LOCK.lock();
    event.share.release_all();
}

// ---------------------------------------------------------------------------------------------
// Exact mode.

static ORIGINAL_REGISTER: AtomicUsize = AtomicUsize::new(0);
static ORIGINAL_UNREGISTER: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn register_wrapper(
    provider_name: *const c_char,
    event_name: *const c_char,
    func: ProbeCallback,
    data: *mut c_void,
    signature: *const c_char,
) -> c_int {
    let original = ORIGINAL_REGISTER.load(Ordering::Acquire);
    // SAFETY: `original` was stored (from the GOT slot, so it is the function liblttng-ust
    // would have called, with this signature) before the slot pointed here.
    let ret = unsafe {
        let f: ProbeRegisterQueueRelease = core::mem::transmute(original);
        f(provider_name, event_name, func, data, signature)
    };
    if ret == 0 && is_ours(func) {
        if let Some(event) = find_live(provider_name, event_name) {
            attach(event);
        }
    }
    ret
}

unsafe extern "C" fn unregister_wrapper(
    provider_name: *const c_char,
    event_name: *const c_char,
    func: ProbeCallback,
    data: *mut c_void,
) -> c_int {
    let original = ORIGINAL_UNREGISTER.load(Ordering::Acquire);
    // SAFETY: as in `register_wrapper`.
    let ret = unsafe {
        let f: ProbeUnregisterQueueRelease = core::mem::transmute(original);
        f(provider_name, event_name, func, data)
    };
    if ret == 0 && is_ours(func) {
        if let Some(event) = find_live(provider_name, event_name) {
            detach(event);
        }
    }
    ret
}

fn try_exact(lib: &Loaded) -> Result<(), String> {
    // Any address inside liblttng-ust identifies its ELF object.
    let inside = lib.api.lttng_ust_probe_register as usize;
    let reg = register_wrapper as ProbeRegisterQueueRelease as usize;
    let unreg = unregister_wrapper as ProbeUnregisterQueueRelease as usize;
    let reg_plan = crate::got::plan(inside, PROBE_REGISTER_QUEUE_RELEASE, reg)?;
    let unreg_plan = crate::got::plan(inside, PROBE_UNREGISTER_QUEUE_RELEASE, unreg)?;
    ORIGINAL_REGISTER.store(reg_plan.original(), Ordering::Release);
    ORIGINAL_UNREGISTER.store(unreg_plan.original(), Ordering::Release);
    // SAFETY: the wrappers have the symbols' signatures and forward to the originals stored
    // just above; the library was loaded by `loader` in this call, once per process.
    unsafe { crate::got::patch_all(&[(&reg_plan, reg), (&unreg_plan, unreg)])? };
    Ok(())
}

/// Chooses and installs the mechanism. Called once, by the loader, before any provider exists.
/// First pins the object that contains this code: the wrappers installed in liblttng-ust's GOT,
/// the probe callback and the fork hooks live there ([`pin_object_of`]).
pub(crate) fn install(lib: &Loaded) {
    pin_object_of(register_wrapper as ProbeRegisterQueueRelease as usize);
    let mode = if std::env::var(REFCOUNT_ENV).is_ok_and(|v| v == "poll") {
        RefcountMode::Polling {
            interval: POLL_INTERVAL,
            reason: format!("forced by {REFCOUNT_ENV}=poll"),
        }
    } else {
        match try_exact(lib) {
            Ok(()) => RefcountMode::Exact {
                detail: format!(
                    "interposed lttng_ust_tp_probe_(un)register_queue_release in {}'s GOT",
                    lib.library
                ),
            },
            Err(reason) => RefcountMode::Polling {
                interval: POLL_INTERVAL,
                reason,
            },
        }
    };
    let _ = MODE.set(mode);
}

// ---------------------------------------------------------------------------------------------
// Polling mode.

/// Serialises reconciliations (the poller and unregistration). A child forked while the
/// parent's poller held it takes it over ([`cotrace_fork::Lock`]); its counts are reset anyway
/// ([`reset_after_fork_child`]).
static POLL_LOCK: cotrace_fork::Lock = cotrace_fork::Lock::new();

/// In the fork `prepare` hook, before LTTng's `before_fork`: the reconciliation lock, so that
/// the poller is not inside liblttng-ust's RCU read side at the fork (see
/// [`cotrace_fork::Lock::lock_across_fork`]).
pub(crate) fn lock_poll_for_fork() -> Option<cotrace_fork::LockGuard<'static>> {
    POLL_LOCK.lock_across_fork()
}

static POLLER_STARTED: AtomicBool = AtomicBool::new(false);

/// The reconciler thread's handle (leaked), for waking it up; null until it runs.
static POLLER: AtomicPtr<std::thread::Thread> = AtomicPtr::new(core::ptr::null_mut());

/// Whether the reconciler has work: the polling mode is active and some event is registered.
fn needs_polling() -> bool {
    is_polling() && events().any(|e| e.is_live())
}

/// Starts the reconciler thread if the polling mode is active and it is not running, or wakes
/// it up if it is parked. Called when a provider registers.
pub(crate) fn ensure_poller() {
    if !is_polling() {
        return;
    }
    if POLLER_STARTED.swap(true, Ordering::AcqRel) {
        wake_poller();
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("cotrace-ust-poll".into())
        .spawn(|| {
            // Register this thread with LTTng's RCU (a first read-side lock takes LTTng's RCU
            // registry lock) before ever holding POLL_LOCK: a `fork` whose LTTng `before_fork`
            // (holding that registry lock) ran before our `prepare` hook (LTTng's preload,
            // another copy of cotrace-ust) then never waits for a poller that waits for it.
            if let Some(lib) = crate::loader::loaded() {
                // SAFETY: an empty read-side critical section of liblttng-ust's RCU.
                unsafe {
                    (lib.hidden.rcu_read_lock)();
                    (lib.hidden.rcu_read_unlock)();
                }
            }
            loop {
                if !needs_polling() {
                    // Parked until a provider registers (`ensure_poller` unparks; an unpark
                    // between the check and the park makes the park return at once).
                    std::thread::park();
                    continue;
                }
                reconcile_all();
                std::thread::sleep(POLL_INTERVAL);
            }
        });
    match spawned {
        Ok(handle) => {
            let thread = Box::into_raw(Box::new(handle.thread().clone()));
            // The previous handle (a parent's thread, after a fork) is leaked: a few bytes.
            POLLER.store(thread, Ordering::Release);
        }
        Err(_) => POLLER_STARTED.store(false, Ordering::Release),
    }
}

fn wake_poller() {
    // SAFETY: a non-null pointer comes from `Box::into_raw` in `ensure_poller` and is never
    // freed.
    if let Some(thread) = unsafe { POLLER.load(Ordering::Acquire).as_ref() } {
        thread.unpark();
    }
}

/// Moves every live event's count to the number of our probes attached to its call site.
pub(crate) fn reconcile_all() {
    let Some(lib) = crate::loader::loaded() else {
        return;
    };
    let _guard = POLL_LOCK.lock();
    for event in events().filter(|e| e.is_live()) {
        let want = crate::probe::attached_probes(lib, event);
        let mut have = event.share.held();
        while have < want {
            attach(event);
            have += 1;
        }
        while have > want {
            detach(event);
            have -= 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fork.

/// In a forked child, before LTTng's own child hook: no session of the parent is ours any
/// more, so LTTng's share of every word is given back. Bit 31 (the kernel copied our
/// registrations into the child) and other tracers' counts (an in-process tracer's state was
/// copied into the child with the rest of memory) are kept.
pub(crate) fn reset_after_fork_child() {
    // Taken over if the parent's poller held it: its half-done reconciliation is undone here.
    let _guard = POLL_LOCK.lock();
    for event in events() {
        // Read first: a write to every event's page would copy each page of the list into the
        // child (copy-on-write), and the list keeps every event ever registered: with
        // hundreds of thousands of them a child spent seconds here under load.
        if event.share.held() != 0 {
            event.share.release_all();
        }
    }
    // The parent's thread does not exist here; a new one starts in `restart_after_fork_child`.
    POLLER.store(core::ptr::null_mut(), Ordering::Release);
    POLLER_STARTED.store(false, Ordering::Release);
}

/// In a forked child, after LTTng's child hook.
pub(crate) fn restart_after_fork_child() {
    if events().any(|e| e.is_live()) {
        ensure_poller();
    }
}
