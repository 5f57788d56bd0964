//! The Linux user_events half of cotrace: registers an event's enable word with the kernel so
//! that ftrace or perf set its bit 31, and writes the event's fields to the kernel.
//!
//! - [`availability`]: whether user_events can be used here, or an [`Unavailable`] that says
//!   what is missing and how to fix it.
//! - [`EventFormat`] and [`FieldType`]: an event's name and typed fields, validated before any
//!   system call and rendered as the kernel's `name_args` (`"ev u32 a; __data_loc char[] s"`).
//! - [`register`] / [`register_with`] ([`RegisterOptions`]): hand a `&'static`
//!   [`EnableWord`](cotrace_word::EnableWord) to the kernel; the [`Registration`] unregisters on
//!   drop.
//! - [`Registration::write`] with [`Value`]s: one `writev`, no heap allocation;
//!   [`WriteOutcome::NotEnabled`] when nobody listens, [`WriteOutcome::Truncated`] when the
//!   event was cut to [`MAX_PAYLOAD`]; [`Registration::write_stats`] ([`WriteStats`]) counts
//!   truncated, dropped and failed writes.
//! - [`descriptor_status`] ([`DescriptorStatus`]): whether the process's `user_events_data`
//!   descriptor is still open, was reopened, or is lost (closed by the application).
//! - [`delete`]: remove an event (needed for persistent ones).
//! - Errors: [`Error`], [`FormatError`], [`WriteError`], [`Errno`].
//!
//! # How it works
//!
//! One descriptor of `<tracefs>/user_events_data` is opened per process, lazily, with
//! `O_CLOEXEC` (tracefs is looked for at `/sys/kernel/tracing`, then `/sys/kernel/debug/tracing`,
//! then in `/proc/mounts`), and moved to a high number (in the top quarter below
//! `min(RLIMIT_NOFILE, 4096)`, at a place derived from this crate's name and version, so two
//! copies of the crate in one process keep apart, with `F_DUPFD_CLOEXEC`); a private duplicate
//! is kept at a second high number. If the application closes it (daemons close every
//! descriptor from 3 up), the next failed write checks that the number is still this open file
//! (`kcmp(KCMP_FILE)` against the duplicate: every open of `user_events_data` has the same
//! inode) before its error is believed, nothing is ever sent to that number again, and the
//! events re-register on a fresh descriptor; if none can be opened the writes are dropped
//! (counted) and [`descriptor_status`] says why and how to get them back.
//! [`verify_descriptor_before_each_write`] also checks before every enabled write, for
//! applications that may put their own file at that very number. Registration (`DIAG_IOCSREG`) passes the word's address with
//! `enable_bit = 31` and `enable_size = 4`: from then on the kernel atomically sets bit 31 when
//! the event is enabled and clears it when disabled, leaving the low bits (cotrace's user-space
//! tracer count) alone. The kernel answers with a write index; a write is
//! `writev(fd, [write_index, fixed fields..., dynamic data...])`. Dropping the registration
//! unregisters (`DIAG_IOCSUNREG`); the kernel deletes a non-persistent event when its last
//! registration goes.
//!
//! # Threads and `fork`
//!
//! The kernel keeps a process's enablers (each registered word's address and bit) per group of
//! threads, not per process: a registration from a thread outside any group starts one, threads
//! that thread starts afterwards join it, `fork` from one of them copies it into the child, and
//! it is dropped with all its enablers when its last thread exits (`user_event_mm` in
//! kernel/trace/trace_events_user.c). So every word is also registered from cotrace's registrar
//! thread, `cotrace-user-events`: it is started by the first thread that registers, right after
//! that registration (so it joins that thread's group and keeps it alive), and lives until the
//! process exits or execs. A word registered from a worker thread keeps following ftrace and
//! perf after that thread ends, and unregisters from any thread
//! ([`Registration::outlives_registering_thread`]). A forked child gets the registrations of
//! the forking thread's group; its first registration starts its own registrar.
//!
//! # What the kernel returns
//!
//! | errno | where | reported as |
//! |---|---|---|
//! | `EADDRINUSE` | register: word already registered | [`Error::WordInUse`] |
//! | `EADDRINUSE` | register: name taken by other fields | [`Error::FormatConflict`] |
//! | `EINVAL` | register: format or flags refused | [`Error::Kernel`] (MULTI_FORMAT is retried without) |
//! | `EPERM` | register with PERSIST without CAP_PERFMON | [`Error::PersistNotPermitted`] |
//! | `EBUSY` | delete: event in use (retried briefly) | [`Error::Busy`] |
//! | `ENOENT` | delete: no such event | [`Error::NotFound`] |
//! | `EBADF` | write: nobody enabled the event (our descriptor, identity checked) | `Ok(`[`WriteOutcome::NotEnabled`]`)` |
//! | any | write: the descriptor is no longer ours | renewed and sent again, or [`WriteError::DescriptorLost`] |
//! | other | write | [`WriteError::Kernel`] |
//!
//! # Oversized events
//!
//! ftrace drops an event larger than its ring-buffer page without a word (measured on 6.12: a
//! payload of 4064 bytes is recorded, 4065 is not), and perf drops events over 8 KiB with a
//! kernel `WARN_ONCE`. A write whose payload exceeds [`MAX_PAYLOAD`] (4064) has its dynamic
//! fields cut to fit: small ones are kept whole, large ones share the rest; a cut string ends
//! with [`TRUNCATION_MARK`]. The outcome is [`WriteOutcome::Truncated`]; nothing is refused for
//! its size and the kernel never warns.
//!
//! # Configuration
//!
//! - Linux 6.4 or newer built with `CONFIG_USER_EVENTS=y` (Debian's kernels do not enable it;
//!   this project's `vm/run.sh` boots one that does). MULTI_FORMAT needs 6.9.
//! - tracefs mounted (`mount -t tracefs nodev /sys/kernel/tracing`).
//! - `user_events_data` is mode 0640, owner root: run as root or grant the group access.
//! - PERSIST needs `CAP_PERFMON`.
//!
//! Without these the process keeps running: [`register`] returns [`Error::Unavailable`] and
//! nothing is ever written.
//!
//! # Examples
//!
//! ```
//! use cotrace_kernel::{EventFormat, FieldType, Value, WriteOutcome};
//! use cotrace_word::EnableWord;
//!
//! static WORD: EnableWord = EnableWord::new();
//!
//! let format = EventFormat::new("lib_example")?
//!     .field("code", FieldType::U32)?
//!     .field("what", FieldType::Str)?;
//! let registration = match cotrace_kernel::register(&WORD, format) {
//!     Ok(r) => r,
//!     Err(why) => {
//!         eprintln!("kernel tracing disabled: {why}");
//!         return Ok(());
//!     }
//! };
//! // The hot path: one load; only when bit 31 is set does anything else happen.
//! if WORD.is_enabled() {
//!     let outcome = registration.write(&[Value::U32(200), Value::Str("ok")])?;
//!     assert!(matches!(outcome, WriteOutcome::Written | WriteOutcome::NotEnabled));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate Feature Flags
//!
//! None.
//!
//! # Supported Rust Versions
//!
//! The minimum supported Rust version is 1.87 (edition 2024; the workspace's `rust-version`).
#![deny(unsafe_code)]

mod anchor;
mod errno;
mod error;
mod fork;
mod format;
mod live;
mod register;
mod sys;
mod tracefs;
mod write;

pub use errno::Errno;
pub use error::{Error, FormatError, Op, Result, Unavailable, WriteError};
pub use fork::{AfterFork, after_fork};
pub use format::{
    EventFormat, Field, FieldType, MAX_CHARS, MAX_FIELDS, MAX_FIXED_SIZE, MAX_NAME_ARGS,
    MAX_NAME_LEN,
};
pub use register::{
    BATCH_MAX, RegisterOptions, Registration, delete, register, register_many, register_with,
};
pub use tracefs::{DescriptorStatus, availability, descriptor_status, tracefs_dir};
pub use write::{
    MAX_PAYLOAD, TRUNCATION_MARK, Value, WriteOutcome, WriteStats,
    verify_descriptor_before_each_write,
};

/// Compile-time checks of promises made in the docs.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Registration>();
    send_sync::<EventFormat>();
    send_sync::<Error>();
    send_sync::<crate::tracefs::DataFile>();
};
