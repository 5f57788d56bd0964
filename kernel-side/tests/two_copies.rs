//! Two copies of cotrace-kernel in one process (two semver-incompatible versions in one
//! dependency graph; here the same sources built under a second crate name, tests/second-copy)
//! each have their own `user_events_data` descriptor. Every open of that file has the same
//! `(st_dev, st_ino)`, but write indices belong to one open: after a daemon closed every
//! descriptor, one copy must never write its indices through the other copy's descriptor (its
//! payloads recorded as the other copy's events), nor take the other's `ENOENT` for its own
//! (counted as failed for ever while its status says healthy).
//!
//! Closes every descriptor of the process: its own binary, one test. Needs user_events:
//! scripts/test-kernel.sh runs it in the VM.

mod common;

use cotrace_kernel::{FieldType, Value, WriteOutcome};
use cotrace_kernel_second_copy as second;

/// `close_range(3, ~0, 0)`: what a daemon does after fork.
fn close_every_descriptor_from_3() {
    // SAFETY: closes descriptors of this process only; nothing in this test binary uses a
    // descriptor >= 3 across this call (it has one test).
    let ret = unsafe { libc::close_range(3, u32::MAX, 0) };
    assert_eq!(ret, 0, "close_range: {}", std::io::Error::last_os_error());
}

/// The values of field `n` in the `trace` lines of event `name` written by this thread.
fn recorded(tracefs: &std::path::Path, name: &str) -> Vec<String> {
    common::trace_lines(tracefs, name)
        .iter()
        .map(|l| common::fields_of(l, name))
        .collect()
}

#[test]
fn a_copy_never_writes_through_the_other_copys_descriptor_after_a_daemon_closed_both() {
    let Some(tracefs) = common::user_events("two_copies") else {
        return;
    };
    // The first copy registers two events (write indices 0 and 1 on its descriptor), the second
    // copy one (index 0 on its own descriptor). Same fields, so that a payload of one would be
    // accepted as the other's.
    let (name_a0, word_a0, reg_a0) = common::register_fresh("tca", &[("n", FieldType::U32)]);
    let (name_a1, word_a1, reg_a1) = common::register_fresh("tca", &[("n", FieldType::U32)]);
    let name_b = common::unique("tcb");
    let word_b = common::leak_word();
    let reg_b = second::register(
        word_b,
        second::EventFormat::new(&name_b)
            .unwrap()
            .field("n", second::FieldType::U32)
            .unwrap(),
    )
    .unwrap();
    let fd_a = cotrace_kernel::descriptor_status().unwrap().fd.unwrap();
    let fd_b = second::descriptor_status().unwrap().fd.unwrap();
    assert_ne!(fd_a, fd_b, "each copy has its own descriptor");

    // The daemon closes everything. The second copy notices first (its status check reopens at
    // once) and re-registers its event on its fresh descriptor (index 0 there) as it writes.
    close_every_descriptor_from_3();
    let status_b = second::descriptor_status().unwrap();
    assert!(
        status_b.reopened == 1 && status_b.lost.is_none(),
        "{status_b:?}"
    );
    common::set_enabled(tracefs, &name_b, true);
    common::wait_kernel_bit(word_b, true);
    assert_eq!(
        reg_b.write(&[second::Value::U32(7)]),
        Ok(second::WriteOutcome::Written)
    );
    common::wait_trace_line(tracefs, &name_b, &["n=0x7 (7)"]);

    // Now the first copy writes, with the indices of its closed descriptor.
    for (name, word) in [(&name_a0, word_a0), (&name_a1, word_a1)] {
        common::set_enabled(tracefs, name, true);
        common::wait_kernel_bit(word, true);
    }
    let outcome_a0 = reg_a0.write(&[Value::U32(100)]);
    let outcome_a1 = reg_a1.write(&[Value::U32(101)]);
    let status_a = cotrace_kernel::descriptor_status().unwrap();

    assert_eq!(
        recorded(tracefs, &name_b),
        vec!["n=0x7 (7)"],
        "the second copy's event recorded the first copy's payloads (its index 0 written \
         through the second copy's descriptor {}); first copy's outcomes {outcome_a0:?}, \
         {outcome_a1:?}, status {status_a:?}",
        status_b.fd.unwrap()
    );
    assert_eq!(
        (outcome_a0, outcome_a1),
        (Ok(WriteOutcome::Written), Ok(WriteOutcome::Written)),
        "first copy's writes; its status {status_a:?}, stats {:?} {:?}",
        reg_a0.write_stats(),
        reg_a1.write_stats()
    );
    common::wait_trace_line(tracefs, &name_a0, &["n=0x64 (100)"]);
    common::wait_trace_line(tracefs, &name_a1, &["n=0x65 (101)"]);
    assert!(
        status_a.reopened == 1 && status_a.lost.is_none() && status_a.fd != status_b.fd,
        "first copy {status_a:?}, second copy {status_b:?}"
    );
    assert_eq!(reg_a1.write_stats().failed, 0, "{:?}", reg_a1.write_stats());

    // Two copies of one version (one in each of two shared objects) share their numbers, so
    // the other copy's descriptor can land on this copy's number (made so here with dup2). An
    // error through it (ENOENT: this copy's index 1 is not registered on it) is not believed:
    // the descriptor is not this open file (kcmp against the private duplicate), so the event
    // is renewed and recorded, not counted as failed while the status says healthy.
    let fd_a = status_a.fd.unwrap();
    close_every_descriptor_from_3();
    let fd_b = second::descriptor_status().unwrap().fd.unwrap();
    // SAFETY: puts a copy of the second copy's descriptor at the first copy's (closed) number,
    // as the second copy's own reopen could.
    assert_eq!(unsafe { libc::dup2(fd_b, fd_a) }, fd_a);
    assert_eq!(
        reg_b.write(&[second::Value::U32(8)]),
        Ok(second::WriteOutcome::Written)
    );
    common::wait_trace_line(tracefs, &name_b, &["n=0x8 (8)"]);
    let outcome_a1 = reg_a1.write(&[Value::U32(102)]);
    let status_a = cotrace_kernel::descriptor_status().unwrap();
    assert_eq!(
        outcome_a1,
        Ok(WriteOutcome::Written),
        "first copy's write through fd {fd_a} (the second copy's file); status {status_a:?}, \
         stats {:?}",
        reg_a1.write_stats()
    );
    common::wait_trace_line(tracefs, &name_a1, &["n=0x66 (102)"]);
    assert!(
        status_a.reopened == 2 && status_a.fd != Some(fd_a),
        "{status_a:?}"
    );
    assert_eq!(
        recorded(tracefs, &name_b),
        vec!["n=0x7 (7)", "n=0x8 (8)"],
        "the second copy's event"
    );

    for (name, word) in [(&name_a0, word_a0), (&name_a1, word_a1), (&name_b, word_b)] {
        common::set_enabled(tracefs, name, false);
        common::wait_kernel_bit(word, false);
    }
}
