//! Registration of every declared event with every available tracer, and the status report.

use std::collections::BTreeMap;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::event::Event;
use crate::macro_support::EVENTS;
#[cfg(not(all(feature = "kernel", feature = "lttng")))]
use crate::status::TracerStatus;
use crate::status::{EventStatus, Registration, Status};

/// Every event declared with [`provider!`](crate::provider) in the program, its dependencies
/// included, in link order.
pub fn events() -> impl ExactSizeIterator<Item = &'static Event> {
    EVENTS.iter().copied()
}

/// Registers every declared event with every tracer compiled in and available here, once;
/// returns the [status](status) after it.
///
/// Idempotent and thread-safe: later calls only return the status. Call it early in `main`:
/// before it, every event is off (nobody has the words to switch on). After it, `lttng list -u`
/// and `<tracefs>/user_events_status` list the events even before they fire.
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
    static ONCE: Once = Once::new();
    // The process that started registering. A child forked meanwhile (loading liblttng-ust can
    // take seconds) has a copy of `ONCE` that waits for a thread that does not exist in it:
    // the child returns the status as it is (cotrace-ust keeps its LTTng side off) instead.
    static STARTED_IN: AtomicU32 = AtomicU32::new(0);
    let me = std::process::id();
    let _ = STARTED_IN.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire);
    if STARTED_IN.load(Ordering::Acquire) != me && !ONCE.is_completed() {
        return status();
    }
    ONCE.call_once(register_all);
    status()
}

fn register_all() {
    let conflicts = Conflicts::find(events());

    #[cfg(feature = "kernel")]
    for event in events() {
        let outcome = match conflicts.kernel(event) {
            Some(why) => Err(why),
            None => crate::kernel::register(event),
        };
        let _ = event.kernel.set(outcome);
    }

    #[cfg(feature = "lttng")]
    {
        let mut providers: BTreeMap<&'static str, Vec<&'static Event>> = BTreeMap::new();
        for event in events() {
            if let Some(why) = conflicts.lttng(event) {
                let _ = event.lttng.set(Err(why));
                continue;
            }
            providers
                .entry(event.desc().provider)
                .or_default()
                .push(event);
        }
        for (provider, events) in providers {
            crate::lttng::register_provider(provider, &events);
        }
    }
    #[cfg(not(any(feature = "kernel", feature = "lttng")))]
    let _ = conflicts;
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
    }
}
