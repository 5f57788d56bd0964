//! The process's `pthread_atfork` registration: the fork generation and the crates' hooks.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};

/// The fork generation of this process: 1 in the process that first loaded cotrace, one more
/// in each forked child than in its parent (bumped by the child handler before any hook runs).
static GENERATION: AtomicU32 = AtomicU32::new(1);

/// This process's fork generation: how many forks separate it from the first process of its
/// line that ran cotrace. A value seen in memory that differs from it was written by an
/// ancestor (memory only comes from ancestors, through `fork`).
///
/// Counted by the handler [`register`] installs: before the first registration, every process
/// is generation 1 (nothing of cotrace's can then be held).
///
/// # Examples
///
/// ```
/// let here = cotrace_fork::generation();
/// assert!(here >= 1);
/// ```
pub fn generation() -> u32 {
    GENERATION.load(Ordering::Acquire)
}

/// Where a crate's hooks run among the others: the order in which cotrace takes its locks
/// (the facade's registry, then the kernel side's, then the LTTng side's). Child and parent
/// hooks run in this order, prepare hooks in the reverse one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Order {
    /// The facade (`cotrace`): its registry.
    Facade,
    /// The user_events adapter (`cotrace-kernel`).
    Kernel,
    /// The LTTng-UST adapter (`cotrace-ust`), which calls LTTng's own fork hooks.
    Lttng,
    /// What sits on top of the facade (the `tracing` layer): its child hook runs once every
    /// adapter's has made the child's tracers whole again.
    Integration,
}

const ORDERS: [Order; 4] = [
    Order::Facade,
    Order::Kernel,
    Order::Lttng,
    Order::Integration,
];

/// One crate's fork hooks. Each runs in the forking thread (`child` in the child's only
/// thread) and must not wait for another thread of the process: it may not exist.
#[derive(Debug)]
pub struct Hooks {
    /// Where these run among the other crates' hooks.
    pub order: Order,
    /// Before the fork, in the forking thread.
    pub prepare: fn(),
    /// After the fork, in the parent.
    pub parent: fn(),
    /// After the fork, in the child (after [`generation`] was bumped).
    pub child: fn(),
}

/// Why [`register`] could not add hooks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// `pthread_atfork` failed (out of memory in the C library): forks run no hook of cotrace.
    AtFork(i32),
    /// Every slot is taken (each copy of a crate in the process takes one).
    Full,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AtFork(rc) => write!(
                f,
                "pthread_atfork failed: {}",
                std::io::Error::from_raw_os_error(*rc)
            ),
            Self::Full => write!(f, "no free fork hook slot (at most {SLOTS})"),
        }
    }
}

impl std::error::Error for RegisterError {}

/// Hooks registered so far; null slots are free. A fixed array: no lock, no allocation.
const SLOTS: usize = 16;
static HOOKS: [AtomicPtr<Hooks>; SLOTS] = [const { AtomicPtr::new(core::ptr::null_mut()) }; SLOTS];

/// Adds `hooks` to every later fork of this process (installing the process's one
/// `pthread_atfork` handler at the first call). Registering the same `&'static Hooks` twice
/// adds it once. Never blocks.
///
/// # Errors
///
/// [`RegisterError`]: forks then go on without these hooks.
///
/// # Examples
///
/// ```
/// use cotrace_fork::{Hooks, Order, register};
///
/// fn nothing() {}
/// static HOOKS: Hooks = Hooks { order: Order::Facade, prepare: nothing, parent: nothing, child: nothing };
/// register(&HOOKS).unwrap();
/// ```
pub fn register(hooks: &'static Hooks) -> Result<(), RegisterError> {
    install()?;
    let wanted = core::ptr::from_ref(hooks).cast_mut();
    for slot in &HOOKS {
        match slot.compare_exchange(
            core::ptr::null_mut(),
            wanted,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return Ok(()),
            Err(existing) if existing == wanted => return Ok(()),
            Err(_) => {}
        }
    }
    Err(RegisterError::Full)
}

/// Installs the handlers once. An atomic swap, not a `Once`: a child forked while another
/// thread ran a `Once` would wait for it for ever.
fn install() -> Result<(), RegisterError> {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    crate::policy::read_env();
    // SAFETY: the handlers are plain functions of this crate, which stays mapped for the life
    // of the process (a cotrace crate in a plugin is pinned before it registers anything).
    match unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) } {
        0 => Ok(()),
        rc => {
            INSTALLED.store(false, Ordering::Release);
            Err(RegisterError::AtFork(rc))
        }
    }
}

/// Runs `each` on the registered hooks of `order`, in registration order.
fn for_order(order: Order, each: impl Fn(&Hooks)) {
    for slot in &HOOKS {
        // SAFETY: a non-null slot holds a `&'static Hooks` stored by `register`.
        if let Some(hooks) = unsafe { slot.load(Ordering::Acquire).as_ref() } {
            if hooks.order == order {
                each(hooks);
            }
        }
    }
}

extern "C" fn prepare() {
    for order in ORDERS.iter().rev() {
        for_order(*order, |h| (h.prepare)());
    }
}

extern "C" fn parent() {
    for order in ORDERS {
        for_order(order, |h| (h.parent)());
    }
}

extern "C" fn child() {
    // First: from here on, every lock held in the parent is seen as orphaned.
    let next = GENERATION.load(Ordering::Relaxed).wrapping_add(1).max(1);
    GENERATION.store(next, Ordering::Release);
    for order in ORDERS {
        for_order(order, |h| (h.child)());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static CALLS: AtomicUsize = AtomicUsize::new(0);
    static SEEN: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];

    fn record(i: usize) {
        SEEN[i].store(CALLS.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
    }
    fn nothing() {}

    static LTTNG: Hooks = Hooks {
        order: Order::Lttng,
        prepare: nothing,
        parent: nothing,
        child: || record(2),
    };
    static FACADE: Hooks = Hooks {
        order: Order::Facade,
        prepare: nothing,
        parent: nothing,
        child: || record(0),
    };

    #[test]
    fn child_hooks_run_in_order_after_the_generation_moved() {
        register(&LTTNG).unwrap();
        register(&FACADE).unwrap();
        register(&LTTNG).unwrap(); // once
        let before = generation();
        // SAFETY: the child only reads atomics and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let (facade, lttng) = (
                SEEN[0].load(Ordering::SeqCst),
                SEEN[2].load(Ordering::SeqCst),
            );
            let code = if generation() != before + 1 {
                1
            } else if facade == 0 || lttng != facade + 1 {
                2
            } else {
                0
            };
            // SAFETY: ends the child without the test harness's exit handlers.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: our own child; `status` is a valid out-pointer.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 0, "1: generation, 2: order");
        assert_eq!(generation(), before, "the parent's generation moved");
    }
}
