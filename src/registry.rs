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
    #[cfg(feature = "kernel")]
    for event in events() {
        let _ = event.kernel.get_or_init(|| crate::kernel::register(event));
    }

    #[cfg(feature = "lttng")]
    {
        let mut providers: BTreeMap<&'static str, Vec<&'static Event>> = BTreeMap::new();
        for event in events() {
            providers
                .entry(event.desc().provider)
                .or_default()
                .push(event);
        }
        for (provider, events) in providers {
            crate::lttng::register_provider(provider, &events);
        }
    }
    #[cfg(not(feature = "lttng"))]
    let _ = BTreeMap::<(), ()>::new;
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
                #[cfg(feature = "lttng")]
                lttng: Registration::from_slot(event.lttng.get()),
                #[cfg(not(feature = "lttng"))]
                lttng: Registration::NotCompiled,
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
