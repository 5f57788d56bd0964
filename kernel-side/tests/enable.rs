//! The kernel drives bit 31 of a registered word, and only bit 31 (abi_test.c `enablement`,
//! `clones`; ftrace_test.c `register_events` status). Needs user_events: scripts/test-kernel.sh
//! runs it in the VM.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cotrace_kernel::{EventFormat, FieldType, register};
use cotrace_word::layout::{KERNEL_MASK, USER_MASK};

fn format(name: &str) -> EventFormat {
    EventFormat::new(name)
        .unwrap()
        .field("n", FieldType::U32)
        .unwrap()
}

#[test]
fn bit_31_follows_ftrace_and_leaves_the_user_count_alone() {
    let Some(tracefs) = common::user_events("bit31") else {
        return;
    };
    let name = common::unique("en_bit");
    let word = common::leak_word();
    // Two user tracers attached before the registration.
    let _first = word.acquire_user().unwrap();
    let _second = word.acquire_user().unwrap();

    let _reg = register(word, format(&name)).unwrap();
    assert_eq!(
        word.snapshot().raw(),
        2,
        "registration must not set bit 31 nor touch the count"
    );

    // A user tracer keeps attaching and detaching while the kernel flips bit 31.
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut rounds = 0u32;
            while !stop.load(Ordering::Relaxed) {
                drop(word.acquire_user().unwrap());
                rounds += 1;
            }
            rounds
        })
    };

    for _ in 0..3 {
        common::set_enabled(tracefs, &name, true);
        common::wait_kernel_bit(word, true);
        let users = word.snapshot().users();
        assert!(
            users == 2 || users == 3,
            "count disturbed: {:?}",
            word.snapshot()
        );
        common::set_enabled(tracefs, &name, false);
        common::wait_kernel_bit(word, false);
    }
    // One more count taken concurrently with an enable: both must survive.
    let taker = std::thread::spawn(move || word.acquire_user().unwrap());
    common::set_enabled(tracefs, &name, true);
    let _third = taker.join().unwrap();
    common::wait_kernel_bit(word, true);

    stop.store(true, Ordering::Relaxed);
    let rounds = churn.join().unwrap();
    assert!(rounds > 0);
    assert_eq!(
        word.snapshot().raw(),
        KERNEL_MASK | 3,
        "exactly bit 31 and a count of 3"
    );

    common::set_enabled(tracefs, &name, false);
    common::wait_kernel_bit(word, false);
    assert_eq!(word.snapshot().raw(), 3);
    assert_eq!(word.snapshot().raw() & !(KERNEL_MASK | USER_MASK), 0);
}

#[test]
fn status_file_reports_ftrace_use() {
    let Some(tracefs) = common::user_events("status") else {
        return;
    };
    let name = common::unique("en_status");
    let word = common::leak_word();
    let _reg = register(word, format(&name)).unwrap();
    let line = common::status_line(tracefs, &name).expect("event listed in user_events_status");
    assert!(!line.contains("Used by"), "{line}");
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    let line = common::status_line(tracefs, &name).unwrap();
    assert!(line.contains("Used by ftrace"), "{line}");
    common::set_enabled(tracefs, &name, false);
    common::wait_kernel_bit(word, false);
}

#[test]
fn unregister_clears_the_bit_and_later_enables_leave_the_word_alone() {
    let Some(tracefs) = common::user_events("unreg") else {
        return;
    };
    let name = common::unique("en_unreg");
    let word = common::leak_word();
    let keeper = common::leak_word(); // keeps the event alive after `reg` goes
    let reg = register(word, format(&name)).unwrap();
    let _keep = register(keeper, format(&name)).unwrap();

    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    drop(reg); // DIAG_IOCSUNREG
    assert_eq!(
        word.snapshot().raw(),
        0,
        "the kernel clears the bit on unregister"
    );

    common::set_enabled(tracefs, &name, false);
    common::wait_kernel_bit(keeper, false);
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(keeper, true); // the enable has been applied...
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(
        word.snapshot().raw(),
        0,
        "...but not to the unregistered word"
    );
    common::set_enabled(tracefs, &name, false);
    common::wait_kernel_bit(keeper, false);
}

#[test]
fn explicit_unregister_reports_success_and_the_word_can_register_again() {
    let Some(tracefs) = common::user_events("unreg2") else {
        return;
    };
    let name = common::unique("en_again");
    let word = common::leak_word();
    let reg = register(word, format(&name)).unwrap();
    assert_eq!(reg.unregister(), Ok(()));
    let _reg = register(word, format(&name)).unwrap();
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(word, true);
    common::set_enabled(tracefs, &name, false);
    common::wait_kernel_bit(word, false);
}

#[test]
fn another_thread_sees_the_bit() {
    // abi_test.c `clones`: a task sharing the address space sees the enable.
    let Some(tracefs) = common::user_events("clones") else {
        return;
    };
    let name = common::unique("en_thread");
    let word = common::leak_word();
    let _reg = register(word, format(&name)).unwrap();
    let watcher = std::thread::spawn(move || common::wait_until(|| word.is_enabled()));
    common::set_enabled(tracefs, &name, true);
    assert!(watcher.join().unwrap(), "the other thread never saw bit 31");
    common::set_enabled(tracefs, &name, false);
    common::wait_kernel_bit(word, false);
}

#[test]
fn registering_an_enabled_event_sets_the_bit_at_once() {
    // The kernel writes the event's current state during the registration itself.
    let Some(tracefs) = common::user_events("current_state") else {
        return;
    };
    let name = common::unique("en_now");
    let first = common::leak_word();
    let _reg = register(first, format(&name)).unwrap();
    common::set_enabled(tracefs, &name, true);
    common::wait_kernel_bit(first, true);

    let second = common::leak_word();
    let _reg2 = register(second, format(&name)).unwrap();
    assert!(
        second.snapshot().kernel_enabled(),
        "not set during registration: {second:?}"
    );

    common::set_enabled(tracefs, &name, false);
    common::wait_kernel_bit(first, false);
    common::wait_kernel_bit(second, false);
}
