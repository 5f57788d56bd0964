//! `fork`: a child's words keep following ftrace and perf, and no lock is inherited held.
//!
//! # Locks
//!
//! Registration takes two locks of this crate (the list of registered words, held across the
//! `DIAG_IOCSREG` ioctl, which runs under the kernel's `event_mutex`; and the descriptor's
//! renewal lock). Both are [`cotrace_fork`] locks: nothing is held across a fork, and a child
//! forked while a thread of its parent held one takes it over, however long that thread would
//! have held it, and finds the data as last published.
//!
//! # Enablers
//!
//! The kernel copies into a child only the enablers of the *forking thread's* group
//! (`user_events_fork`: `if (!current->user_event_mm) return;`). A thread started before the
//! process's first registration (a thread pool started before `init`) belongs to no group, so
//! a child it forks would have no enablers: its words would keep their value of the fork for
//! ever. So the child hook registers every word again (the descriptor is inherited): the
//! kernel answers `EADDRINUSE` for each word it already copied, and registers the others,
//! writing their current state. [`after_fork`] says what happened. Under
//! [`ForkPolicy::ExecOnly`](cotrace_fork::ForkPolicy::ExecOnly) the hook does nothing (one
//! ioctl per word would be wasted on a child that calls `exec`).

use core::fmt;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use cotrace_fork::{ForkPolicy, Hooks, Order};

use crate::errno::Errno;
use crate::live::live;
use crate::register::register_word;
use crate::tracefs::data_file_if_open;

static HOOKS: Hooks = Hooks {
    order: Order::Kernel,
    prepare: nothing,
    parent: nothing,
    child,
};

fn nothing() {}

/// Adds the child hook to the process's fork handler (called by every registration; after
/// the first, one atomic load). A failure (out of memory in the C library) leaves forks
/// without it.
pub(crate) fn install() {
    let _ = cotrace_fork::register(&HOOKS);
}

/// The generation whose child hook filled the counts below (0: none).
static IN_GENERATION: AtomicU32 = AtomicU32::new(0);
static WORDS: AtomicU32 = AtomicU32::new(0);
static INHERITED: AtomicU32 = AtomicU32::new(0);
static REGISTERED_AGAIN: AtomicU32 = AtomicU32::new(0);
static FAILED: AtomicU32 = AtomicU32::new(0);
static FIRST_ERRNO: AtomicI32 = AtomicI32::new(0);
static SKIPPED: AtomicU32 = AtomicU32::new(0);

fn child() {
    let words = live();
    let Some(data) = data_file_if_open() else {
        return;
    };
    if words.registered().next().is_none() {
        return;
    }
    let (mut inherited, mut again, mut failed, mut first) = (0, 0, 0, 0);
    let exec_only = cotrace_fork::fork_policy() == ForkPolicy::ExecOnly;
    if !exec_only {
        // The inherited descriptor, as is: checking it would take its lock (and a child that
        // closes it later gets the usual renewal).
        let fd = data.current().fd;
        for word in words.registered() {
            match register_word(fd, word.address, word.format.as_c_str(), word.flags) {
                Ok(_) => again += 1,
                Err(Errno::ADDRINUSE) => inherited += 1,
                Err(errno) => {
                    failed += 1;
                    if first == 0 {
                        first = errno.raw();
                    }
                }
            }
        }
    }
    WORDS.store(words.registered().count() as u32, Ordering::Relaxed);
    INHERITED.store(inherited, Ordering::Relaxed);
    REGISTERED_AGAIN.store(again, Ordering::Relaxed);
    FAILED.store(failed, Ordering::Relaxed);
    FIRST_ERRNO.store(first, Ordering::Relaxed);
    SKIPPED.store(u32::from(exec_only), Ordering::Relaxed);
    IN_GENERATION.store(cotrace_fork::generation(), Ordering::Release);
}

/// What the fork handler did for this process's words, if this process is a forked child
/// whose parent had registered some (see the [crate docs](crate#threads-and-fork)).
///
/// # Examples
///
/// ```
/// // In a process that was not forked from a registering one: nothing to say.
/// if let Some(after) = cotrace_kernel::after_fork() {
///     println!("{after}");
/// }
/// ```
pub fn after_fork() -> Option<AfterFork> {
    if IN_GENERATION.load(Ordering::Acquire) != cotrace_fork::generation() {
        return None;
    }
    Some(AfterFork {
        words: WORDS.load(Ordering::Relaxed),
        inherited: INHERITED.load(Ordering::Relaxed),
        registered_again: REGISTERED_AGAIN.load(Ordering::Relaxed),
        failed: FAILED.load(Ordering::Relaxed),
        first_error: match FIRST_ERRNO.load(Ordering::Relaxed) {
            0 => None,
            raw => Some(Errno::from_raw(raw)),
        },
        exec_only: SKIPPED.load(Ordering::Relaxed) != 0,
    })
}

/// What a forked child's fork handler did with the words its parent had registered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AfterFork {
    /// Words the parent had registered.
    pub words: u32,
    /// Words the kernel had copied into the child (from the forking thread's group).
    pub inherited: u32,
    /// Words registered again in the child (the forking thread's group did not have them:
    /// a thread started before the first registration has none).
    pub registered_again: u32,
    /// Words the kernel refused to register again: they keep their value of the fork.
    pub failed: u32,
    /// The first refusal's errno.
    pub first_error: Option<Errno>,
    /// [`ForkPolicy::ExecOnly`](cotrace_fork::ForkPolicy::ExecOnly): nothing was registered
    /// again; words the kernel did not copy keep their value of the fork.
    pub exec_only: bool,
}

impl fmt::Display for AfterFork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exec_only {
            return write!(
                f,
                "forked child under ForkPolicy::ExecOnly: its {} words were not registered \
                 again; those the kernel did not copy from the forking thread keep their value \
                 of the fork",
                self.words
            );
        }
        write!(
            f,
            "forked child: of {} words, {} copied by the kernel, {} registered again",
            self.words, self.inherited, self.registered_again
        )?;
        if self.failed > 0 {
            write!(
                f,
                ", {} refused ({}): those keep their value of the fork and stop following \
                 ftrace and perf",
                self.failed,
                self.first_error.map_or(String::new(), |e| e.to_string())
            )?;
        }
        Ok(())
    }
}
