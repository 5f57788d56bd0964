//! Registering a provider with liblttng-ust, and firing its events.
//!
//! [`register_provider`] checks the definitions, then builds at run time what LTTng's C macros
//! build at compile time: a probe descriptor (`lttng_ust_probe_desc`) listing one event
//! descriptor per event (name, loglevel, and a tracepoint class with the field descriptions, the
//! probe callback and the signature string), and one call site (`lttng_ust_tracepoint`) per
//! event carrying the same signature. It registers the call sites
//! (`lttng_ust_tracepoint_module_register`), then the probe (`lttng_ust_probe_register`); a
//! session that already enables the events picks them up at once. Descriptors and call sites
//! are leaked: liblttng-ust and concurrent [`EventHandle::fire`] calls may read them after
//! unregistration.

use core::ffi::{CStr, c_char, c_int};
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use cotrace_lttng_sys as sys;

use crate::error::{Error, FireError};
use crate::loader::Loaded;
use crate::spec::{EventSpec, FieldType, Value};

/// Most fields an event may have. The C macros allow 10 arguments; the bound here keeps the
/// filter interpreter stack (16 bytes per field) on the probe's stack.
pub const MAX_FIELDS: usize = 32;

/// Longest [`FieldType::ByteArray`].
pub const MAX_ARRAY_LEN: usize = 1 << 16;

/// Longest `provider:event` name LTTng accepts, without its NUL
/// (`LTTNG_UST_ABI_SYM_NAME_LEN - 1`).
pub const MAX_NAME_LEN: usize = sys::LTTNG_UST_ABI_SYM_NAME_LEN as usize - 1;

/// What cotrace-ust keeps per registered event.
pub(crate) struct EventRuntime {
    pub(crate) spec: &'static EventSpec,
    pub(crate) provider_c: &'static CStr,
    pub(crate) event_c: &'static CStr,
    /// Our call site; null when liblttng-ust is unavailable.
    pub(crate) callsite: *mut sys::lttng_ust_tracepoint,
    pub(crate) lib: Option<&'static Loaded>,
    /// The users this event added to its word (attachments of our probe): LTTng's share of the
    /// count, which nobody else can release.
    pub(crate) share: cotrace_word::UserShare<'static>,
    /// Largest ring-buffer alignment of the fields.
    pub(crate) largest_align: usize,
    live: AtomicBool,
    /// Next event in the lock-free list of `refcount`.
    pub(crate) next: AtomicPtr<EventRuntime>,
}

// SAFETY: the raw call-site pointer refers to a leaked allocation that is only read through
// atomics (its `probes` field) after registration; everything else is immutable or atomic.
unsafe impl Sync for EventRuntime {}
// SAFETY: as above; nothing in it is tied to a thread.
unsafe impl Send for EventRuntime {}

impl EventRuntime {
    #[inline]
    pub(crate) fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }
}

/// A registered event. Cheap to copy, `Send + Sync`, and `'static`: keep it in a `static`
/// (e.g. a `OnceLock`) next to the event's definition.
#[derive(Clone, Copy)]
pub struct EventHandle {
    rt: &'static EventRuntime,
}

impl core::fmt::Debug for EventHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EventHandle")
            .field("provider", &self.rt.spec.provider)
            .field("event", &self.rt.spec.event)
            .field("attached", &self.rt.share.held())
            .finish()
    }
}

impl EventHandle {
    /// The event's definition.
    pub fn spec(&self) -> &'static EventSpec {
        self.rt.spec
    }

    /// Whether any LTTng session or trigger currently has this event attached (the word's user
    /// count is non-zero). One relaxed load.
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.rt.spec.word.snapshot().users_enabled()
    }

    /// How many LTTng attachments of this event cotrace-ust has counted into the word.
    pub fn attached(&self) -> u32 {
        self.rt.share.held()
    }

    /// Records the event with `values` (one per field, in order) in every LTTng session and
    /// trigger that has it enabled.
    ///
    /// Returns at once, `Ok`, when no LTTng session uses the event (one relaxed load of the
    /// word; the values are not looked at). Otherwise values that do not match the fields are
    /// refused with an error and nothing is written; this never panics.
    ///
    /// # Examples
    ///
    /// (Not run by the doc tests, which are not isolated from a session daemon of the machine:
    /// `tests/` runs the same code against a private one.)
    ///
    /// ```no_run
    /// use cotrace_ust::{EventSpec, FieldSpec, FieldType, Loglevel, Value, register_provider};
    /// use cotrace_word::EnableWord;
    ///
    /// static WORD: EnableWord = EnableWord::new();
    /// static EV: EventSpec = EventSpec {
    ///     provider: "doc_fire",
    ///     event: "tick",
    ///     loglevel: Loglevel::Info,
    ///     fields: &[FieldSpec { name: "n", ty: FieldType::U32 }],
    ///     word: &WORD,
    /// };
    /// let provider = register_provider("doc_fire", &[&EV]).unwrap();
    /// let tick = provider.events()[0];
    /// tick.fire(&[Value::U32(7)]).unwrap();
    /// // Values are checked only when the event is on (or with `fire_enabled`).
    /// assert!(tick.fire_enabled(&[Value::I64(7)]).is_err());
    /// ```
    ///
    /// The `ip` context records an address in the function that called `fire`, which is
    /// always inlined there (see [`call_site`](crate::call_site)).
    #[inline(always)]
    pub fn fire(&self, values: &[Value<'_>]) -> Result<(), FireError> {
        if !self.is_enabled() {
            return Ok(());
        }
        self.fire_enabled_at(crate::call_site_ip!(inlined), values)
    }

    /// [`fire`](Self::fire) without the enable check, for callers that already loaded the word.
    /// The `ip` context records an address in the function that called it (always inlined
    /// there).
    #[inline(always)]
    pub fn fire_enabled(&self, values: &[Value<'_>]) -> Result<(), FireError> {
        self.fire_enabled_at(crate::call_site_ip!(inlined), values)
    }

    /// [`fire_enabled`](Self::fire_enabled) with the address the `ip` context records, for
    /// callers that took it where the event fires (the facade's `fire!` does, with
    /// [`call_site_ip!`](crate::call_site_ip), after checking `word != 0` once for both
    /// tracers); 0 when unknown (the `ip` context then reads 0 and debug-info resolves
    /// nothing).
    #[inline]
    pub fn fire_enabled_at(&self, ip: usize, values: &[Value<'_>]) -> Result<(), FireError> {
        let rt = self.rt;
        let mut payload = crate::probe::Payload::new(values, ip);
        payload.check(rt)?;
        let Some(lib) = rt.lib else {
            return Ok(());
        };
        if !rt.is_live() {
            return Err(FireError::Unregistered);
        }
        crate::probe::dispatch(lib, rt, &payload);
        Ok(())
    }
}

/// What unregistration needs.
struct Registration {
    lib: &'static Loaded,
    probe: *mut sys::lttng_ust_registered_probe,
    callsites: *const *mut sys::lttng_ust_tracepoint,
}

// SAFETY: the pointers are handles liblttng-ust gave us / leaked arrays; using them from another
// thread is what liblttng-ust expects (it locks internally).
unsafe impl Send for Registration {}

/// A registered provider: its events, and unregistration on [`unregister`](Self::unregister)
/// or drop. `Send + Sync`.
pub struct Provider {
    name: &'static str,
    events: Vec<EventHandle>,
    /// Taken (swapped for null) by [`unregister`](Self::unregister): no lock, which a child
    /// forked while another thread unregisters would inherit held.
    registration: AtomicPtr<Registration>,
}

impl core::fmt::Debug for Provider {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("events", &self.events)
            .field("registered_with_lttng", &self.is_registered_with_lttng())
            .finish()
    }
}

impl Provider {
    /// The provider name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The events, in the order given to [`register_provider`].
    pub fn events(&self) -> &[EventHandle] {
        &self.events
    }

    /// The event named `event`.
    pub fn event(&self, event: &str) -> Option<EventHandle> {
        self.events
            .iter()
            .copied()
            .find(|e| e.rt.spec.event == event)
    }

    /// Whether liblttng-ust knows this provider (false when it is unavailable or after
    /// [`unregister`](Self::unregister)).
    pub fn is_registered_with_lttng(&self) -> bool {
        !self.registration.load(Ordering::Acquire).is_null()
    }

    /// Unregisters the provider: LTTng detaches its sessions from the events (their words drop
    /// back to the kernel bit alone) and forgets them; later [`EventHandle::fire`] calls return
    /// [`FireError::Unregistered`]. Idempotent. The name can then be registered again.
    pub fn unregister(&self) {
        // Held across liblttng-ust's unregistration too: the fork hooks take it, so that no
        // fork lands inside liblttng-ust's unregistration functions (holding their locks).
        let held = ACTIVE.lock();
        let taken = self
            .registration
            .swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !taken.is_null() {
            // SAFETY: a non-null pointer came from `Box::into_raw` in `register`, and the swap
            // gave it to this call alone.
            let reg = unsafe { Box::from_raw(taken) };
            // SAFETY: both handles came from the matching register calls and are used once.
            unsafe {
                (reg.lib.api.lttng_ust_probe_unregister)(reg.probe);
                (reg.lib.api.lttng_ust_tracepoint_module_unregister)(reg.callsites);
            }
        }
        for e in &self.events {
            e.rt.live.store(false, Ordering::Release);
            crate::refcount::release_all(e.rt);
        }
        with_names(&held, |names| {
            for h in &self.events {
                names.remove(self.name, h.rt.spec.event);
            }
        });
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// `(provider, event)` names registered by this process: [`register_provider`] refuses a
/// provider name found here, [`register_provider_part`] an event name found here. Held across
/// liblttng-ust's probe registration and unregistration, and across each fork by the fork hooks
/// ([`lock_for_fork`]), so that no fork lands inside liblttng-ust's registration functions. A
/// child forked while a thread of its parent held it anyway (a fork from a signal handler, a raw
/// `clone`) takes it over ([`cotrace_fork::Lock`]).
static ACTIVE: cotrace_fork::Lock = cotrace_fork::Lock::new();

/// The registered names, changed only under [`ACTIVE`] in short sections (never across a call
/// into liblttng-ust), so their mutex is never contended; see [`with_names`].
static NAMES: arc_swap::ArcSwapOption<std::sync::Mutex<Active>> =
    arc_swap::ArcSwapOption::const_empty();

/// Runs `f` on the registered names; the caller holds [`ACTIVE`].
fn with_names<R>(held: &ActiveGuard, f: impl FnOnce(&mut Active) -> R) -> R {
    loop {
        let names = NAMES.load_full().unwrap_or_else(|| {
            let fresh = std::sync::Arc::new(std::sync::Mutex::new(Active::default()));
            NAMES.store(Some(fresh.clone()));
            fresh
        });
        match names.try_lock() {
            Ok(mut names) => return f(&mut names),
            Err(std::sync::TryLockError::Poisoned(p)) => return f(&mut p.into_inner()),
            // Only in a child forked while a thread of its parent was changing the names (so
            // this guard is orphaned): they may be half changed, and that thread does not exist
            // here. The child starts without them (it may then register a name its parent had).
            Err(std::sync::TryLockError::WouldBlock) => {
                debug_assert!(
                    held.orphaned(),
                    "the names' mutex is only taken under ACTIVE"
                );
                NAMES.store(None);
            }
        }
    }
}

/// The registered names: looked up in O(1) (a scan of them took most of each registration
/// once there were thousands, as with the `tracing` layer's callsites: `benches/tracing_define`).
#[derive(Default)]
pub(crate) struct Active {
    names: Option<rustc_hash::FxHashSet<(&'static str, &'static str)>>,
    /// Events registered per provider name.
    providers: Option<rustc_hash::FxHashMap<&'static str, usize>>,
}

impl Active {
    fn contains(&self, name: &(&'static str, &'static str)) -> bool {
        self.names.as_ref().is_some_and(|n| n.contains(name))
    }

    fn has_provider(&self, provider: &str) -> bool {
        self.providers
            .as_ref()
            .is_some_and(|p| p.get(provider).is_some_and(|&n| n > 0))
    }

    fn insert(&mut self, provider: &'static str, event: &'static str) {
        if self
            .names
            .get_or_insert_with(Default::default)
            .insert((provider, event))
        {
            *self
                .providers
                .get_or_insert_with(Default::default)
                .entry(provider)
                .or_default() += 1;
        }
    }

    fn remove(&mut self, provider: &'static str, event: &'static str) {
        if self
            .names
            .as_mut()
            .is_some_and(|n| n.remove(&(provider, event)))
        {
            if let Some(n) = self.providers.as_mut().and_then(|p| p.get_mut(provider)) {
                *n -= 1;
            }
        }
    }
}

/// The registered names' lock, held across a fork.
pub(crate) type ActiveGuard = cotrace_fork::LockGuard<'static>;

/// In the fork `prepare` hook: the registered names' lock, so that no thread is inside
/// liblttng-ust's registration functions at the fork (their locks, such as
/// liblttng-ust-tracepoint's `tracepoint_mutex`, are not among those `lttng_ust_before_fork`
/// takes: a child would wait for them for ever). Waits for a registration under way; `None`
/// when this very thread holds it (a fork from a signal handler that interrupted it).
pub(crate) fn lock_for_fork() -> Option<ActiveGuard> {
    ACTIVE.lock_across_fork()
}

pub(crate) fn is_c_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn validate(provider: &'static str, events: &[&'static EventSpec]) -> Result<(), Error> {
    check_provider_name(provider)?;
    if events.is_empty() {
        return Err(Error::InvalidEventList(provider.into()));
    }
    // A set, not a scan of the earlier names: 10,000 events took 96% of registration in the
    // quadratic scan (scripts/bench.sh, row 6).
    let mut names = rustc_hash::FxHashSet::default();
    names.reserve(events.len());
    for ev in events {
        check_event(provider, ev)?;
        if !names.insert(ev.event) {
            return Err(Error::InvalidEventList(provider.into()));
        }
    }
    Ok(())
}

fn check_provider_name(provider: &str) -> Result<(), Error> {
    if !is_c_identifier(provider) || provider.len() + 2 > MAX_NAME_LEN {
        return Err(Error::InvalidProviderName(provider.into()));
    }
    Ok(())
}

/// Checks one event of `provider` as [`register_provider`] would, alone: the provider's name,
/// the event's name and fields. A caller that builds a provider from many sources can drop the
/// events refused here (each with its own error) and register the others, instead of seeing
/// the whole provider refused for one bad event. (Duplicate event names are a property of the
/// list, checked by [`register_provider`].)
///
/// # Errors
///
/// The [`Error`] [`register_provider`] would return for this event.
///
/// # Examples
///
/// ```
/// use cotrace_ust::{Error, EventSpec, FieldSpec, FieldType, Loglevel};
/// use cotrace_ust::provider::check_event;
/// use cotrace_word::EnableWord;
///
/// static WORD: EnableWord = EnableWord::new();
/// static EV: EventSpec = EventSpec {
///     provider: "doc_check",
///     event: "ev",
///     loglevel: Loglevel::Info,
///     fields: &[FieldSpec { name: "_hidden", ty: FieldType::U32 }],
///     word: &WORD,
/// };
/// assert!(matches!(check_event("doc_check", &EV), Err(Error::InvalidFieldName { .. })));
/// ```
pub fn check_event(provider: &str, ev: &EventSpec) -> Result<(), Error> {
    check_provider_name(provider)?;
    if ev.provider != provider {
        return Err(Error::ProviderMismatch {
            provider: provider.into(),
            event: ev.event.into(),
        });
    }
    if !is_c_identifier(ev.event) || provider.len() + 1 + ev.event.len() > MAX_NAME_LEN {
        return Err(Error::InvalidEventName(ev.event.into()));
    }
    if ev.fields.len() > MAX_FIELDS {
        return Err(Error::TooManyFields {
            event: ev.event.into(),
            count: ev.fields.len(),
        });
    }
    for (j, f) in ev.fields.iter().enumerate() {
        let bad_name = !is_c_identifier(f.name)
            || f.name.starts_with('_')
            || f.name.len() + 9 > MAX_NAME_LEN
            || ev.fields[..j].iter().any(|o| o.name == f.name);
        if bad_name {
            return Err(Error::InvalidFieldName {
                event: ev.event.into(),
                field: f.name.into(),
            });
        }
        if let FieldType::Enum(labels) = f.ty {
            let bad = labels.is_empty()
                || labels
                    .iter()
                    .any(|l| l.label.is_empty() || l.label.contains('\0') || l.end < l.start);
            if bad {
                return Err(Error::InvalidEnum {
                    event: ev.event.into(),
                    field: f.name.into(),
                });
            }
        }
        if let FieldType::ByteArray(n) = f.ty {
            if n == 0 || n > MAX_ARRAY_LEN {
                return Err(Error::InvalidArrayLength {
                    event: ev.event.into(),
                    field: f.name.into(),
                });
            }
        }
    }
    Ok(())
}

/// Registers `provider` and its `events` with LTTng-UST, loading liblttng-ust on first use.
///
/// Every event must name `provider` in its [`EventSpec::provider`]. Bad definitions are refused
/// with an [`Error`] and nothing is registered. When liblttng-ust is not installed the provider
/// is still returned, inert: its events never fire and their words stay 0;
/// [`status`](crate::status) says why.
///
/// # Examples
///
/// ```
/// use cotrace_ust::{Error, EventSpec, FieldSpec, FieldType, Loglevel, register_provider};
/// use cotrace_word::EnableWord;
///
/// static WORD: EnableWord = EnableWord::new();
/// static BAD: EventSpec = EventSpec {
///     provider: "doc_bad",
///     event: "not an identifier",
///     loglevel: Loglevel::Info,
///     fields: &[],
///     word: &WORD,
/// };
/// assert!(matches!(register_provider("doc_bad", &[&BAD]), Err(Error::InvalidEventName(_))));
/// ```
pub fn register_provider(
    provider: &'static str,
    events: &[&'static EventSpec],
) -> Result<Provider, Error> {
    register(provider, events, false)
}

/// Registers `events` as one more part of `provider`: like [`register_provider`], but the
/// provider name may already be registered by this process (by [`register_provider`] or by
/// earlier parts); only its event names must be new.
///
/// For events defined at run time (cotrace's dynamic events, its `tracing` layer): each part
/// is its own probe descriptor for liblttng-ust, which lists events by `provider:event` and
/// takes several descriptors of one provider name (it keys nothing on the provider name
/// alone); `lttng list -u` shows the parts' events under the one provider, and
/// `lttng enable-event -u 'provider:*'` enables them all. liblttng-ust takes or refuses a
/// descriptor whole, so a part is the unit of refusal.
///
/// # Errors
///
/// As [`register_provider`]; [`Error::AlreadyRegistered`] (`provider:event`) when one of the
/// event names is registered already.
pub fn register_provider_part(
    provider: &'static str,
    events: &[&'static EventSpec],
) -> Result<Provider, Error> {
    register(provider, events, true)
}

fn register(
    provider: &'static str,
    events: &[&'static EventSpec],
    part: bool,
) -> Result<Provider, Error> {
    validate(provider, events)?;
    // Loading can take seconds (LTTng's registration timeout): not under the lock, which a
    // child forked meanwhile would inherit held.
    let lib = crate::loader::runtime().ok();
    let held = ACTIVE.lock();
    let taken = with_names(&held, |names| {
        if part {
            events
                .iter()
                .find(|e| names.contains(&(provider, e.event)))
                .map(|e| format!("{provider}:{}", e.event))
        } else {
            names.has_provider(provider).then(|| provider.to_owned())
        }
    });
    if let Some(name) = taken {
        return Err(Error::AlreadyRegistered(name));
    }
    // The provider's and the events' names, in one leaked buffer.
    let bytes = provider.len() + 1 + events.iter().map(|e| e.event.len() + 1).sum::<usize>();
    let mut buf = Vec::with_capacity(bytes);
    for name in core::iter::once(provider).chain(events.iter().map(|e| e.event)) {
        buf.extend_from_slice(name.as_bytes());
        buf.push(0);
    }
    let buf: &'static [u8] = Box::leak(buf.into_boxed_slice());
    let mut names = buf
        .split_inclusive(|&b| b == 0)
        .map(|name| CStr::from_bytes_with_nul(name).unwrap_or_default());
    let provider_c: &'static CStr = names.next().unwrap_or_default();
    let event_names: Vec<&'static CStr> = names.collect();
    // The call sites, one allocation for all (liblttng-ust writes their `state` and `probes`).
    let callsites: &'static mut [sys::lttng_ust_tracepoint] = if lib.is_some() {
        Box::leak(
            event_names
                .iter()
                .map(|event_c| sys::lttng_ust_tracepoint {
                    struct_size: core::mem::size_of::<sys::lttng_ust_tracepoint>() as u32,
                    provider_name: provider_c.as_ptr(),
                    event_name: event_c.as_ptr(),
                    state: 0,
                    probes: core::ptr::null_mut(),
                    tracepoint_provider_ref: core::ptr::addr_of!(PROVIDER_REF).cast_mut(),
                    signature: crate::probe::SIGNATURE.as_ptr(),
                })
                .collect(),
        )
    } else {
        &mut []
    };
    let callsites: Vec<*mut sys::lttng_ust_tracepoint> =
        callsites.iter_mut().map(core::ptr::from_mut).collect();
    let runtimes: &'static [EventRuntime] = Box::leak(
        events
            .iter()
            .zip(&event_names)
            .enumerate()
            .map(|(i, (spec, event_c))| EventRuntime {
                spec,
                provider_c,
                event_c,
                callsite: callsites.get(i).copied().unwrap_or(core::ptr::null_mut()),
                lib,
                share: cotrace_word::UserShare::new(spec.word),
                largest_align: crate::probe::largest_align(spec),
                live: AtomicBool::new(lib.is_some()),
                next: AtomicPtr::new(core::ptr::null_mut()),
            })
            .collect(),
    );
    let mut handles = Vec::with_capacity(events.len());
    for rt in runtimes {
        if lib.is_some() {
            crate::refcount::push(rt);
        }
        handles.push(EventHandle { rt });
    }
    let registration = match lib {
        None => None,
        Some(lib) => {
            let desc = crate::descriptor::build(provider_c, events, &event_names);
            let callsites: &'static [*mut sys::lttng_ust_tracepoint] =
                Box::leak(callsites.into_boxed_slice());
            // SAFETY: the call sites and descriptors are leaked (valid forever), filled as
            // LTTng-UST 2.13's ABI requires, and carry matching signature strings.
            let probe = unsafe {
                (lib.api.lttng_ust_tracepoint_module_register)(
                    callsites.as_ptr(),
                    callsites.len() as c_int,
                );
                (lib.api.lttng_ust_probe_register)(desc)
            };
            if probe.is_null() {
                // SAFETY: undoes the module registration just made.
                unsafe { (lib.api.lttng_ust_tracepoint_module_unregister)(callsites.as_ptr()) };
                for h in &handles {
                    h.rt.live.store(false, Ordering::Release);
                    crate::refcount::release_all(h.rt);
                }
                return Err(Error::Rejected(provider.into()));
            }
            crate::refcount::ensure_poller();
            Some(Registration {
                lib,
                probe,
                callsites: callsites.as_ptr(),
            })
        }
    };
    with_names(&held, |names| {
        for e in events {
            names.insert(provider, e.event);
        }
    });
    Ok(Provider {
        name: provider,
        events: handles,
        registration: AtomicPtr::new(
            registration.map_or(core::ptr::null_mut(), |r| Box::into_raw(Box::new(r))),
        ),
    })
}

/// What every call site's `tracepoint_provider_ref` points at (C points it at a per-provider
/// weak symbol; liblttng-ust 2.13 does not read it).
static PROVIDER_REF: c_int = 0;

#[allow(dead_code)]
fn _assert_send_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<EventHandle>();
    check::<Provider>();
    let _: *const c_char = core::ptr::null();
}

#[cfg(test)]
mod tests {
    use super::is_c_identifier;

    #[test]
    fn c_identifiers() {
        for ok in ["a", "_", "_a1", "Abc_9", "x".repeat(300).as_str()] {
            assert!(is_c_identifier(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a b", "a:b", "é", "a\0"] {
            assert!(!is_c_identifier(bad), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod fork_tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A thread holds the registered names' lock far longer than any bound a fork hook could
    /// wait (inside a slow registration); a child forked meanwhile registers a provider and
    /// exits: it never waits for the holder, which does not exist in it.
    #[test]
    fn a_child_registers_while_a_parent_thread_holds_the_names_for_long() {
        crate::fork::install();
        let (ready, is_ready) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let _held = ACTIVE.lock();
            ready.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(3));
        });
        is_ready.recv().unwrap();
        static WORD: cotrace_word::EnableWord = cotrace_word::EnableWord::new();
        static SPEC: EventSpec = EventSpec {
            provider: "fork_long_hold",
            event: "child",
            loglevel: crate::Loglevel::Info,
            fields: &[],
            word: &WORD,
        };
        // SAFETY: the child registers a provider and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let code = match register_provider("fork_long_hold", &[&SPEC]) {
                Ok(p) => {
                    core::mem::forget(p);
                    0
                }
                Err(_) => 3,
            };
            // SAFETY: ends the child without the harness's exit handlers.
            unsafe { libc::_exit(code) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut status = 0;
        let exited = loop {
            // SAFETY: our own child; `status` is a valid out-pointer.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                break true;
            }
            if Instant::now() > deadline {
                // SAFETY: our own child, then reaped.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                break false;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        holder.join().unwrap();
        assert!(exited, "the child did not register and exit within 10 s");
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child status {status:#x}"
        );
    }
}
