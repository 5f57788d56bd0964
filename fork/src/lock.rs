//! [`Lock`]: a lock a forked child takes over from its parent's threads; [`Shared`]: a value
//! replaced whole under one.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;

/// A lock without data, which a forked child never waits on for a thread of its parent.
///
/// Its holder is tagged with the holder's process: its fork [`generation`](crate::generation)
/// and process id. A thread waits (sleeping briefly) while a thread of its own process holds
/// it; a thread that finds it held by another process (an ancestor: memory comes from nowhere
/// else) takes it over at once, and its guard says so ([`LockGuard::orphaned`]): what the lock
/// protects may have been left half done there, so keep it consistent at every instant
/// ([`Shared`]) or check it again.
///
/// The generation decides where process ids cannot (a child in a new pid namespace can have
/// its parent's id; ids are reused); the id catches a child made without `pthread_atfork`
/// handlers running (a raw `clone` system call).
///
/// Nothing is held across `fork` and no fork waits for it. Not reentrant.
///
/// # Examples
///
/// ```
/// use cotrace_fork::Lock;
///
/// static LOCK: Lock = Lock::new();
/// let held = LOCK.lock();
/// assert!(!held.orphaned());
/// assert!(LOCK.try_lock().is_none());
/// drop(held);
/// ```
#[derive(Debug)]
pub struct Lock {
    /// [`tag`] of the holder's process; 0 while free.
    holder: AtomicU64,
    /// The holding thread ([`this_thread`]); 0 while free.
    owner: AtomicUsize,
}

/// Proof that a [`Lock`] is held; releases it on drop.
#[must_use = "the lock is released when the guard drops"]
#[derive(Debug)]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    tag: u64,
    orphaned: bool,
}

/// This process among its ancestors and descendants: its fork generation and process id
/// (never 0). Memory holding another value was written by an ancestor. See [`Lock`] for why
/// both.
///
/// # Examples
///
/// ```
/// assert_eq!(cotrace_fork::process_tag() >> 32, u64::from(cotrace_fork::generation()));
/// ```
pub fn process_tag() -> u64 {
    (u64::from(crate::generation()) << 32) | u64::from(std::process::id())
}

fn tag() -> u64 {
    process_tag()
}

/// The calling thread, as a number unique among the process's live threads (the address of a
/// thread-local).
fn this_thread() -> usize {
    thread_local! {
        static MARK: u8 = const { 0 };
    }
    MARK.with(|m| core::ptr::from_ref(m) as usize)
}

/// The longest sleep between two attempts to take a held lock.
const MAX_BACKOFF: Duration = Duration::from_millis(1);

impl Lock {
    /// A free lock.
    pub const fn new() -> Self {
        Self {
            holder: AtomicU64::new(0),
            owner: AtomicUsize::new(0),
        }
    }

    /// For a fork `prepare` hook: takes the lock (waiting for a holder of this process, as
    /// [`lock`](Self::lock)) so that no thread is half way through what it guards at the fork,
    /// unless the calling thread holds it already (a fork from a signal handler that interrupted
    /// the holder: `None`, the fork goes ahead). Drop the guard after the fork in the parent and
    /// in the child: the child's copy releases the child's lock.
    pub fn lock_across_fork(&self) -> Option<LockGuard<'_>> {
        if self.owner.load(Ordering::Relaxed) == this_thread()
            && self.holder.load(Ordering::Relaxed) == tag()
        {
            return None;
        }
        Some(self.lock())
    }

    /// Takes the lock: waits while another thread of this process holds it; takes it over at
    /// once from a thread of an ancestor process (which does not exist here).
    pub fn lock(&self) -> LockGuard<'_> {
        let mine = tag();
        let mut backoff = Duration::from_micros(10);
        loop {
            if let Some(guard) = self.attempt(mine) {
                return guard;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Takes the lock if no thread of this process holds it (taking it over from an ancestor's).
    pub fn try_lock(&self) -> Option<LockGuard<'_>> {
        self.attempt(tag())
    }

    fn attempt(&self, mine: u64) -> Option<LockGuard<'_>> {
        let seen = self.holder.load(Ordering::Relaxed);
        if seen == mine {
            return None;
        }
        self.holder
            .compare_exchange(seen, mine, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| {
                self.owner.store(this_thread(), Ordering::Relaxed);
                LockGuard {
                    lock: self,
                    tag: mine,
                    orphaned: seen != 0,
                }
            })
    }
}

impl Default for Lock {
    fn default() -> Self {
        Self::new()
    }
}

impl LockGuard<'_> {
    /// The [`process_tag`] the lock was taken with: the calling process's, read once when the
    /// lock was taken (`getpid` is a system call each time, glibc does not cache it), for
    /// callers that need the tag or the pid again while they hold the lock.
    pub fn process_tag(&self) -> u64 {
        self.tag
    }

    /// Whether the lock was taken over from a thread of an ancestor process: what it protects
    /// may have been left half done at the fork.
    pub fn orphaned(&self) -> bool {
        self.orphaned
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // Only our own hold: a guard copied into a child by a fork from a signal handler that
        // interrupted its holder must not release the child's own.
        let _ =
            self.lock
                .holder
                .compare_exchange(self.tag, 0, Ordering::Release, Ordering::Relaxed);
    }
}

/// A value that is replaced whole, under a [`Lock`]: copy-on-write.
///
/// Readers take a snapshot without locking ([`load`](Self::load)). A writer takes the lock
/// ([`lock`](Self::lock)), builds the next value from the current one, and publishes it in one
/// atomic store ([`SharedGuard::publish`]). So the value is consistent at every instant, also
/// in a child forked while a writer was half way: the child takes the lock over and finds the
/// last value published. Empty ([`T::default()`](Default)) until the first publication.
///
/// # Examples
///
/// ```
/// use cotrace_fork::Shared;
///
/// static NAMES: Shared<Vec<&'static str>> = Shared::new();
/// let held = NAMES.lock();
/// let mut next = (*held.get()).clone();
/// next.push("a");
/// held.publish(next);
/// drop(held);
/// assert_eq!(*NAMES.load(), ["a"]);
/// ```
#[derive(Debug)]
pub struct Shared<T> {
    lock: Lock,
    value: ArcSwapOption<T>,
}

/// Proof that a [`Shared`]'s lock is held: read, and publish the next value.
#[must_use = "the lock is released when the guard drops"]
#[derive(Debug)]
pub struct SharedGuard<'a, T> {
    shared: &'a Shared<T>,
    held: LockGuard<'a>,
}

impl<T: Default> Shared<T> {
    /// An empty value ([`T::default()`](Default)) and a free lock.
    pub const fn new() -> Self {
        Self {
            lock: Lock::new(),
            value: ArcSwapOption::const_empty(),
        }
    }

    /// The value now: a snapshot, without locking.
    pub fn load(&self) -> Arc<T> {
        self.value.load_full().unwrap_or_default()
    }

    /// Takes the lock (see [`Lock::lock`]).
    pub fn lock(&self) -> SharedGuard<'_, T> {
        SharedGuard {
            shared: self,
            held: self.lock.lock(),
        }
    }

    /// See [`Lock::lock_across_fork`].
    pub fn lock_across_fork(&self) -> Option<SharedGuard<'_, T>> {
        Some(SharedGuard {
            shared: self,
            held: self.lock.lock_across_fork()?,
        })
    }

    /// Takes the lock if no thread of this process holds it (see [`Lock::try_lock`]).
    pub fn try_lock(&self) -> Option<SharedGuard<'_, T>> {
        Some(SharedGuard {
            shared: self,
            held: self.lock.try_lock()?,
        })
    }
}

impl<T: Default> Default for Shared<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Default> SharedGuard<'_, T> {
    /// See [`LockGuard::process_tag`].
    pub fn process_tag(&self) -> u64 {
        self.held.process_tag()
    }

    /// The value now.
    pub fn get(&self) -> Arc<T> {
        self.shared.load()
    }

    /// The value now, publishing [`T::default()`](Default) first if nothing was published yet:
    /// for a value changed in place through its own atomics (an append-only list), which
    /// must then be the one readers load.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU32, Ordering};
    /// use cotrace_fork::Shared;
    ///
    /// static HITS: Shared<AtomicU32> = Shared::new();
    /// HITS.lock().get_or_publish_default().fetch_add(1, Ordering::Relaxed);
    /// assert_eq!(HITS.load().load(Ordering::Relaxed), 1);
    /// ```
    pub fn get_or_publish_default(&self) -> Arc<T> {
        if let Some(value) = self.shared.value.load_full() {
            return value;
        }
        let value = Arc::new(T::default());
        self.shared.value.store(Some(value.clone()));
        value
    }

    /// Replaces the value (readers see the old one or this one, never a mix).
    pub fn publish(&self, value: T) {
        self.shared.value.store(Some(Arc::new(value)));
    }

    /// See [`LockGuard::orphaned`]: the last published value is consistent regardless.
    pub fn orphaned(&self) -> bool {
        self.held.orphaned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn threads_of_one_process_take_it_in_turn() {
        static LOCK: Lock = Lock::new();
        static INSIDE: AtomicUsize = AtomicUsize::new(0);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..200 {
                        let held = LOCK.lock();
                        assert!(!held.orphaned());
                        assert_eq!(INSIDE.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        INSIDE.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    /// The generation, not the process id, tells a child from its parent: a holder of another
    /// generation with this very process id (a child in a new pid namespace is pid 1, like its
    /// parent in a container) is taken over.
    #[test]
    fn a_holder_of_another_generation_with_this_pid_is_taken_over() {
        let lock = Lock::new();
        let parent =
            (u64::from(crate::generation().wrapping_sub(1)) << 32) | u64::from(std::process::id());
        lock.holder.store(parent, Ordering::Relaxed);
        let held = lock.try_lock().expect("taken over");
        assert!(held.orphaned());
        assert_eq!(lock.holder.load(Ordering::Relaxed), tag());
        drop(held);
        assert_eq!(lock.holder.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_holder_of_this_process_is_waited_for() {
        let lock = Lock::new();
        let held = lock.lock();
        assert!(lock.try_lock().is_none());
        drop(held);
        assert!(!lock.try_lock().expect("free").orphaned());
    }

    #[test]
    fn a_stale_guard_does_not_release_the_new_holder() {
        let lock = Lock::new();
        let stale = LockGuard {
            lock: &lock,
            tag: 7,
            orphaned: false,
        };
        let held = lock.lock();
        drop(stale);
        assert!(
            lock.try_lock().is_none(),
            "released by a guard of another process"
        );
        drop(held);
    }
}
