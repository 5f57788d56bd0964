//! cotrace: instrument once, enable from the Linux kernel's user_events and from LTTng-UST.
//!
//! Declare events with [`provider!`], fire them with [`fire!`], and call [`init`] once at
//! start-up. Each event has one [`EnableWord`]: the kernel sets its bit 31 when ftrace or perf
//! enables the event, LTTng-UST sessions are counted in its low bits, and a call site that
//! nobody wants costs one relaxed load and a branch. When the word is non-zero the fields are
//! evaluated once and handed to every tracer that wants them.
//!
//! ```
//! cotrace::provider! {
//!     /// Request handling.
//!     pub mod myapp {
//!         /// A request finished.
//!         #[level(info)]
//!         fn request_done(id: u64, status: u16, path: &str, latency_ns: u64);
//!     }
//! }
//!
//! let status = cotrace::init(); // registers every event with every available tracer
//! println!("{status}");
//! cotrace::fire!(myapp::request_done(7, 200, "/", 1_200));
//! ```
//!
//! - [`provider!`] / [`fire!`]: declaring and firing events ([names each tracer sees, and the
//!   rules they follow](provider#names); [`#[persist]` and `#[multi_format]`](provider#attributes)).
//! - [`Field`]: the field types and how each tracer records them ([table](field)).
//! - [`Level`]: severity, mapped to LTTng loglevels.
//! - [`init`], [`status`], [`Status`]: registration and what works here.
//! - [`Event`], [`EventDesc`]: an event's static description and state.
//! - [`dynamic`]: events defined at run time ([`dynamic::EventBuilder`]), the same [`Event`]s,
//!   fired with [`Event::fire`].
//!
//! # Enabling events
//!
//! | tracer | enable | read |
//! | --- | --- | --- |
//! | LTTng-UST | `lttng create s && lttng enable-event -u 'myapp:*' && lttng start` | `lttng stop && babeltrace2 <session dir>` |
//! | ftrace | `echo 1 > /sys/kernel/tracing/events/user_events/myapp_request_done/enable` | `cat /sys/kernel/tracing/trace` |
//! | perf | `perf record -e user_events:myapp_request_done -p PID` | `perf script` |
//!
//! ## With ftrace, perf and trace-cmd
//!
//! - **The event must exist before perf or trace-cmd start**: they refuse a name the kernel
//!   does not know yet ("unknown tracepoint"). It exists once the app has called [`init`] (and
//!   until the app exits, unless the event is `#[persist]`, see [`provider!`]). Start the app,
//!   wait until `<tracefs>/events/user_events/<name>` exists (or
//!   `<tracefs>/user_events_status` lists it), then start perf.
//! - **perf may miss the first events after the bit goes up**: `perf record -a` sets bit 31 when
//!   its first per-CPU event opens, before it reads the others; events fired in between are
//!   lost. Wait for perf to be ready (e.g. a second or its first output), not only for
//!   [`Event::is_enabled`].
//! - **Small signed integers are printed unsigned** by ftrace's `trace` file, perf script and
//!   trace-cmd report (an `i8` of -128 shows as 128, an `i16` of -1 as 65535). The data is
//!   right (the kernel types are `s8`..`s64` and filters compare them signed); only the
//!   rendering is. babeltrace2 prints LTTng's records signed.
//! - ftrace's `trace` file decodes a record only while its event exists: read it before the
//!   app exits, or use `#[persist]`.
//!
//! # What [`status`] says when a tracer is missing
//!
//! `println!("{}", cotrace::status())` prints one line per tracer, then one per event. On a
//! kernel built without user_events (`CONFIG_USER_EVENTS` is off in many distributions), the kernel
//! line says so, whether or not tracefs is mounted, and mounting it would not help:
//!
//! ```text
//! kernel: unavailable: user_events unavailable: this kernel was built without CONFIG_USER_EVENTS (/proc/kallsyms has no user_events_ioctl), so mounting tracefs (not mounted either) would not help; use a Linux 6.4+ kernel with CONFIG_USER_EVENTS=y (this project's vm/run.sh boots one)
//! lttng: available: LTTng-UST: loaded (liblttng-ust.so.1 from /lib/x86_64-linux-gnu/liblttng-ust.so.1; app ABI 8); refcount: exact (...); fork: hooks installed
//! myapp:request_done (myapp_request_done): kernel off, 0 user tracers; kernel failed: user_events unavailable here (see the kernel tracer's status); lttng registered
//! ```
//!
//! Other kernel lines: tracefs not mounted on a kernel that has user_events (the `mount`
//! command to run), permission denied on `user_events_data` (run as root, or open it to a
//! group), tracefs mounted without `user_events_data` (no `CONFIG_USER_EVENTS`). The app runs
//! on in every case; the events that tracer cannot enable stay off.
//!
//! # Crate Feature Flags
//!
//! - `kernel` (default): the user_events adapter ([`cotrace_kernel`]).
//! - `lttng` (default): the LTTng-UST adapter ([`cotrace_ust`]); liblttng-ust is loaded at run
//!   time, so an app runs where it is not installed.
//!
//! - `tracing`: `cotrace::tracing::layer()`, a `tracing-subscriber` layer that makes
//!   every `tracing` callsite a dynamic event.
//!
//! With a feature off the macros still compile and that tracer is reported absent.
//!
//! # Configuration
//!
//! The kernel side needs Linux 6.4+ built with `CONFIG_USER_EVENTS=y`, tracefs mounted
//! (`/sys/kernel/tracing`) and write permission on `user_events_data` (root by default). The
//! LTTng side needs liblttng-ust 2.13 (`liblttng-ust1` on Debian) and a running
//! `lttng-sessiond`. Whatever is missing, [`status`] says so and the app runs on.
//!
//! # Supported Rust Versions
//!
//! Rust 1.87 or newer (edition 2024; 1.87 for `asm!` label operands in `fire!`'s check).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]

pub mod dynamic;
mod event;
pub mod field;
mod level;
mod macros;
mod registry;
mod status;

#[cfg(feature = "kernel")]
mod kernel;
#[cfg(feature = "lttng")]
mod lttng;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub mod tracing;

#[doc(hidden)]
#[path = "macro_support.rs"]
pub mod __macro_support;
pub(crate) use __macro_support as macro_support;

pub use __macro_support::NameRule;
pub use cotrace_word::{EnableWord, WordError, WordSnapshot};
pub use dynamic::DynamicError;
pub use event::{Event, EventDesc, FireError};
pub use field::{Field, FieldDesc, FieldKind, Value};
pub use level::Level;
pub use registry::{Events, events, init, status};
pub use status::{EventStatus, KernelWrites, Refused, Registration, Status, TracerStatus};

#[cfg(feature = "kernel")]
#[cfg_attr(docsrs, doc(cfg(feature = "kernel")))]
pub use cotrace_kernel;
#[cfg(feature = "lttng")]
#[cfg_attr(docsrs, doc(cfg(feature = "lttng")))]
pub use cotrace_ust;
