//! The registry of events: every event declared with [`provider!`](crate::provider) (listed
//! by the linker) and every event defined at run time ([`crate::dynamic`]); their registration
//! with every available tracer, and the status report.
//!
//! # The run-time list
//!
//! Events defined at run time are kept in a read-mostly list behind an
//! [`ArcSwapOption`]: readers ([`events`], [`status`], and so [`init`]) take a snapshot
//! without a lock, and a definition, serialised by the registry's lock (which also orders it
//! with [`init`]), publishes a new list with the event appended. Events are never removed, so a
//! snapshot is always a prefix of the current list.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;

use crate::event::Event;
use crate::macro_support::EVENTS;
#[cfg(not(all(feature = "kernel", feature = "lttng")))]
use crate::status::TracerStatus;
use crate::status::{EventStatus, Registration, Status};

/// Events defined at run time, in definition order.
static DYNAMIC: ArcSwapOption<Dynamic> = ArcSwapOption::const_empty();

/// Slots in the first chunk of [`Dynamic`]; each next chunk has twice as many.
const FIRST_CHUNK: usize = 1024;

/// A snapshot of the events defined at run time: the first `len` slots of chunks of doubling
/// size. A definition fills the next slot in place and publishes a snapshot one longer, so it
/// copies the list of chunks (a handful) rather than every event before it.
#[derive(Debug)]
struct Dynamic {
    chunks: Vec<Arc<[AtomicPtr<Event>]>>,
    len: usize,
}

impl Dynamic {
    /// The chunk and the slot in it of event `i`.
    fn locate(i: usize) -> (usize, usize) {
        let chunk = (i / FIRST_CHUNK + 1).ilog2() as usize;
        (chunk, i - FIRST_CHUNK * ((1 << chunk) - 1))
    }

    #[allow(unsafe_code)]
    fn get(&self, i: usize) -> Option<&'static Event> {
        if i >= self.len {
            return None;
        }
        let (chunk, slot) = Self::locate(i);
        let event = self.chunks[chunk][slot].load(Ordering::Acquire);
        // SAFETY: a slot below `len` holds a pointer from `Box::leak` (see `EventBuilder::
        // register`), never freed, stored (release) before this snapshot was published.
        unsafe { event.as_ref() }
    }
}

/// Serialises [`init`]'s registration and every run-time definition. A child forked while a
/// thread of its parent held it (for seconds, while `init` loads liblttng-ust) takes it over
/// ([`cotrace_fork::Lock`]) and finds each event registered or not (an event's outcomes are
/// set with one atomic swap), so it can finish what its parent's thread was doing.
static REGISTRY: cotrace_fork::Lock = cotrace_fork::Lock::new();
/// `true` once [`init`] has registered the events (a definition after that registers its
/// event at once); written under [`REGISTRY`].
static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Proof that the caller holds the registry's lock.
pub(crate) type RegistryGuard = cotrace_fork::LockGuard<'static>;

pub(crate) fn lock() -> RegistryGuard {
    REGISTRY.lock()
}

/// Every event of the program: those declared with [`provider!`](crate::provider) (its
/// dependencies included, in link order), then those [defined at run time](crate::dynamic),
/// in definition order (a snapshot: events defined later are not seen).
pub fn events() -> Events {
    Events {
        statics: EVENTS.iter(),
        dynamic: DYNAMIC.load_full(),
        next: 0,
    }
}

/// The iterator of [`events`].
#[derive(Debug)]
pub struct Events {
    statics: core::slice::Iter<'static, &'static Event>,
    dynamic: Option<Arc<Dynamic>>,
    next: usize,
}

impl Iterator for Events {
    type Item = &'static Event;

    fn next(&mut self) -> Option<&'static Event> {
        if let Some(&event) = self.statics.next() {
            return Some(event);
        }
        let event = self.dynamic.as_ref()?.get(self.next)?;
        self.next += 1;
        Some(event)
    }

    fn nth(&mut self, n: usize) -> Option<&'static Event> {
        let statics = self.statics.len();
        if n < statics {
            return self.statics.nth(n).copied();
        }
        self.statics = Default::default();
        self.next += n - statics;
        self.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.statics.len()
            + self
                .dynamic
                .as_ref()
                .map_or(0, |d| d.len.saturating_sub(self.next));
        (n, Some(n))
    }
}

impl ExactSizeIterator for Events {}

/// An event of the program that a new definition's name collides with (see [`taken`]).
pub(crate) enum Taken {
    /// The same `provider:event`.
    Name(&'static Event),
    /// The same user_events name.
    KernelName(&'static Event),
}

/// Every event of the program by LTTng name and by kernel name, so that a definition checks
/// its names in O(1) rather than against each event. Caught up lazily with [`events`] (which
/// only grows), by the thread that holds [`lock`].
#[derive(Default)]
struct NameIndex {
    by_name: HashMap<(&'static str, &'static str), &'static Event>,
    by_kernel_name: HashMap<&'static str, &'static Event>,
    /// How many of [`events`]' events are indexed.
    indexed: usize,
}

/// The index, behind a mutex taken only while [`lock`] is held (so never contended). A child
/// forked while a thread of its parent held [`lock`] (its guard is then
/// [orphaned](cotrace_fork::LockGuard::orphaned)) starts a fresh index: the old one may be
/// half updated, or its mutex held by a thread the child does not have.
static NAME_INDEX: ArcSwapOption<Mutex<NameIndex>> = ArcSwapOption::const_empty();

/// The event whose names `provider:name` or `kernel_name` would take, if any; the caller
/// holds [`lock`].
pub(crate) fn taken(
    held: &RegistryGuard,
    provider: &'static str,
    name: &'static str,
    kernel_name: &'static str,
) -> Option<Taken> {
    let index = match NAME_INDEX.load_full() {
        Some(index) if !held.orphaned() => index,
        _ => {
            let fresh = Arc::new(Mutex::new(NameIndex::default()));
            NAME_INDEX.store(Some(fresh.clone()));
            fresh
        }
    };
    let mut index = index.lock().unwrap_or_else(PoisonError::into_inner);
    let index = &mut *index;
    for event in events().skip(index.indexed) {
        let desc = event.desc();
        index
            .by_name
            .entry((desc.provider, desc.name))
            .or_insert(event);
        index
            .by_kernel_name
            .entry(desc.kernel_name)
            .or_insert(event);
        index.indexed += 1;
    }
    if let Some(&e) = index.by_name.get(&(provider, name)) {
        return Some(Taken::Name(e));
    }
    index
        .by_kernel_name
        .get(kernel_name)
        .map(|&e| Taken::KernelName(e))
}

/// Adds an event defined at run time to the list; the caller holds [`lock`].
pub(crate) fn publish(_held: &RegistryGuard, event: &'static Event) {
    let (mut chunks, len) = DYNAMIC
        .load_full()
        .map(|d| (d.chunks.clone(), d.len))
        .unwrap_or_default();
    let (chunk, slot) = Dynamic::locate(len);
    if chunk == chunks.len() {
        chunks.push(
            (0..FIRST_CHUNK << chunk)
                .map(|_| AtomicPtr::new(core::ptr::null_mut()))
                .collect(),
        );
    }
    chunks[chunk][slot].store(core::ptr::from_ref(event).cast_mut(), Ordering::Release);
    DYNAMIC.store(Some(Arc::new(Dynamic {
        chunks,
        len: len + 1,
    })));
}

/// Registers every declared event with every tracer compiled in and available here, once;
/// returns the [status](status) after it.
///
/// Idempotent and thread-safe: later calls only return the status. Call it early in `main`:
/// before it, every event is off (nobody has the words to switch on). After it, `lttng list -u`
/// and `<tracefs>/user_events_status` list the events even before they fire. Events
/// [defined at run time](crate::dynamic) before it are registered with the others; those
/// defined after it are registered when they are defined.
///
/// A tracer that is missing (no user_events in this kernel, no permission, no liblttng-ust) is
/// not an error: its events stay off and [`Status`] says why.
///
/// ```
/// cotrace::provider! { pub mod app { fn started(pid: u32); } }
///
/// let status = cotrace::init();
/// assert!(status.events.iter().any(|e| e.lttng_name == "app:started"));
/// assert_eq!(cotrace::init().events.len(), status.events.len()); // idempotent
/// ```
pub fn init() -> Status {
    if !INITIALIZED.load(Ordering::Acquire) {
        let held = lock();
        // A child forked while its parent's thread was registering here takes the lock over
        // and registers what that thread had not.
        if !INITIALIZED.load(Ordering::Acquire) {
            register_all(&held);
            INITIALIZED.store(true, Ordering::Release);
        }
    }
    status()
}

/// Whether [`init`] has registered the events (the caller holds [`lock`]).
pub(crate) fn initialized(_held: &RegistryGuard) -> bool {
    INITIALIZED.load(Ordering::Acquire)
}

/// Registers every event not registered yet (all of them, but in a child forked while its
/// parent's thread was here) with every tracer.
fn register_all(_held: &RegistryGuard) {
    let conflicts = Conflicts::find(events());

    #[cfg(feature = "kernel")]
    {
        // Those without a conflict in one batch (the system calls back to back).
        let mut batch = Vec::new();
        for event in events().filter(|e| e.kernel.get().is_none()) {
            match conflicts.kernel(event) {
                Some(why) => {
                    let _ = event.kernel.set(Box::new(Err(why)));
                }
                None => batch.push(event),
            }
        }
        for (event, outcome) in batch.iter().zip(crate::kernel::register_many(&batch)) {
            let _ = event.kernel.set(Box::new(outcome));
        }
    }

    #[cfg(feature = "lttng")]
    {
        let mut providers: BTreeMap<&'static str, Vec<&'static Event>> = BTreeMap::new();
        for event in events().filter(|e| e.lttng.get().is_none()) {
            if let Some(why) = conflicts.lttng(event) {
                let _ = event.lttng.set(Box::new(Err(why)));
                continue;
            }
            providers
                .entry(event.desc().provider)
                .or_default()
                .push(event);
        }
        for (provider, events) in providers {
            crate::lttng::register_provider(provider, &events, false);
        }
    }
    #[cfg(not(any(feature = "kernel", feature = "lttng")))]
    let _ = conflicts;
}

/// Registers one event defined after [`init`] with every tracer, at once (the caller holds
/// [`lock`] and has checked its names against every other event). For LTTng it is one more
/// probe descriptor of its provider ([`cotrace_ust::register_provider_part`]).
pub(crate) fn register_now(_held: &RegistryGuard, event: &'static Event) {
    #[cfg(feature = "kernel")]
    let _ = event.kernel.set(Box::new(crate::kernel::register(event)));
    #[cfg(feature = "lttng")]
    crate::lttng::register_provider(event.desc().provider, &[event], true);
    let _ = event;
}

/// Events whose names collide with another event of the program, and why. They are refused,
/// never merged: two declarations of one `provider:event` (the same provider name in two
/// modules) by both tracers; two events whose kernel names are equal (`a_b::c` and `a::b_c`
/// are both `a_b_c`) by the kernel side only.
struct Conflicts {
    /// Both tracers refuse these (keyed by the event's address).
    both: BTreeMap<usize, String>,
    /// The kernel side refuses these.
    kernel: BTreeMap<usize, String>,
}

impl Conflicts {
    fn find(events: impl Iterator<Item = &'static Event>) -> Self {
        let key = |e: &'static Event| core::ptr::from_ref(e) as usize;
        let mut by_name: BTreeMap<(&str, &str), Vec<&'static Event>> = BTreeMap::new();
        let mut by_kernel_name: BTreeMap<&str, Vec<&'static Event>> = BTreeMap::new();
        for event in events {
            let desc = event.desc();
            by_name
                .entry((desc.provider, desc.name))
                .or_default()
                .push(event);
            by_kernel_name
                .entry(desc.kernel_name)
                .or_default()
                .push(event);
        }
        let modules = |group: &[&'static Event]| {
            group
                .iter()
                .map(|e| format!("`{}`", e.desc().module_path))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut both = BTreeMap::new();
        for ((provider, name), group) in &by_name {
            if group.len() > 1 {
                let times = match group.len() {
                    2 => "twice".to_owned(),
                    n => format!("{n} times"),
                };
                let why = format!(
                    "`{provider}:{name}` is declared {times} (in modules {}): a provider's \
                     events may be spread over modules, but each event name once; rename or \
                     remove all but one",
                    modules(group)
                );
                for &e in group {
                    both.insert(key(e), why.clone());
                }
            }
        }
        let mut kernel = BTreeMap::new();
        for (kernel_name, group) in &by_kernel_name {
            let mut names: Vec<String> = group.iter().map(|e| e.desc().lttng_name()).collect();
            names.sort();
            names.dedup();
            if names.len() > 1 {
                let why = format!(
                    "kernel event name `{kernel_name}` would be shared by {} (in modules {}): \
                     user_events would merge them into one event, so none is registered with \
                     the kernel; rename one (their LTTng names differ and are unaffected)",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(" and "),
                    modules(group)
                );
                for &e in group {
                    kernel.entry(key(e)).or_insert_with(|| why.clone());
                }
            }
        }
        Self { both, kernel }
    }

    /// Why the kernel side of `event` is refused, if it is.
    #[allow(dead_code)] // without the kernel feature
    fn kernel(&self, event: &'static Event) -> Option<String> {
        let key = core::ptr::from_ref(event) as usize;
        self.both.get(&key).or(self.kernel.get(&key)).cloned()
    }

    /// Why the LTTng side of `event` is refused, if it is.
    #[allow(dead_code)] // without the lttng feature
    fn lttng(&self, event: &'static Event) -> Option<String> {
        self.both
            .get(&(core::ptr::from_ref(event) as usize))
            .cloned()
    }
}

/// What each tracer can do here, and the state of every declared event.
///
/// ```
/// let status = cotrace::status();
/// println!("{status}");
/// ```
pub fn status() -> Status {
    let events = events()
        .map(|event| {
            let desc = event.desc();
            EventStatus {
                lttng_name: desc.lttng_name(),
                kernel_name: desc.kernel_name,
                level: desc.level,
                fields: desc.fields,
                word: event.snapshot(),
                #[cfg(feature = "kernel")]
                kernel: Registration::from_slot(event.kernel.get()),
                #[cfg(not(feature = "kernel"))]
                kernel: Registration::NotCompiled,
                #[cfg(feature = "kernel")]
                kernel_note: event
                    .kernel
                    .get()
                    .and_then(|r| r.as_ref().ok())
                    .and_then(|k| k.note.clone()),
                #[cfg(not(feature = "kernel"))]
                kernel_note: None,
                #[cfg(feature = "lttng")]
                lttng: Registration::from_slot(event.lttng.get()),
                #[cfg(not(feature = "lttng"))]
                lttng: Registration::NotCompiled,
                kernel_writes: event.kernel_writes(),
            }
        })
        .collect();
    Status {
        #[cfg(feature = "kernel")]
        kernel: crate::kernel::tracer_status(),
        #[cfg(not(feature = "kernel"))]
        kernel: TracerStatus::not_compiled("kernel"),
        #[cfg(feature = "lttng")]
        lttng: crate::lttng::tracer_status(),
        #[cfg(not(feature = "lttng"))]
        lttng: TracerStatus::not_compiled("lttng"),
        events,
        refused: crate::status::refused(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_chunks_double() {
        assert_eq!(Dynamic::locate(0), (0, 0));
        assert_eq!(Dynamic::locate(FIRST_CHUNK - 1), (0, FIRST_CHUNK - 1));
        assert_eq!(Dynamic::locate(FIRST_CHUNK), (1, 0));
        assert_eq!(
            Dynamic::locate(3 * FIRST_CHUNK - 1),
            (1, 2 * FIRST_CHUNK - 1)
        );
        assert_eq!(Dynamic::locate(3 * FIRST_CHUNK), (2, 0));
        assert_eq!(Dynamic::locate(7 * FIRST_CHUNK), (3, 0));
    }
}
