//! The bit layout of an enable word: the only place these numbers are written down.
//!
//! ```text
//!  31  30        24 23                                              0
//! +---+------------+-------------------------------------------------+
//! | K |  reserved  |            user-space tracer reference count     |
//! +---+------------+-------------------------------------------------+
//! ```
//!
//! The top byte is shared with writers outside cotrace: the kernel owns bit 31 and bits 24-30
//! are reserved for other shared owners, compatible with libside (which uses bit 30 for
//! ptrace). The low 24 bits are cotrace's private reference count of user-space tracers.

/// The bit the kernel's user_events sets while the event is enabled by ftrace or perf.
///
/// Pass it as `enable_bit` of `struct user_reg` (with `enable_size` [`ENABLE_SIZE`]).
pub const KERNEL_BIT: u8 = 31;

/// The mask of [`KERNEL_BIT`].
pub const KERNEL_MASK: u32 = 1 << KERNEL_BIT;

/// Bits 24-30: reserved for other shared owners; cotrace never writes them.
pub const RESERVED_MASK: u32 = 0x7f00_0000;

/// The bits written by parties other than cotrace's user-space tracers: [`KERNEL_MASK`] and
/// [`RESERVED_MASK`].
pub const SHARED_MASK: u32 = KERNEL_MASK | RESERVED_MASK;

/// The low 24 bits: the reference count of user-space tracers that want the event.
pub const USER_MASK: u32 = 0x00ff_ffff;

/// The largest reference count; [`EnableWord::acquire_user`](crate::EnableWord::acquire_user)
/// refuses beyond it, so the count can never carry into the shared bits.
pub const USER_MAX: u32 = USER_MASK;

/// The size of the word in bytes, as the kernel's `enable_size` wants it.
pub const ENABLE_SIZE: u8 = 4;

const _: () = assert!(KERNEL_MASK & USER_MASK == 0);
const _: () = assert!(RESERVED_MASK & USER_MASK == 0);
const _: () = assert!(KERNEL_MASK & RESERVED_MASK == 0);
const _: () = assert!(SHARED_MASK | USER_MASK == u32::MAX);
