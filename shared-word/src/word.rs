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
    /// let _count = word.acquire_user().unwrap();
    /// assert_eq!(word.snapshot().users(), 1);
    /// ```
    #[inline]
    pub fn snapshot(&self) -> WordSnapshot {
        WordSnapshot::from_raw(self.bits.load(Ordering::Relaxed))
    }

    /// Counts one user-space tracer in for as long as the returned guard lives; dropping the
    /// guard counts it out.
    ///
    /// Only the holder of a count can give it back, so one tracer can never take away another's
    /// (an in-process tracer cannot release an LTTng session's count). For a tracer that holds
    /// a varying number of counts (one per session, say), use a [`UserShare`](crate::UserShare).
    ///
    /// A compare-and-swap loop that changes only bits 0-23, so a concurrent kernel update of
    /// bit 31 is never lost and the count never carries into the shared bits.
    ///
    /// # Errors
    ///
    /// [`WordError::UserCountSaturated`] when the count is already [`USER_MAX`]; the word is
    /// unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// # use cotrace_word::EnableWord;
    /// static WORD: EnableWord = EnableWord::new();
    /// let guard = WORD.acquire_user().unwrap();
    /// assert_eq!(WORD.snapshot().users(), 1);
    /// drop(guard);
    /// assert!(!WORD.is_enabled());
    /// ```
    pub fn acquire_user(&self) -> Result<UserGuard<'_>, WordError> {
        self.add_user()?;
        Ok(UserGuard { word: self })
    }

    /// Adds one to the count; the caller now holds that count and must give it back with
    /// [`release_users`](Self::release_users).
    pub(crate) fn add_user(&self) -> Result<u32, WordError> {
        self.update_users(|users| users.checked_add(1).filter(|&n| n <= USER_MAX))
            .ok_or(WordError::UserCountSaturated)
    }

    /// Takes `n` off the count; the caller holds at least `n` counts (a guard or a share), so
    /// the count is at least `n` and this never refuses. Returns the new count.
    pub(crate) fn release_users(&self, n: u32) -> Option<u32> {
        self.update_users(|users| users.checked_sub(n))
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

/// One user-space tracer's count on an [`EnableWord`], given back when the guard is dropped.
///
/// Returned by [`EnableWord::acquire_user`]. Forgetting the guard (`mem::forget`) keeps the
/// count for good.
#[must_use = "dropping the guard at once gives the count back"]
pub struct UserGuard<'w> {
    word: &'w EnableWord,
}

impl<'w> UserGuard<'w> {
    /// The word this count is held on.
    pub fn word(&self) -> &'w EnableWord {
        self.word
    }
}

impl Drop for UserGuard<'_> {
    fn drop(&mut self) {
        // This guard holds one count, so the count is at least 1: the release cannot refuse.
        let _ = self.word.release_users(1);
    }
}

impl core::fmt::Debug for UserGuard<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("UserGuard")
            .field(&self.word.snapshot())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn acquire_release_round_trip() {
        let w = EnableWord::new();
        let a = w.acquire_user().unwrap();
        let b = w.acquire_user().unwrap();
        assert_eq!(w.snapshot().users(), 2);
        drop(a);
        assert_eq!(w.snapshot().users(), 1);
        drop(b);
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
