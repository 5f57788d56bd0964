//! Public behaviour of `EnableWord`, with the kernel's part played through the raw address the
//! kernel would be given (an atomic OR/AND there, as its set_bit/clear_bit do).
#![cfg(not(loom))]

use core::sync::atomic::{AtomicU32, Ordering};
use cotrace_word::layout::{KERNEL_MASK, USER_MAX};
use cotrace_word::{EnableWord, WordError, WordSnapshot};

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
    assert_eq!(w.acquire_user(), Ok(1));
    assert_eq!(w.snapshot().raw(), KERNEL_MASK | 1);
    assert_eq!(w.release_user(), Ok(0));
    assert_eq!(w.snapshot().raw(), KERNEL_MASK);
}

#[test]
fn saturated_count_is_refused_and_word_unchanged() {
    let w = EnableWord::new();
    // Reach the maximum through the public API only.
    for _ in 0..USER_MAX {
        w.acquire_user().unwrap();
    }
    let before = w.snapshot();
    assert_eq!(before.users(), USER_MAX);
    assert!(!before.kernel_enabled());
    assert_eq!(w.acquire_user(), Err(WordError::UserCountSaturated));
    assert_eq!(
        w.snapshot(),
        before,
        "a refused acquire must not touch the word"
    );
}

#[test]
fn release_at_zero_is_refused_and_word_unchanged() {
    let w = EnableWord::new();
    kernel(&w).fetch_or(KERNEL_MASK, Ordering::SeqCst);
    assert_eq!(w.release_user(), Err(WordError::UserCountZero));
    assert_eq!(w.snapshot().raw(), KERNEL_MASK);
}

#[test]
fn reset_after_fork_clears_count_keeps_shared_bits() {
    let w = EnableWord::new();
    kernel(&w).fetch_or(KERNEL_MASK | (1 << 30), Ordering::SeqCst);
    w.acquire_user().unwrap();
    w.acquire_user().unwrap();
    let before = w.reset_users_after_fork();
    assert_eq!(before.users(), 2);
    assert_eq!(w.snapshot().raw(), KERNEL_MASK | (1 << 30));
}

#[test]
fn reserved_bits_are_never_written() {
    let w = EnableWord::new();
    kernel(&w).fetch_or(0x7f00_0000, Ordering::SeqCst);
    w.acquire_user().unwrap();
    w.release_user().unwrap();
    w.reset_users_after_fork();
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
    assert!(WordError::UserCountZero.to_string().contains("zero"));
    assert_eq!(
        WordSnapshot::from_raw(0x8000_0001).to_string(),
        "kernel on, 1 user tracer"
    );
}

#[test]
fn threads_acquire_release_with_kernel_flipping() {
    static W: EnableWord = EnableWord::new();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    W.acquire_user().unwrap();
                    W.release_user().unwrap();
                }
            });
        }
        s.spawn(|| {
            for i in 0..10_000 {
                if i % 2 == 0 {
                    kernel(&W).fetch_or(KERNEL_MASK, Ordering::SeqCst);
                } else {
                    kernel(&W).fetch_and(!KERNEL_MASK, Ordering::SeqCst);
                }
            }
        });
    });
    // The kernel thread ends on a clear (i = 9_999 is odd); every acquire was released.
    assert_eq!(W.snapshot().raw(), 0);
}
