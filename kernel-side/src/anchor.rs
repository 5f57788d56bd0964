//! Keeping registrations alive after the thread that made them exits.
//!
//! Linux keeps a process's enablers (each registered word's address and bit, which it updates on
//! enable and disable) in a `user_event_mm` that belongs to *threads*, not to the process
//! (kernel/trace/trace_events_user.c, 6.4 to 6.12):
//!
//! - a registration from a thread that has none creates one, attached to that thread only;
//! - a thread started afterwards by a thread that has one shares it (`clone` with `CLONE_VM`),
//!   and `fork` from such a thread copies it into the child;
//! - when the last thread sharing it exits, the kernel drops it with every enabler in it
//!   (`user_event_mm_remove`): the words stop following ftrace and perf, so their events are
//!   never written again, and unregistering from another thread fails with `ENOENT`.
//!
//! So a word registered from a worker thread (a thread pool's, a plugin initialized from one,
//! a `tracing` callsite first hit there) would silently go dark when that thread ends.
//!
//! cotrace registers every word a second time from its own *registrar* thread, which lives as
//! long as the process. The registrar is started by the first thread that registers, right
//! after that registration, so it shares that thread's `user_event_mm` and keeps it alive: the
//! kernel answers the second registration of a word registered there with `EADDRINUSE` (it is
//! already in this registrar's set, nothing more is needed); a word registered from a thread
//! outside it gets a second enabler in the registrar's set, on the same address and bit, which
//! the kernel updates together with the first. Unregistering removes both. In a forked child
//! the parent's registrar does not exist: the first registration there starts the child's own.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::mpsc;

use arc_swap::ArcSwapOption;

/// Work for the registrar thread.
type Job = Box<dyn FnOnce() + Send>;

/// The registrar thread of one process (a forked child starts its own).
struct Registrar {
    /// The process that started it ([`cotrace_fork::process_tag`]).
    process: u64,
    jobs: mpsc::Sender<Job>,
}

/// The current process's registrar. Replaced without a lock: a lock held by another thread at
/// a `fork` would stay held for ever in the child.
static REGISTRAR: ArcSwapOption<Registrar> = ArcSwapOption::const_empty();

thread_local! {
    // The process ([`cotrace_fork::process_tag`]) in which this thread started the registrar (after registering): the
    // registrar shares this thread's enabler group, so this thread's registrations need no
    // second one. A forked child's copy of the thread is in another process.
    static STARTED_REGISTRAR_IN: Cell<u64> = const { Cell::new(0) };
}

/// Whether the calling thread's registrations are already kept by the registrar: it started the
/// registrar, in this process, after registering (so they share one enabler group).
/// `process_tag`: the calling process's [`cotrace_fork::process_tag`] (e.g. that of a lock just
/// taken), so this costs no `getpid`.
pub(crate) fn calling_thread_is_kept(process_tag: u64) -> bool {
    STARTED_REGISTRAR_IN.get() == process_tag
}

/// This process's registrar, started on first use (from the calling thread, whose
/// `user_event_mm` it shares: callers have registered on it first); `None` if no thread can be started. One inherited from a parent
/// process (whose thread does not exist here) is replaced.
fn registrar() -> Option<Arc<Registrar>> {
    let process = cotrace_fork::process_tag();
    let seen = REGISTRAR.load_full();
    match seen.as_ref() {
        Some(r) if r.process == process => return Some(r.clone()),
        // A parent's: never dropped here, where dropping its channel's last sender could wait
        // on a lock its (absent) thread held at the fork.
        Some(r) => std::mem::forget(r.clone()),
        None => {}
    }
    let (jobs, incoming) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("cotrace-user-events".into())
        .spawn(move || {
            // Ends when its `Sender` is dropped (it lost the race below).
            for job in incoming {
                job();
            }
        })
        .ok()?;
    let mine = Arc::new(Registrar { process, jobs });
    let previous = REGISTRAR.compare_and_swap(&seen, Some(mine.clone()));
    let won = match (&*previous, &seen) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    };
    if won {
        // Called after this thread registered: the new thread shares its enabler group.
        STARTED_REGISTRAR_IN.set(process);
        Some(mine)
    } else {
        // Another thread started one first: ours ends as its sender drops.
        (*previous).clone().filter(|r| r.process == process)
    }
}

/// Runs `work` on the registrar thread and returns its result; `None` if there is no registrar.
/// Call it only after the calling thread registered something (see [`registrar`]).
pub(crate) fn on_registrar<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> Option<R> {
    let registrar = registrar()?;
    let (reply, result) = mpsc::sync_channel(1);
    registrar
        .jobs
        .send(Box::new(move || {
            let _ = reply.send(work());
        }))
        .ok()?;
    result.recv().ok()
}
