//! loom model: one thread plays the kernel (atomic OR, then AND, of bit 31) while two threads
//! each acquire and release a user reference; every interleaving must end with the word exactly
//! as the kernel left it, count zero, and no intermediate state may show a carry or a lost bit.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p cotrace-word --test loom --release`.
#![cfg(loom)]

use cotrace_word::EnableWord;
use cotrace_word::layout::{KERNEL_MASK, USER_MASK};
use loom::sync::Arc;
use loom::thread;

#[test]
fn kernel_and_two_users_never_lose_a_bit() {
    loom::model(|| {
        let word = Arc::new(EnableWord::new());
        let users: Vec<_> = (0..2)
            .map(|_| {
                let w = Arc::clone(&word);
                thread::spawn(move || {
                    let n = w.acquire_user().unwrap();
                    assert!((1..=2).contains(&n));
                    // While we hold a reference the count is visible, whatever the kernel does.
                    assert!(w.snapshot().users() >= 1);
                    assert!(w.is_enabled());
                    w.release_user().unwrap();
                })
            })
            .collect();
        let k = Arc::clone(&word);
        let kernel = thread::spawn(move || {
            k.emulate_kernel_set();
            assert!(k.snapshot().kernel_enabled(), "bit 31 lost right after set");
            k.emulate_kernel_clear();
        });
        for t in users {
            t.join().unwrap();
        }
        kernel.join().unwrap();
        let end = word.snapshot().raw();
        assert_eq!(end & USER_MASK, 0, "user count not back to zero: {end:#x}");
        assert_eq!(
            end & KERNEL_MASK,
            0,
            "kernel bit wrong at the end: {end:#x}"
        );
        assert_eq!(end, 0);
    });
}

#[test]
fn kernel_set_survives_concurrent_users() {
    loom::model(|| {
        let word = Arc::new(EnableWord::new());
        let w1 = Arc::clone(&word);
        let w2 = Arc::clone(&word);
        let a = thread::spawn(move || {
            w1.acquire_user().unwrap();
            w1.release_user().unwrap();
        });
        let b = thread::spawn(move || {
            w2.acquire_user().unwrap();
            w2.release_user().unwrap();
        });
        word.emulate_kernel_set();
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(
            word.snapshot().raw(),
            KERNEL_MASK,
            "the kernel's bit was overwritten"
        );
    });
}
