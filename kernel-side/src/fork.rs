//! `fork` while another thread registers.
//!
//! Registration takes two locks of this crate for a moment (the registry of registered words,
//! held across the `DIAG_IOCSREG` ioctl, and the descriptor's renewal lock). A child forked
//! while another thread held one would inherit it held by a thread that does not exist there,
//! and its first registration would wait for ever. So `pthread_atfork` handlers, installed at
//! the first registration, take both in the forking thread before `fork` and release them on
//! both sides after: the child gets them free, with the data they guard consistent.
//!
//! `prepare` waits at most [`PREPARE_WAIT`] for each (a holder is inside one ioctl, or waiting
//! for the registrar thread's one): a fork from a signal handler that interrupted this very
//! thread inside a registration must not wait for itself; it then goes ahead without the lock.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use crate::register::registered_lock;
use crate::tracefs::{Renewal, data_file_if_open};

/// The longest `prepare` waits for one lock.
const PREPARE_WAIT: Duration = Duration::from_secs(1);

/// What `prepare` holds across the fork (the forking thread's; the child's only thread is a
/// copy of it).
type Held = (
    Option<MutexGuard<'static, Vec<usize>>>,
    Option<MutexGuard<'static, Renewal>>,
);

thread_local! {
    // `ManuallyDrop`: a thread-local with drop glue would register a destructor (taking the
    // dynamic loader's lock) at a thread's first fork.
    static HELD: RefCell<ManuallyDrop<Held>> = const { RefCell::new(ManuallyDrop::new((None, None))) };
}

/// Installs the handlers, once (called by every registration; after the first, one atomic
/// swap). Not a `Once`: a child forked while another thread ran it would wait for ever.
pub(crate) fn install() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if !INSTALLED.swap(true, Ordering::AcqRel) {
        // A failure (out of memory in the C library) leaves forks as they were before.
        let _ = crate::sys::at_fork(prepare, release, release);
    }
}

/// Takes `lock`, waiting at most [`PREPARE_WAIT`].
fn lock_within<T>(lock: &'static Mutex<T>) -> Option<MutexGuard<'static, T>> {
    let deadline = Instant::now() + PREPARE_WAIT;
    loop {
        match lock.try_lock() {
            Ok(guard) => return Some(guard),
            Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(50));
            }
            Err(TryLockError::WouldBlock) => return None,
        }
    }
}

extern "C" fn prepare() {
    // In the order registration takes them: the registry, then the descriptor's.
    let registry = lock_within(registered_lock());
    let renewal = data_file_if_open().and_then(|d| lock_within(d.renewal_lock()));
    HELD.with(|h| *h.borrow_mut() = ManuallyDrop::new((registry, renewal)));
}

/// The `parent` and `child` handler: drops what `prepare` took.
extern "C" fn release() {
    HELD.with(|h| {
        let held = std::mem::replace(&mut *h.borrow_mut(), ManuallyDrop::new((None, None)));
        let (registry, renewal) = ManuallyDrop::into_inner(held);
        drop(renewal);
        drop(registry);
    });
}
