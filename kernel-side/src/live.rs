//! The words this process has registered ([`Words`]): what a forked child registers again
//! ([`crate::fork`]) and how registration tells the kernel's two meanings of `EADDRINUSE` apart.
//!
//! Registering appends one entry in place and unregistering clears the entry's flag: O(1)
//! each, where the persistent map this replaces copied O(log n) nodes per registration and
//! freed as many of the last version (~5,000 of the ~6,900 user-space instructions a
//! registration took at 1,000 words, callgrind in the VM). A fork can come at any instant, and
//! the child must find the list whole: an entry becomes visible only once completely written
//! ([`boxcar::Vec`] flags it active after writing it), and a compaction builds a new list and
//! publishes it whole ([`cotrace_fork::Shared`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::EventFormat;

/// A registered word: what registering it again takes, and whether it still is registered.
/// Its [`Registration`](crate::Registration) reads the format here too (one copy of it).
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) address: u64,
    pub(crate) format: EventFormat,
    pub(crate) flags: u16,
    registered: AtomicBool,
}

impl Live {
    /// A word registered now.
    pub(crate) fn new(address: u64, format: EventFormat, flags: u16) -> Self {
        Self {
            address,
            format,
            flags,
            registered: AtomicBool::new(true),
        }
    }

    /// Whether the word is still registered (false once [`Words::unregistered`] ran).
    pub(crate) fn is_registered(&self) -> bool {
        self.registered.load(Ordering::Relaxed)
    }
}

/// Unregistered entries a list keeps before a compaction is considered.
const COMPACT_AFTER: usize = 64;

/// The registered words, in registration order. Modified only under [`LIVE`]'s lock.
#[derive(Debug, Default)]
pub(crate) struct Words {
    entries: boxcar::Vec<Arc<Live>>,
    /// Entries whose word was unregistered since this list was built.
    unregistered: AtomicUsize,
}

impl Words {
    /// The words registered now.
    pub(crate) fn registered(&self) -> impl Iterator<Item = &Live> {
        self.entries
            .iter()
            .map(|(_, live)| &**live)
            .filter(|live| live.is_registered())
    }

    /// Whether this process has `address` registered (O(n): for the `EADDRINUSE` path only).
    pub(crate) fn contains(&self, address: u64) -> bool {
        self.registered().any(|live| live.address == address)
    }
}

/// The registered words; its lock is held across each `DIAG_IOCSREG`, so concurrent
/// registrations of one word are classified correctly; a child forked meanwhile takes it over
/// and finds every entry whole or absent.
pub(crate) static LIVE: cotrace_fork::Shared<Words> = cotrace_fork::Shared::new();

/// The registered words now (a snapshot, without locking).
pub(crate) fn live() -> Arc<Words> {
    LIVE.load()
}

/// Appends `live` (the lock is held: `held`), publishing the first list if none was.
pub(crate) fn registered(held: &cotrace_fork::SharedGuard<'_, Words>, live: Arc<Live>) {
    let words = held.get_or_publish_default();
    words.entries.push(live);
}

/// Marks `live` unregistered (the lock is held: `held`); once most entries are, publishes a
/// list of the registered ones only, so unregistering and registering again for ever keeps
/// the list as long as twice the words registered at once (plus [`COMPACT_AFTER`]).
pub(crate) fn unregistered(held: &cotrace_fork::SharedGuard<'_, Words>, live: &Live) {
    if !live.registered.swap(false, Ordering::Relaxed) {
        return;
    }
    let words = held.get_or_publish_default();
    let gone = words.unregistered.fetch_add(1, Ordering::Relaxed) + 1;
    if gone > COMPACT_AFTER && gone * 2 > words.entries.count() {
        let next = Words::default();
        for (_, entry) in words.entries.iter() {
            if entry.is_registered() {
                next.entries.push(entry.clone());
            }
        }
        held.publish(next);
    }
}

#[cfg(test)]
// The fork test's fork, waitpid and _exit.
#[allow(unsafe_code)]
mod tests {
    use super::*;

    fn format(address: u64) -> EventFormat {
        EventFormat::with_fields(&format!("w{address}"), &[("a", crate::FieldType::U32)]).unwrap()
    }

    fn word(address: u64) -> Arc<Live> {
        Arc::new(Live::new(address, format(address), 0))
    }

    fn addresses(words: &Words) -> Vec<u64> {
        words.registered().map(|l| l.address).collect()
    }

    #[test]
    fn registered_words_are_listed_in_order_until_unregistered() {
        let shared = cotrace_fork::Shared::<Words>::new();
        let held = shared.lock();
        let (a, b, c) = (word(8), word(16), word(24));
        for w in [&a, &b, &c] {
            registered(&held, w.clone());
        }
        assert_eq!(addresses(&shared.load()), [8, 16, 24]);
        unregistered(&held, &b);
        unregistered(&held, &b);
        assert_eq!(addresses(&shared.load()), [8, 24]);
        assert!(shared.load().contains(24));
        assert!(!shared.load().contains(16));
        assert_eq!(shared.load().unregistered.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn churn_keeps_the_list_bounded_and_the_registered_words_listed() {
        let shared = cotrace_fork::Shared::<Words>::new();
        let held = shared.lock();
        let kept: Vec<_> = (0..10).map(|i| word(4 * i)).collect();
        for w in &kept {
            registered(&held, w.clone());
        }
        for round in 0..10_000u64 {
            let w = word(1_000_000 + 4 * round);
            registered(&held, w.clone());
            unregistered(&held, &w);
            let len = shared.load().entries.count();
            assert!(
                len <= 2 * kept.len() + COMPACT_AFTER + 2,
                "round {round}: {len} entries"
            );
        }
        assert_eq!(
            addresses(&shared.load()),
            (0..10).map(|i| 4 * i).collect::<Vec<_>>()
        );
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_child_forked_while_words_are_registered_finds_each_whole_or_absent() {
        // Threads register and unregister while the main thread forks: every child must find
        // a list whose entries are all whole (address and name agree) and whose registered
        // words include those that were registered before the fork and never unregistered.
        let shared: &'static cotrace_fork::Shared<Words> =
            Box::leak(Box::new(cotrace_fork::Shared::new()));
        let stable: Vec<_> = (0..50).map(|i| word(4 * i)).collect();
        {
            let held = shared.lock();
            for w in &stable {
                registered(&held, w.clone());
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let churn = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let address = 1_000_000 + 4 * i;
                    let w = Arc::new(Live::new(address, format(address), 0));
                    let held = shared.lock();
                    registered(&held, w.clone());
                    unregistered(&held, &w);
                    i += 1;
                }
            })
        };
        for _ in 0..200 {
            // SAFETY: the child only reads memory and leaves with _exit.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let words = shared.load();
                let whole = words.registered().all(|l| {
                    l.address < 1_000_000 || l.format.as_str() == format!("w{} u32 a", l.address)
                });
                let stable_listed = (0..50).all(|i| words.contains(4 * i));
                // SAFETY: ends the child without running the parent's exit handlers.
                unsafe { libc::_exit(if whole && stable_listed { 0 } else { 1 }) };
            }
            assert!(pid > 0, "fork failed");
            let mut status = 0;
            // SAFETY: waits for our own child.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "a child found a torn list (status {status:#x})"
            );
        }
        stop.store(true, Ordering::Relaxed);
        churn.join().unwrap();
    }
}
