//! Refused run-time definitions cost no memory, however many threads define at once: the
//! names are interned under the registry's lock, never leaked beside the table because another
//! thread holds it. (A host test: nothing is registered with a tracer before `init`.)

use cotrace::FieldKind;
use cotrace::dynamic::{DynamicError, EventBuilder};

/// The resident set size, in bytes (`/proc/self/statm`'s second field, in pages).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

fn define() -> Result<&'static cotrace::Event, DynamicError> {
    EventBuilder::new(
        "dynmem_provider_with_a_longish_name",
        "an_event_with_a_longish_name",
    )
    .field("first_field_with_a_long_name", FieldKind::U64)
    .field("second_field_with_a_long_name", FieldKind::Str)
    .origin("tests/dynamic_memory.rs: a long origin string, interned too")
    .register()
}

#[test]
fn refused_redefinitions_from_many_threads_keep_memory_bounded() {
    const THREADS: usize = 4;
    const EACH: usize = 60_000;
    define().expect("the first definition");
    // Warm up the allocator's per-thread arenas, then measure.
    let run = |n: usize| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                std::thread::spawn(move || {
                    for _ in 0..n {
                        match define() {
                            Err(DynamicError::AlreadyDefined { .. }) => {}
                            other => panic!("expected AlreadyDefined, got {other:?}"),
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    };
    run(1_000);
    let before = rss();
    run(EACH);
    let grown = rss().saturating_sub(before);
    println!(
        "{} refused re-definitions from {THREADS} threads: RSS grew by {grown} bytes",
        THREADS * EACH
    );
    assert!(
        grown < 2 << 20,
        "RSS grew by {grown} bytes over {} refused re-definitions",
        THREADS * EACH
    );
}
