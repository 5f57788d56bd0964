//! loom models: one thread plays the kernel (atomic OR, then AND, of bit 31) while user tracers
//! acquire and release their own counts (guards and shares); every interleaving must end with
//! the word exactly as the kernel left it and each owner's count given back, no intermediate
//! state may show a carry or a lost bit, and no owner may release another's count.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p cotrace-word --test loom --release`.
#![cfg(loom)]

use cotrace_word::layout::{KERNEL_MASK, USER_MASK};
use cotrace_word::{EnableWord, UserShare, WordError};
use loom::sync::Arc;
use loom::thread;

#[test]
fn kernel_and_two_users_never_lose_a_bit() {
    loom::model(|| {
        let word: &'static EnableWord = Box::leak(Box::new(EnableWord::new()));
        let users: Vec<_> = (0..2)
            .map(|_| {
                thread::spawn(move || {
                    let guard = word.acquire_user().unwrap();
                    // While we hold a count it is visible, whatever the kernel does.
                    assert!((1..=2).contains(&word.snapshot().users()));
                    assert!(word.is_enabled());
                    drop(guard);
                })
            })
            .collect();
        let kernel = thread::spawn(move || {
            word.emulate_kernel_set();
            assert!(
                word.snapshot().kernel_enabled(),
                "bit 31 lost right after set"
            );
            word.emulate_kernel_clear();
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
        let word: &'static EnableWord = Box::leak(Box::new(EnableWord::new()));
        let a = thread::spawn(move || {
            let share = UserShare::new(word);
            share.acquire().unwrap();
            share.release().unwrap();
        });
        let b = thread::spawn(move || drop(word.acquire_user().unwrap()));
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

/// LTTng's share (two sessions attach, one detaches, then the fork-style `release_all`) races
/// an in-process tracer's guard and an outsider share that tries to release what it does not
/// hold: the outsider is always refused, the guard's count is never taken while it lives, and
/// everything ends at zero.
#[test]
fn owners_release_only_their_own_counts() {
    loom::model(|| {
        let word: &'static EnableWord = Box::leak(Box::new(EnableWord::new()));
        let lttng = Arc::new(UserShare::new(word));
        let l = Arc::clone(&lttng);
        let sessions = thread::spawn(move || {
            l.acquire().unwrap();
            l.acquire().unwrap();
            assert_eq!(l.release(), Ok(1));
            assert_eq!(l.release_all(), 1);
        });
        let in_process = thread::spawn(move || {
            let guard = word.acquire_user().unwrap();
            let outsider = UserShare::new(word);
            assert_eq!(outsider.release(), Err(WordError::NotHeld));
            assert_eq!(outsider.release_all(), 0);
            assert!(word.snapshot().users() >= 1, "the guard's count was taken");
            drop(guard);
        });
        sessions.join().unwrap();
        in_process.join().unwrap();
        assert_eq!(lttng.held(), 0);
        assert_eq!(word.snapshot().raw(), 0);
    });
}
