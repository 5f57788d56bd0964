use crate::error::WordError;
use crate::primitive::{AtomicU32, Ordering};
use crate::word::EnableWord;

/// One user-space tracer's share of an [`EnableWord`]'s count: the counts this tracer added,
/// which only it can take back.
///
/// A tracer that attaches to an event a varying number of times (LTTng: once per session and
/// per trigger) keeps one share per event. [`acquire`](Self::acquire) adds one to the word and
/// to the share; [`release`](Self::release) takes one back only if the share holds one, so a
/// tracer can never release another's count; [`release_all`](Self::release_all) gives back
/// exactly this share (in a forked child, say, where this tracer's sessions are gone but
/// another tracer's counts are still meant). Dropping the share releases what it holds.
///
/// # The invariant
///
/// The word's count is at least the sum of what all shares and guards hold: an acquire adds to
/// the word before the share, a release takes from the share before the word. So a release by
/// a holder never finds the word's count at zero.
///
/// # Examples
///
/// ```
/// use cotrace_word::{EnableWord, UserShare, WordError};
///
/// static WORD: EnableWord = EnableWord::new();
/// static LTTNG: UserShare<'static> = UserShare::new(&WORD);
/// let in_process = UserShare::new(&WORD);
///
/// LTTNG.acquire().unwrap(); // a session attached
/// assert_eq!(in_process.release(), Err(WordError::NotHeld)); // cannot take LTTng's count
/// assert_eq!(WORD.snapshot().users(), 1);
/// in_process.acquire().unwrap();
/// assert_eq!(LTTNG.release_all(), 1); // e.g. in a forked child: only LTTng's share goes
/// assert_eq!(WORD.snapshot().users(), 1);
/// ```
pub struct UserShare<'w> {
    word: &'w EnableWord,
    held: AtomicU32,
}

impl<'w> UserShare<'w> {
    /// An empty share of `word`.
    #[cfg(not(loom))]
    pub const fn new(word: &'w EnableWord) -> Self {
        Self {
            word,
            held: AtomicU32::new(0),
        }
    }

    /// An empty share of `word` (not `const` under `cfg(loom)`).
    #[cfg(loom)]
    pub fn new(word: &'w EnableWord) -> Self {
        Self {
            word,
            held: AtomicU32::new(0),
        }
    }

    /// The word this share counts on.
    pub fn word(&self) -> &'w EnableWord {
        self.word
    }

    /// How many counts this share holds.
    pub fn held(&self) -> u32 {
        self.held.load(Ordering::Acquire)
    }

    /// Adds one to the word's count, held by this share; returns how many the share holds.
    ///
    /// # Errors
    ///
    /// [`WordError::UserCountSaturated`] when the word's count is at
    /// [`USER_MAX`](crate::layout::USER_MAX); nothing changes.
    pub fn acquire(&self) -> Result<u32, WordError> {
        self.word.add_user()?;
        Ok(self.held.fetch_add(1, Ordering::AcqRel) + 1)
    }

    /// Gives back one count this share holds; returns how many it still holds.
    ///
    /// # Errors
    ///
    /// [`WordError::NotHeld`] when the share holds none (whatever other tracers hold); nothing
    /// changes.
    pub fn release(&self) -> Result<u32, WordError> {
        let before = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .map_err(|_| WordError::NotHeld)?;
        // The share held it, so the word's count is at least 1 (see the invariant).
        let _ = self.word.release_users(1);
        Ok(before - 1)
    }

    /// Gives back every count this share holds, and nobody else's; returns how many.
    ///
    /// One swap of the share and one compare-and-swap loop on the word: usable in a forked
    /// child's `pthread_atfork` handler.
    pub fn release_all(&self) -> u32 {
        let n = self.held.swap(0, Ordering::AcqRel);
        if n != 0 {
            let _ = self.word.release_users(n);
        }
        n
    }
}

impl Drop for UserShare<'_> {
    fn drop(&mut self) {
        self.release_all();
    }
}

impl core::fmt::Debug for UserShare<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UserShare")
            .field("held", &self.held())
            .field("word", &self.word.snapshot())
            .finish()
    }
}
