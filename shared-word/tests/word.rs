//! Public behaviour of `EnableWord`, with the kernel's part played through the raw address the
//! kernel would be given (an atomic OR/AND there, as its set_bit/clear_bit do).
#![cfg(not(loom))]

use core::sync::atomic::{AtomicU32, Ordering};
use cotrace_word::layout::{KERNEL_MASK, USER_MAX};
use cotrace_word::{EnableWord, UserShare, WordError, WordSnapshot};

/// Plays the kernel: atomic RMW through the registered address.
fn kernel(word: &EnableWord) -> &AtomicU32 {
    // SAFETY: `kernel_address` points at the word's own AtomicU32, which lives as long as `word`;
    // AtomicU32::from_ptr needs a valid, aligned pointer used only atomically, and it is.
    unsafe { AtomicU32::from_ptr(word.kernel_address()) }
}

#[test]
fn new_word_is_disabled() {
    static W: EnableWord = EnableWord::new();
    assert!(!W.is_enabled());
    assert_eq!(W.snapshot(), WordSnapshot::from_raw(0));
}

#[test]
fn kernel_bit_alone_enables_and_is_decoded() {
    let w = EnableWord::new();
    kernel(&w).fetch_or(KERNEL_MASK, Ordering::SeqCst);
    assert!(w.is_enabled());
    let s = w.snapshot();
    assert!(s.kernel_enabled());
    assert_eq!(s.users(), 0);
    kernel(&w).fetch_and(!KERNEL_MASK, Ordering::SeqCst);
    assert!(!w.is_enabled());
}

#[test]
fn user_count_keeps_kernel_bit() {
    let w = EnableWord::new();
    kernel(&w).fetch_or(KERNEL_MASK, Ordering::SeqCst);
    let count = w.acquire_user().unwrap();
    assert_eq!(w.snapshot().raw(), KERNEL_MASK | 1);
    drop(count);
    assert_eq!(w.snapshot().raw(), KERNEL_MASK);
}

#[test]
#[cfg_attr(miri, ignore = "16 million acquires: too slow under Miri")]
fn saturated_count_is_refused_and_word_unchanged() {
    let w = EnableWord::new();
    // Reach the maximum through the public API only.
    let share = UserShare::new(&w);
    for _ in 0..USER_MAX {
        share.acquire().unwrap();
    }
    let before = w.snapshot();
    assert_eq!(before.users(), USER_MAX);
    assert!(!before.kernel_enabled());
    assert_eq!(w.acquire_user().err(), Some(WordError::UserCountSaturated));
    assert_eq!(share.acquire(), Err(WordError::UserCountSaturated));
    assert_eq!(share.held(), USER_MAX);
    assert_eq!(
        w.snapshot(),
        before,
        "a refused acquire must not touch the word"
    );
}

#[test]
fn release_of_an_empty_share_is_refused_and_word_unchanged() {
    let w = EnableWord::new();
    kernel(&w).fetch_or(KERNEL_MASK, Ordering::SeqCst);
    let share = UserShare::new(&w);
    assert_eq!(share.release(), Err(WordError::NotHeld));
    assert_eq!(w.snapshot().raw(), KERNEL_MASK);
}

/// Issue 9: an in-process tracer's release took away LTTng's count (the word read 0 while a
/// session was attached). Before the fix, `word.release_user()` by a tracer that had acquired
/// nothing returned `Ok(0)`.
#[test]
fn outsider_release_cannot_take_another_tracers_count() {
    let w = EnableWord::new();
    let lttng = UserShare::new(&w);
    let in_process = UserShare::new(&w);
    lttng.acquire().unwrap(); // a session attached
    assert_eq!(in_process.release(), Err(WordError::NotHeld));
    assert_eq!(in_process.release_all(), 0);
    assert_eq!(w.snapshot().users(), 1, "LTTng's count was taken");
    assert!(w.is_enabled());
    // A guard releases its own count only, however often others release.
    let guard = w.acquire_user().unwrap();
    assert_eq!(in_process.release(), Err(WordError::NotHeld));
    drop(guard);
    assert_eq!(w.snapshot().users(), 1);
    assert_eq!(lttng.release(), Ok(0));
    assert_eq!(lttng.release(), Err(WordError::NotHeld));
    assert_eq!(w.snapshot().raw(), 0);
}

/// Issue 9: the fork reset in the child wiped every tracer's count. Before the fix,
/// `reset_users_after_fork` left 0 where the in-process tracer still held 1.
#[test]
fn fork_reset_releases_only_that_tracers_share() {
    let w = EnableWord::new();
    kernel(&w).fetch_or(KERNEL_MASK | (1 << 30), Ordering::SeqCst);
    let lttng = UserShare::new(&w);
    lttng.acquire().unwrap();
    lttng.acquire().unwrap();
    let in_process = w.acquire_user().unwrap();
    assert_eq!(lttng.release_all(), 2);
    assert_eq!(lttng.held(), 0);
    assert_eq!(w.snapshot().raw(), KERNEL_MASK | (1 << 30) | 1);
    drop(in_process);
    assert_eq!(w.snapshot().raw(), KERNEL_MASK | (1 << 30));
}

#[test]
fn dropping_a_share_gives_back_what_it_holds() {
    let w = EnableWord::new();
    let other = w.acquire_user().unwrap();
    {
        let share = UserShare::new(&w);
        share.acquire().unwrap();
        share.acquire().unwrap();
        assert_eq!(w.snapshot().users(), 3);
    }
    assert_eq!(w.snapshot().users(), 1);
    drop(other);
    assert_eq!(w.snapshot().raw(), 0);
}

#[test]
fn reserved_bits_are_never_written() {
    let w = EnableWord::new();
    kernel(&w).fetch_or(0x7f00_0000, Ordering::SeqCst);
    drop(w.acquire_user().unwrap());
    let share = UserShare::new(&w);
    share.acquire().unwrap();
    share.release().unwrap();
    share.acquire().unwrap();
    share.release_all();
    assert_eq!(w.snapshot().raw(), 0x7f00_0000);
    assert_eq!(w.snapshot().reserved(), 0x7f);
}

#[test]
fn errors_display() {
    assert!(
        WordError::UserCountSaturated
            .to_string()
            .contains("maximum")
    );
    assert!(WordError::NotHeld.to_string().contains("does not hold"));
    assert_eq!(
        WordSnapshot::from_raw(0x8000_0001).to_string(),
        "kernel on, 1 user tracer"
    );
}

#[test]
fn threads_acquire_release_with_kernel_flipping() {
    static W: EnableWord = EnableWord::new();
    const ROUNDS: u32 = if cfg!(miri) { 100 } else { 10_000 };
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let share = UserShare::new(&W);
                for i in 0..ROUNDS {
                    drop(W.acquire_user().unwrap());
                    share.acquire().unwrap();
                    if i % 3 == 0 {
                        share.release_all();
                    }
                }
                assert!(W.snapshot().users() >= share.held());
            });
        }
        s.spawn(|| {
            for i in 0..ROUNDS {
                if i % 2 == 0 {
                    kernel(&W).fetch_or(KERNEL_MASK, Ordering::SeqCst);
                } else {
                    kernel(&W).fetch_and(!KERNEL_MASK, Ordering::SeqCst);
                }
            }
        });
    });
    // The kernel thread ends on a clear (ROUNDS - 1 is odd); every acquire was released.
    assert_eq!(W.snapshot().raw(), 0);
}
