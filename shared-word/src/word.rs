use crate::error::WordError;
#[cfg(any(feature = "kernel-emulation", loom))]
use crate::layout::KERNEL_MASK;
use crate::layout::{SHARED_MASK, USER_MASK, USER_MAX};
use crate::primitive::{AtomicU32, Ordering};
use crate::snapshot::WordSnapshot;

/// One event's enable word: bit 31 for the kernel, a reference count of user-space tracers in
/// bits 0-23 (see [the protocol](crate#the-protocol)).
///
/// # Size and alignment
///
/// `#[repr(transparent)]` over an `AtomicU32`: 4 bytes, 4-byte aligned, as the kernel's
/// `enable_size = 4` requires. Both are checked at compile time.
///
/// # Examples
///
/// ```
/// use cotrace_word::EnableWord;
///
/// static WORD: EnableWord = EnableWord::new();
///
/// if WORD.is_enabled() {
///     unreachable!("nobody enabled the event");
/// }
/// ```
#[repr(transparent)]
#[derive(Default)]
pub struct EnableWord {
    bits: AtomicU32,
}

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<EnableWord>() == 4);
    assert!(core::mem::align_of::<EnableWord>() == 4);
};

impl EnableWord {
    /// A word with every bit clear: nobody wants the event.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            bits: AtomicU32::new(0),
        }
    }

    /// A word with every bit clear (not `const` under `cfg(loom)`).
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            bits: AtomicU32::new(0),
        }
    }

    /// The hot-path check: true when the kernel or any user tracer wants the event.
    ///
    /// One relaxed load and a compare with zero. Relaxed is enough: the word only says *whether*
    /// to do the slow path, which reads everything it needs with its own ordering.
    #[inline(always)]
    pub fn is_enabled(&self) -> bool {
        self.bits.load(Ordering::Relaxed) != 0
    }

    /// A decoded copy of the word, for dispatch and diagnostics.
    ///
    /// ```
    /// # use cotrace_word::EnableWord;
    /// let word = EnableWord::new();
    /// word.acquire_user().unwrap();
    /// assert_eq!(word.snapshot().users(), 1);
    /// ```
    #[inline]
    pub fn snapshot(&self) -> WordSnapshot {
        WordSnapshot::from_raw(self.bits.load(Ordering::Relaxed))
    }

    /// Counts one more user-space tracer wanting the event; returns the new count.
    ///
    /// A compare-and-swap loop that changes only bits 0-23, so a concurrent kernel update of
    /// bit 31 is never lost and the count never carries into the shared bits.
    ///
    /// # Errors
    ///
    /// [`WordError::UserCountSaturated`] when the count is already [`USER_MAX`]; the word is
    /// unchanged.
    pub fn acquire_user(&self) -> Result<u32, WordError> {
        self.update_users(|users| users.checked_add(1).filter(|&n| n <= USER_MAX))
            .ok_or(WordError::UserCountSaturated)
    }

    /// Counts one user-space tracer fewer; returns the new count.
    ///
    /// # Errors
    ///
    /// [`WordError::UserCountZero`] when the count is already zero (a release without its
    /// acquire); the word is unchanged.
    pub fn release_user(&self) -> Result<u32, WordError> {
        self.update_users(|users| users.checked_sub(1))
            .ok_or(WordError::UserCountZero)
    }

    /// Clears the user-tracer count and keeps the shared bits (kernel bit included); returns
    /// the word as it was.
    ///
    /// For a forked child: the kernel copies its registrations into the child, so bit 31 stays
    /// meaningful, but the parent's user-space tracer sessions are not the child's. One atomic
    /// AND.
    pub fn reset_users_after_fork(&self) -> WordSnapshot {
        WordSnapshot::from_raw(self.bits.fetch_and(SHARED_MASK, Ordering::AcqRel))
    }

    /// The address to register with the kernel (`enable_addr` of `struct user_reg`).
    ///
    /// # The contract
    ///
    /// Once registered, the kernel keeps this address and atomically sets and clears
    /// [`KERNEL_BIT`](crate::layout::KERNEL_BIT) there, from other contexts and after delays
    /// (faults are retried asynchronously), until the registration is removed with
    /// `DIAG_IOCSUNREG` or the process execs or exits. The word must therefore stay alive and
    /// at this address for the whole registration: register only `static` words, or unregister
    /// before the memory is freed. The pointer is for handing to the kernel; this crate's
    /// invariants assume no user-space code writes through it.
    #[cfg(not(loom))]
    pub fn kernel_address(&self) -> *mut u32 {
        self.bits.as_ptr()
    }

    /// Sets bit 31 with an atomic OR, as the kernel's `set_bit` does: a stand-in for the kernel
    /// in tests.
    #[cfg(any(feature = "kernel-emulation", loom))]
    #[cfg_attr(docsrs, doc(cfg(feature = "kernel-emulation")))]
    pub fn emulate_kernel_set(&self) {
        self.bits.fetch_or(KERNEL_MASK, Ordering::AcqRel);
    }

    /// Clears bit 31 with an atomic AND, as the kernel's `clear_bit` does: a stand-in for the
    /// kernel in tests.
    #[cfg(any(feature = "kernel-emulation", loom))]
    #[cfg_attr(docsrs, doc(cfg(feature = "kernel-emulation")))]
    pub fn emulate_kernel_clear(&self) {
        self.bits.fetch_and(!KERNEL_MASK, Ordering::AcqRel);
    }

    /// Applies `f` to the count with a compare-and-swap loop that keeps the shared bits as they
    /// are at the moment of the swap. Returns the new count, or `None` (word unchanged) when
    /// `f` refuses.
    fn update_users(&self, f: impl Fn(u32) -> Option<u32>) -> Option<u32> {
        let mut current = self.bits.load(Ordering::Relaxed);
        loop {
            let users = f(current & USER_MASK)?;
            debug_assert!(users <= USER_MAX);
            let new = (current & SHARED_MASK) | users;
            match self
                .bits
                .compare_exchange_weak(current, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Some(users),
                Err(actual) => current = actual,
            }
        }
    }
}

impl core::fmt::Debug for EnableWord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("EnableWord").field(&self.snapshot()).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn acquire_release_round_trip() {
        let w = EnableWord::new();
        assert_eq!(w.acquire_user(), Ok(1));
        assert_eq!(w.acquire_user(), Ok(2));
        assert_eq!(w.release_user(), Ok(1));
        assert_eq!(w.release_user(), Ok(0));
        assert_eq!(w.release_user(), Err(WordError::UserCountZero));
        assert_eq!(w.snapshot().raw(), 0);
    }

    #[test]
    fn kernel_address_is_the_word() {
        let w = EnableWord::new();
        assert_eq!(
            w.kernel_address() as usize,
            &w as *const EnableWord as usize
        );
        assert_eq!(w.kernel_address() as usize % 4, 0);
    }
}
