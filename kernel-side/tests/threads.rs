//! A registration outlives the thread that made it.
//!
//! Linux keeps a process's enablers (the address and bit the kernel updates) in a
//! `user_event_mm` attached to the thread that registered, shared only with the threads it
//! starts afterwards, and drops it with every enabler in it when the last of those threads exits
//! (`user_event_mm_remove` in kernel/trace/trace_events_user.c). A word registered from a
//! worker thread that then exits would no longer follow ftrace, and the event would never be
//! written again. Needs user_events: scripts/test-kernel.sh runs it in the VM.

mod common;

use cotrace_kernel::{FieldType, Registration, Value, WriteOutcome};
use cotrace_word::EnableWord;

/// An event `<prefix>_...` with one `u32` field, registered by a thread that has exited.
fn registered_by_an_exited_thread(
    prefix: &'static str,
) -> (String, &'static EnableWord, Registration) {
    std::thread::spawn(move || common::register_fresh(prefix, &[("n", FieldType::U32)]))
        .join()
        .unwrap()
}

/// Registered by a thread that has exited: ftrace's enable still sets bit 31, the write is
/// recorded, and disabling clears the bit.
#[test]
fn registered_by_a_thread_that_exited_the_word_still_follows_ftrace() {
    let Some(tracefs) = common::user_events("th_exited") else {
        return;
    };
    let (name, word, reg) = registered_by_an_exited_thread("th_exited");
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    assert_eq!(reg.write(&[Value::U32(41)]), Ok(WriteOutcome::Written));
    let line = common::wait_trace_line(tracefs, &name, &[]);
    assert!(line.contains("(41)"), "line: {line}");
    common::set_enabled(tracefs, &name, false);
    common::wait_kernel_bit(word, false);
}

/// Registered by a thread that has exited, unregistered from another: the kernel accepts it.
#[test]
fn registered_by_a_thread_that_exited_unregisters_from_another() {
    if common::user_events("th_unreg").is_none() {
        return;
    }
    let (_name, _word, reg) = registered_by_an_exited_thread("th_unreg");
    assert_eq!(reg.unregister(), Ok(()));
}
