use core::fmt;

use crate::layout::{KERNEL_MASK, RESERVED_MASK, USER_MASK};

/// A decoded copy of an [`EnableWord`](crate::EnableWord), for slow paths and diagnostics.
///
/// A snapshot is a value taken at one instant; the word may change right after.
///
/// # Examples
///
/// ```
/// use cotrace_word::WordSnapshot;
///
/// let s = WordSnapshot::from_raw(0x8000_0002);
/// assert!(s.kernel_enabled());
/// assert_eq!(s.users(), 2);
/// assert_eq!(s.to_string(), "kernel on, 2 user tracers");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct WordSnapshot {
    raw: u32,
}

impl WordSnapshot {
    /// Decodes a raw word value.
    pub const fn from_raw(raw: u32) -> Self {
        Self { raw }
    }

    /// The raw value, bits as the kernel sees them.
    pub const fn raw(self) -> u32 {
        self.raw
    }

    /// True when any owner wants the event (the hot-path condition).
    pub const fn is_enabled(self) -> bool {
        self.raw != 0
    }

    /// True when bit 31 is set: the kernel (ftrace or perf) wants the event.
    pub const fn kernel_enabled(self) -> bool {
        self.raw & KERNEL_MASK != 0
    }

    /// The number of user-space tracers that want the event.
    pub const fn users(self) -> u32 {
        self.raw & USER_MASK
    }

    /// True when at least one user-space tracer wants the event.
    pub const fn users_enabled(self) -> bool {
        self.users() != 0
    }

    /// Bits 24-30, owned by other shared writers; cotrace never sets them.
    pub const fn reserved(self) -> u32 {
        (self.raw & RESERVED_MASK) >> 24
    }
}

impl fmt::Display for WordSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kernel = if self.kernel_enabled() { "on" } else { "off" };
        let users = self.users();
        let plural = if users == 1 { "" } else { "s" };
        write!(f, "kernel {kernel}, {users} user tracer{plural}")?;
        if self.reserved() != 0 {
            write!(f, ", reserved bits {:#04x}", self.reserved())?;
        }
        Ok(())
    }
}
