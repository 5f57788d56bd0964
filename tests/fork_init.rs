//! A `fork` while another thread is inside `cotrace::init()` (loading liblttng-ust can take
//! LTTng's 3 s registration timeout): a fork while liblttng-ust loads waits for the load (see
//! `cotrace_ust::fork`), and the child's `init()`, `status()` and defining an event at run time
//! return instead of waiting for ever for a thread that does not exist in the child (the
//! registry's lock may be held by the parent's initializing thread at the fork).

#[path = "../ust-side/tests/common/mod.rs"]
mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{fake_sessiond, fork_n, isolated_within, load_in_background};

cotrace::provider! {
    /// Events of this test.
    pub mod fork_init_test {
        /// One.
        fn ping(n: u32);
    }
}

/// In the child: `init()`, `status()` and defining an event return; then `exit`, which runs
/// the exit handlers and liblttng-ust's destructors.
fn child() -> i32 {
    std::process::exit(child_checks())
}

fn child_checks() -> i32 {
    let status = cotrace::init();
    let again = cotrace::status();
    if status.to_string().is_empty() || again.to_string().is_empty() {
        return 4;
    }
    let defined = cotrace::dynamic::EventBuilder::new("fork_init_child", "defined")
        .field("n", cotrace::FieldKind::U32)
        .register();
    match defined {
        Ok(event) if cotrace::events().any(|e| core::ptr::eq(e, event)) => 0,
        _ => 5,
    }
}

#[test]
fn fork_during_init_child_init_returns() {
    isolated_within(
        "fork_during_init_child_init_returns",
        Duration::from_secs(60),
        || {
            fake_sessiond("rootforkinit");
            let (initializer, done) = load_in_background(cotrace::init);
            let mut during = 0;
            while !done.load(Ordering::SeqCst) {
                fork_n(1, || {}, || {}, child);
                during += 1;
            }
            let status = initializer.join().unwrap();
            println!("{during} forks during init(); parent: {status}");
            assert!(during >= 1, "no fork during init()");
        },
    );
}
