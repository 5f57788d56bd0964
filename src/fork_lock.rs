//! A lock that a forked child never waits on for a thread of its parent.
//!
//! A `std::sync::Mutex` held by another thread when the process forks stays locked in the child
//! for ever: the thread that would unlock it does not exist there. The registry's lock is held
//! for seconds (while [`init`](crate::init) loads liblttng-ust), so "a fork at any moment" would
//! leave a child that defines an event blocked. This lock records the process of its holder
//! instead: a thread of this process waits for it (briefly sleeping), and a child finding it
//! held by its parent's process takes it over.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A lock without data: it serialises what its holders do (they prove it with the guard).
pub(crate) struct ForkAwareLock {
    /// The process id of the holder's process; 0 while free.
    holder: AtomicU32,
}

/// Proof that the lock is held; released on drop.
#[must_use = "the lock is released when the guard drops"]
pub(crate) struct ForkAwareGuard<'a> {
    lock: &'a ForkAwareLock,
}

impl ForkAwareLock {
    pub(crate) const fn new() -> Self {
        Self {
            holder: AtomicU32::new(0),
        }
    }

    /// Takes the lock: waits while another thread of this process holds it; takes it over from
    /// a thread of the process this one was forked from.
    pub(crate) fn lock(&self) -> ForkAwareGuard<'_> {
        let me = std::process::id();
        loop {
            match self
                .holder
                .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return ForkAwareGuard { lock: self },
                // Held in our parent at the fork: its holder does not exist in this process.
                Err(other) if other != me => {
                    if self
                        .holder
                        .compare_exchange(other, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        return ForkAwareGuard { lock: self };
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_micros(100)),
            }
        }
    }
}

impl Drop for ForkAwareGuard<'_> {
    fn drop(&mut self) {
        self.lock.holder.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn threads_of_one_process_take_it_in_turn() {
        static LOCK: ForkAwareLock = ForkAwareLock::new();
        static INSIDE: AtomicUsize = AtomicUsize::new(0);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..200 {
                        let _held = LOCK.lock();
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

    #[test]
    fn a_holder_of_another_process_is_taken_over() {
        let lock = ForkAwareLock::new();
        // As a forked child sees it: held by the parent's process id.
        lock.holder.store(std::process::id() + 1, Ordering::Relaxed);
        let held = lock.lock();
        assert_eq!(lock.holder.load(Ordering::Relaxed), std::process::id());
        drop(held);
        assert_eq!(lock.holder.load(Ordering::Relaxed), 0);
    }
}
