//! Functions liblttng-ust exports but no installed header declares, declared by hand.
//!
//! All of them are defined in `liblttng-ust-tracepoint.so.1` (and reachable with `dlsym` on the
//! `liblttng-ust.so.1` handle, which depends on it). They are ABI between liblttng-ust and
//! liblttng-ust-tracepoint, "not hidden and not part of the public API" in upstream's words
//! (`src/common/tracepoint.h` in lttng-ust 2.13), and have kept these names and signatures
//! from 2.13 to the current development branch.
//!
//! - [`ProbeRegisterQueueRelease`] / [`ProbeUnregisterQueueRelease`]: how liblttng-ust attaches
//!   an event's probe callback to a call site when a session (or trigger) starts using that
//!   event, and detaches it. liblttng-ust calls them through its PLT, which is what lets
//!   `cotrace-ust` observe every attach and detach exactly.
//! - [`RcuReadLock`], [`RcuReadUnlock`], [`RcuDereference`]: the read side of the RCU scheme that
//!   protects a call site's `probes` array. `lttng/tracepoint.h` and `lttng/tracepoint-rcu.h`
//!   reach them only through macros and `dlsym`, so bindgen sees nothing.

use core::ffi::{CStr, c_char, c_int, c_void};

/// A probe callback as the call site stores it (`void (*)(void)`); the real signature is the
/// provider's own, agreed on through the signature string.
pub type ProbeCallback = Option<unsafe extern "C" fn()>;

/// `int lttng_ust_tp_probe_register_queue_release(const char *provider_name,
/// const char *event_name, void (*func)(void), void *data, const char *signature)`.
///
/// Adds `(func, data)` to the call sites named `provider_name:event_name` whose signature is
/// `signature`, queueing the release of the old probe array. Returns 0 or a negative errno.
/// Called by liblttng-ust with its session lock held.
pub type ProbeRegisterQueueRelease = unsafe extern "C" fn(
    provider_name: *const c_char,
    event_name: *const c_char,
    func: ProbeCallback,
    data: *mut c_void,
    signature: *const c_char,
) -> c_int;

/// `int lttng_ust_tp_probe_unregister_queue_release(const char *provider_name,
/// const char *event_name, void (*func)(void), void *data)`.
///
/// Removes `(func, data)` from those call sites. Returns 0 or a negative errno.
pub type ProbeUnregisterQueueRelease = unsafe extern "C" fn(
    provider_name: *const c_char,
    event_name: *const c_char,
    func: ProbeCallback,
    data: *mut c_void,
) -> c_int;

/// `void lttng_ust_tp_rcu_read_lock(void)`: enter an RCU read-side critical section (nests).
pub type RcuReadLock = unsafe extern "C" fn();

/// `void lttng_ust_tp_rcu_read_unlock(void)`: leave it.
pub type RcuReadUnlock = unsafe extern "C" fn();

/// `void *lttng_ust_tp_rcu_dereference_sym(void *p)`: load an RCU-protected pointer with the
/// ordering its readers need.
pub type RcuDereference = unsafe extern "C" fn(p: *mut c_void) -> *mut c_void;

/// Symbol name of [`ProbeRegisterQueueRelease`].
pub const PROBE_REGISTER_QUEUE_RELEASE: &CStr = c"lttng_ust_tp_probe_register_queue_release";
/// Symbol name of [`ProbeUnregisterQueueRelease`].
pub const PROBE_UNREGISTER_QUEUE_RELEASE: &CStr = c"lttng_ust_tp_probe_unregister_queue_release";
/// Symbol name of [`RcuReadLock`].
pub const RCU_READ_LOCK: &CStr = c"lttng_ust_tp_rcu_read_lock";
/// Symbol name of [`RcuReadUnlock`].
pub const RCU_READ_UNLOCK: &CStr = c"lttng_ust_tp_rcu_read_unlock";
/// Symbol name of [`RcuDereference`].
pub const RCU_DEREFERENCE: &CStr = c"lttng_ust_tp_rcu_dereference_sym";

/// The hidden functions, looked up in an already loaded library.
#[derive(Debug, Clone, Copy)]
pub struct Hidden {
    /// See [`ProbeRegisterQueueRelease`].
    pub probe_register_queue_release: ProbeRegisterQueueRelease,
    /// See [`ProbeUnregisterQueueRelease`].
    pub probe_unregister_queue_release: ProbeUnregisterQueueRelease,
    /// See [`RcuReadLock`].
    pub rcu_read_lock: RcuReadLock,
    /// See [`RcuReadUnlock`].
    pub rcu_read_unlock: RcuReadUnlock,
    /// See [`RcuDereference`].
    pub rcu_dereference: RcuDereference,
}

impl Hidden {
    /// Looks every function up in `library` (a `liblttng-ust.so.1` or
    /// `liblttng-ust-tracepoint.so.1` handle).
    ///
    /// # Safety
    ///
    /// `library` must be LTTng-UST 2.13 or a later version with the same signatures (every
    /// release up to the current development branch); the pointers are valid while it stays
    /// loaded.
    pub unsafe fn load(library: &libloading::Library) -> Result<Self, libloading::Error> {
        // SAFETY: the caller guarantees the symbols have the declared types.
        unsafe {
            Ok(Self {
                probe_register_queue_release: *library.get::<ProbeRegisterQueueRelease>(
                    PROBE_REGISTER_QUEUE_RELEASE.to_bytes_with_nul(),
                )?,
                probe_unregister_queue_release: *library.get::<ProbeUnregisterQueueRelease>(
                    PROBE_UNREGISTER_QUEUE_RELEASE.to_bytes_with_nul(),
                )?,
                rcu_read_lock: *library.get::<RcuReadLock>(RCU_READ_LOCK.to_bytes_with_nul())?,
                rcu_read_unlock: *library
                    .get::<RcuReadUnlock>(RCU_READ_UNLOCK.to_bytes_with_nul())?,
                rcu_dereference: *library
                    .get::<RcuDereference>(RCU_DEREFERENCE.to_bytes_with_nul())?,
            })
        }
    }
}
