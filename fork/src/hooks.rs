//! The process's `pthread_atfork` registration: the fork generation and the crates' hooks.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, Ordering};

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

/// Installs the handlers once per process, and returns only once they are installed (a
/// `register` that returned while another thread was still installing let a fork run no
/// handler). `pthread_once`, not an atomic flag or std's `Once`: a thread that finds the
/// installation under way must wait for it, and glibc's `pthread_once` restarts an
/// installation that a fork interrupted (the child's state carries the parent's fork
/// generation), where a child of std's `Once` would wait for ever for a thread it does not
/// have. A failure (`pthread_atfork` out of memory) is final for the process.
fn install() -> Result<(), RegisterError> {
    /// glibc's once-control word; only `pthread_once` touches it.
    struct OnceControl(core::cell::UnsafeCell<libc::pthread_once_t>);
    // SAFETY: the word is read and written only by `pthread_once`, which synchronises.
    unsafe impl Sync for OnceControl {}
    static ONCE: OnceControl = OnceControl(core::cell::UnsafeCell::new(libc::PTHREAD_ONCE_INIT));
    /// `pthread_atfork`'s result, written once by `run` before `pthread_once` returns anywhere.
    static RESULT: AtomicI32 = AtomicI32::new(0);

    extern "C" fn run() {
        crate::policy::read_env();
        #[cfg(test)]
        tests::installer_seam();
        if INHERITED.load(Ordering::Acquire) {
            // A child forked after the parent's `pthread_atfork` but before its `pthread_once`
            // completed: the handlers are installed (the child handler ran here); twice would
            // run every hook twice.
            return;
        }
        // SAFETY: the handlers are plain functions of this crate, which stays mapped for the
        // life of the process (a cotrace crate in a plugin is pinned before it registers
        // anything).
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        RESULT.store(rc, Ordering::Release);
    }

    // SAFETY: `ONCE` is a static once-control word initialised with PTHREAD_ONCE_INIT, used
    // by nothing else; `run` is a plain `extern "C" fn()` that does not unwind.
    let rc = unsafe { libc::pthread_once(ONCE.0.get(), run) };
    match (rc, RESULT.load(Ordering::Acquire)) {
        (0, 0) => Ok(()),
        (0, rc) | (rc, _) => Err(RegisterError::AtFork(rc)),
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

/// Set by the child handler: this process's handlers were installed by an ancestor.
static INHERITED: AtomicBool = AtomicBool::new(false);

extern "C" fn child() {
    INHERITED.store(true, Ordering::Release);
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

    /// Holds the installer between claiming the installation and `pthread_atfork` returning,
    /// when a test asks: the window in which another thread's `register` must not return yet.
    static PAUSE_INSTALLER: AtomicBool = AtomicBool::new(false);
    static INSTALLER_PAUSED: AtomicBool = AtomicBool::new(false);

    pub(super) fn installer_seam() {
        if PAUSE_INSTALLER.load(Ordering::SeqCst) {
            INSTALLER_PAUSED.store(true, Ordering::SeqCst);
            // Holds the window open; what the test checks does not depend on how long.
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    }

    /// Two threads register at once, the first ever in the process; the second forks as soon
    /// as its `register` returns: the child must have run the handlers (its generation moved).
    /// In a fresh process of this binary, as the handlers are installed once per process.
    #[test]
    fn register_returns_once_forks_run_the_hooks() {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "hooks::tests::racing_registrations",
                "--ignored",
                "--test-threads=1",
            ])
            .env("COTRACE_FORK_RACE", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "the helper did not run"
        );
    }

    #[test]
    #[ignore = "run in a fresh process by register_returns_once_forks_run_the_hooks"]
    fn racing_registrations() {
        assert!(
            std::env::var_os("COTRACE_FORK_RACE").is_some(),
            "run by its parent test"
        );
        static FIRST: Hooks = Hooks {
            order: Order::Facade,
            prepare: nothing,
            parent: nothing,
            child: nothing,
        };
        static SECOND: Hooks = Hooks {
            order: Order::Kernel,
            prepare: nothing,
            parent: nothing,
            child: nothing,
        };
        PAUSE_INSTALLER.store(true, Ordering::SeqCst);
        let installer = std::thread::spawn(|| register(&FIRST));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !INSTALLER_PAUSED.load(Ordering::SeqCst) {
            assert!(
                std::time::Instant::now() < deadline,
                "the installer never started"
            );
            std::thread::yield_now();
        }
        // A fork while the installation is under way: the child's own `register` installs
        // (glibc restarts the interrupted `pthread_once`), never waiting for the installer,
        // a thread the child does not have.
        // SAFETY: the child registers (atomics, pthread_once, pthread_atfork) and leaves with
        // _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let code = if register(&SECOND).is_ok() { 0 } else { 2 };
            // SAFETY: ends the child without the test harness's exit handlers.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        // SAFETY: our own child; `status` is a valid out-pointer.
        while unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } != pid {
            if std::time::Instant::now() > deadline {
                // SAFETY: our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("a child forked during the installation hung in register()");
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child status {status:#x}"
        );

        register(&SECOND).unwrap();
        let before = generation();
        // SAFETY: the child only reads an atomic and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let code = i32::from(generation() != before + 1);
            // SAFETY: ends the child without the test harness's exit handlers.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: our own child; `status` is a valid out-pointer.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        installer.join().unwrap().unwrap();
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "a child forked right after register() returned ran no fork handler: its \
             generation did not move"
        );
    }
}
