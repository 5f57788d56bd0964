//! The enable word that the Linux kernel and user-space tracers share, one per event.
//!
//! cotrace gives every event exactly one 32-bit word. The kernel's user_events sets and clears
//! [bit 31](layout::KERNEL_BIT) when someone enables the event with ftrace or perf; user-space
//! tracers (LTTng-UST sessions, in-process tracers) hold a [reference count](layout::USER_MASK)
//! in the low 24 bits. An instrumented call site costs one relaxed load and one branch,
//! [`EnableWord::is_enabled`], until any of them wants the event.
//!
//! - [`EnableWord`]: the word itself, const-constructible for a `static`.
//! - [`UserGuard`] and [`UserShare`]: a user tracer's counts, which only it can give back.
//! - [`WordSnapshot`]: a decoded copy for slow paths and diagnostics.
//! - [`layout`]: the bit layout, defined once, with a diagram.
//! - [`WordError`]: what the reference count operations can refuse.
//!
//! # The protocol
//!
//! ```text
//!  31  30        24 23                                              0
//! +---+------------+-------------------------------------------------+
//! | K |  reserved  |            user-space tracer reference count     |
//! +---+------------+-------------------------------------------------+
//!   |       |                 |
//!   |       |                 +-- +1 when a user tracer starts wanting the event, -1 when it
//!   |       |                     stops (compare-and-swap: saturates, never carries upward)
//!   |       +-- bits 24-30: owned by other shared writers (libside uses bit 30 for ptrace);
//!   |           cotrace never writes them
//!   +-- bit 31: written only by the kernel (user_events' atomic set_bit/clear_bit)
//! ```
//!
//! Four rules make concurrent writers safe:
//!
//! 1. **No plain stores.** Every write is an atomic read-modify-write that touches only its own
//!    bits, so the kernel setting bit 31 can never be lost by a user tracer's update, and the
//!    other way round. This crate has no method that stores a whole value.
//! 2. **The count cannot reach bit 24.** [`EnableWord::acquire_user`] and
//!    [`UserShare::acquire`] refuse at [`layout::USER_MAX`] and leave the word unchanged.
//! 3. **Only the holder gives a count back.** A count is held by a [`UserGuard`] (released when
//!    it drops) or a [`UserShare`] (which refuses to release more than it holds), so one
//!    tracer can never take another's count, and a forked child can drop exactly one tracer's
//!    share ([`UserShare::release_all`]).
//! 4. **The word outlives its kernel registration.** The kernel keeps the address handed to it
//!    by [`EnableWord::kernel_address`] and writes there, asynchronously, until the registration
//!    is removed. Use `static` words, or unregister before the memory is freed.
//!
//! The hot path, `word != 0`, is true when any owner wants the event: the call site then
//! evaluates its fields once and dispatches on a [`snapshot`](EnableWord::snapshot).
//!
//! # Examples
//!
//! ```
//! use cotrace_word::EnableWord;
//!
//! static REQUEST_DONE: EnableWord = EnableWord::new();
//!
//! assert!(!REQUEST_DONE.is_enabled());
//! let session = REQUEST_DONE.acquire_user().unwrap(); // a user tracer attached
//! assert!(REQUEST_DONE.is_enabled());
//! let state = REQUEST_DONE.snapshot();
//! assert_eq!((state.kernel_enabled(), state.users()), (false, 1));
//! drop(session);
//! assert!(!REQUEST_DONE.is_enabled());
//! ```
//!
//! # Crate Feature Flags
//!
//! - `kernel-emulation` (off): `EnableWord::emulate_kernel_set` and
//!   `EnableWord::emulate_kernel_clear`, atomic OR/AND of bit 31 for tests that need the
//!   kernel's part played without a kernel.
//!
//! # Supported Rust Versions
//!
//! The minimum supported Rust version is 1.87 (edition 2024; the workspace's `rust-version`).
//! The crate is `no_std` and has no dependencies.
//!
//! # Model checking
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p cotrace-word --test loom` runs the loom model in
//! `tests/loom.rs`; under `cfg(loom)` the atomics come from loom (see the private `primitive`
//! module) and [`EnableWord::new`] is not `const`.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
pub mod layout;
mod primitive;
mod share;
mod snapshot;
mod word;

pub use error::WordError;
pub use share::UserShare;
pub use snapshot::WordSnapshot;
pub use word::{EnableWord, UserGuard};
